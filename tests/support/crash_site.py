"""A site configuration for the worker-process tests: ``--config tests.support.crash_site:tracker``.

Settings come from the environment so each test points it at its own outbox and fake vendor.
"""

from __future__ import annotations

import os

from attribution.checkout.tracker import Tracker
from attribution.delivery.policy import RetryPolicy
from tests.support.delivery_fakes import FakeVendor


def tracker() -> Tracker:
    return Tracker(
        vendors=[FakeVendor(os.environ["FAKE_VENDOR_URL"])],
        outbox=os.environ["ATTRIBUTION_TEST_OUTBOX"],
        concurrency=int(os.environ.get("FAKE_CONCURRENCY", "8")),
        poll_interval=0.02,
        timeout=0.5,
        lease=float(os.environ.get("FAKE_LEASE", "2.0")),
        policy=RetryPolicy(base_delay=0.05, max_delay=0.2),
        shutdown_grace=5.0,
    )
