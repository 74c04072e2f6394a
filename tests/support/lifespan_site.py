"""A site whose tracker's outbox path comes from ``ATTRIBUTION_TEST_OUTBOX``, served by uvicorn in
``tests/processes/test_lifespan.py``: ``uvicorn tests.support.lifespan_site:app``."""

from __future__ import annotations

import os

from attribution.checkout.tracker import Tracker
from tests.support.delivery_fakes import FakeVendor
from tests.support.helpers import make_app

tracker = Tracker(vendors=[FakeVendor("http://127.0.0.1:9")], outbox=os.environ["ATTRIBUTION_TEST_OUTBOX"])
app = make_app(tracker=tracker)
