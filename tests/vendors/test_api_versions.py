"""Each adapter's default API version, pinned: moving to a platform's next version is a deliberate change of this
test, of the adapter and of the table in docs/vendors.md, which must say the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from attribution import VENDORS
from attribution.vendors import Vendor

from .google_fakes import google_ads
from .test_contract import SAMPLES, everything

DOCS = Path(__file__).resolve().parents[2] / "docs" / "vendors.md"

#: Per vendor: the versions the docs' table names, and the URL its default instance posts to.
PINNED: dict[str, tuple[tuple[str, ...], str]] = {
    "whop": (("v1",), "https://api.whop.com/api/v1/conversions"),
    "rdstation": (("platform",), "https://api.rd.services/platform/conversions?api_key=rd-key"),
    "connectly": (("v1",), "https://api.connectly.ai/external/v1/businesses/biz-3141/conversion_events"),
    "convertloop": (("v1",), "https://api.convertloop.co/v1/event_logs"),
    "meta": (("v27.0",), "https://graph.facebook.com/v27.0/1234567890/events?access_token=meta-token"),
    "xads": (("12",), "https://ads-api.x.com/12/measurement/conversions/oka17"),
    "google_ads": (("v1", "v26"), "https://datamanager.googleapis.com/v1/events:ingest"),
    "tiktok": (("v1.3",), "https://business-api.tiktok.com/open_api/v1.3/event/track/"),
}


def default_url(vendor: Vendor) -> str:
    conversion = everything()
    return str(vendor.build_request([vendor.payload(conversion)]).url)


def test_every_vendor_is_pinned() -> None:
    assert set(PINNED) == set(VENDORS)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_default_version_is_the_one_checked(name: str) -> None:
    assert default_url(SAMPLES[name]()) == PINNED[name][1]


def test_the_google_ads_api_default_is_v26() -> None:
    vendor = google_ads(base_url=None)
    assert default_url(vendor) == "https://googleads.googleapis.com/v26/customers/1234567890:uploadClickConversions"


@pytest.mark.parametrize("name", sorted(PINNED))
def test_the_docs_table_names_each_version_and_the_date_it_was_checked(name: str) -> None:
    table = DOCS.read_text().split("## API versions", 1)[1].split("\n## ", 1)[0]
    (row,) = [line for line in table.splitlines() if line.startswith("| `") and f"(`{name}`)" in line]
    for version in PINNED[name][0]:
        assert f"`{version}`" in row or f"/{version}/" in row, (name, version, row)
    assert "| 2026-12-07 |" in row
