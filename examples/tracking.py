"""A site's tracking setup in one importable module, shared by the web app and ``attribution --config``.

The web processes import ``tracker`` and give it to the middleware; the worker and the operator's commands
name it on the command line, so both sides always agree on the vendors and the outbox::

    # the web app (many processes: the worker runs apart, so run_worker=False)
    from examples.tracking import tracker
    app.add_middleware(AttributionMiddleware, secret_key=COOKIE_KEY, tracker=tracker)

    # the worker, and the operator
    attribution --config examples.tracking:tracker worker
    attribution --config examples.tracking:tracker status

Credentials come from the environment. Until both vendors have theirs, the tracker runs dry: every request is
built and recorded in the outbox, nothing is sent. Checkout tokens (``export_token`` / ``checkout_token``) are
signed with ``TRACKING_TOKEN_KEY``, the same in every process of the site; without it the tracker signs and
accepts none (``ConfigurationError``), rather than a key anyone could read here.
"""

from __future__ import annotations

import os

from attribution import RDStation, Tracker, Whop

WHOP_API_KEY = os.environ.get("WHOP_API_KEY", "")
RDSTATION_API_KEY = os.environ.get("RDSTATION_API_KEY", "")

tracker = Tracker(
    vendors=[
        Whop(api_key=WHOP_API_KEY or "whop-placeholder", company_id=os.environ.get("WHOP_COMPANY_ID", "biz_example")),
        RDStation(api_key=RDSTATION_API_KEY or "rd-placeholder"),
    ],
    # The CLI reads ATTRIBUTION_OUTBOX too: one variable, so the commands and the tracker name one file.
    outbox=os.environ.get("ATTRIBUTION_OUTBOX", "attribution-outbox.sqlite3"),
    secret_key=os.environ.get("TRACKING_TOKEN_KEY") or None,
    dry_run=not (WHOP_API_KEY and RDSTATION_API_KEY),
    run_worker=False,
)
