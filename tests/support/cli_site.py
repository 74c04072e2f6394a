"""A site configured with all five real adapters, for ``attribution --config tests.support.cli_site:tracker``.

Credentials are made up; base URLs point at ``ATTRIBUTION_TEST_VENDOR_URL`` (loopback in tests) so nothing
can reach a real vendor.
"""

from __future__ import annotations

import os

from attribution.checkout.tracker import Tracker
from attribution.vendors import Connectly, ConvertLoop, RDStation, Whop, XAds

SECRETS = ("whop-key-SECRET", "rd-key-SECRET", "cnct-key-SECRET", "cl-key-SECRET", "x-consumer-SECRET")


def tracker() -> Tracker:
    base = os.environ.get("ATTRIBUTION_TEST_VENDOR_URL", "http://127.0.0.1:9")
    return Tracker(
        vendors=[
            Whop(api_key=SECRETS[0], company_id="biz_test", base_url=f"{base}/whop"),
            RDStation(api_key=SECRETS[1], base_url=f"{base}/rd"),
            Connectly(api_key=SECRETS[2], business_id="b-1", base_url=f"{base}/connectly"),
            ConvertLoop(app_id="app-1", api_key=SECRETS[3], base_url=f"{base}/convertloop"),
            XAds(
                consumer_key="ck",
                consumer_secret=SECRETS[4],
                access_token="at",
                access_token_secret="at-SECRET",
                pixel_id="o8z6j",
                events={"purchase": "o87ne"},
                base_url=f"{base}/x",
            ),
        ],
        outbox=os.environ.get("ATTRIBUTION_TEST_OUTBOX", "attribution-outbox.sqlite3"),
        secret_key="cli-site-token-secret-0123456789",
    )
