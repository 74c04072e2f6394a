"""A site whose vendors differ in what they can be told after delivery, for ``attribution --config
tests.cli_corrections_site:tracker``: Google Ads on the Google Ads API (restatements and retractions) and a plain
vendor (none). Its outbox is ``ATTRIBUTION_TEST_OUTBOX``; its vendors' URLs are loopback fakes' names."""

from __future__ import annotations

import os
from datetime import timedelta

from attribution.checkout.tracker import Tracker
from tests.delivery_fakes import FakeVendor
from tests.vendors.google_fakes import google_ads


def tracker() -> Tracker:
    return Tracker(
        vendors=[google_ads(base_url="http://googleads.test", token_url="http://googleads.test/token"), FakeVendor()],
        outbox=os.environ["ATTRIBUTION_TEST_OUTBOX"],
        run_worker=False,
        order_retention=timedelta(days=90),
    )
