"""Every adapter reads the customer only through the forms it declares, so an order record that keeps just those
forms gives the worker the very request checkout would have built; and hash-only vendors keep nothing in clear."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from attribution import VENDORS
from attribution.capture.models import Channel
from attribution.delivery.outbox.base import StoredOrder
from attribution.errors import ConfigurationError
from attribution.orders.conversion import Conversion, Customer, EventName
from attribution.orders.identifiers import Identifier, derive_all, revealing, union
from attribution.orders.record import conversion_of, record_of
from attribution.vendors import (
    Connectly,
    ConvertLoop,
    LinkedIn,
    MetaConversions,
    MicrosoftAds,
    OpenAIAds,
    PinterestConversions,
    RDStation,
    Reddit,
    SnapchatConversions,
    TikTok,
    Vendor,
    Whop,
    XAds,
)

from .google_fakes import data_manager
from .samples import CTWA, NOW, attribution, order, purchase, touch

X_KEYS = {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "at", "access_token_secret": "ats"}


def openai_ads() -> OpenAIAds:
    vendor = OpenAIAds(api_key="oa-key", pixel_id="px_1")
    vendor.clock = NOW.timestamp  # the sample purchase happened at NOW: within OpenAI's 7 days
    return vendor


def snapchat() -> SnapchatConversions:
    vendor = SnapchatConversions(access_token="snap-token", pixel_id="7b4f6d1e-snap-pixel")
    vendor.clock = NOW.timestamp  # within Snap's 37 days
    return vendor


#: One configured instance of each vendor, as a site would set it up (the fullest set of fields switched on).
SAMPLES: dict[str, Callable[[], Vendor]] = {
    "whop": lambda: Whop(api_key="whop-key", company_id="biz_xxxxxxxxxxxxxx"),
    "rdstation": lambda: RDStation(api_key="rd-key"),
    "connectly": lambda: Connectly(api_key="cn-key", business_id="biz-3141"),
    "convertloop": lambda: ConvertLoop(api_key="cl-key", app_id="app-1"),
    "xads": lambda: XAds(**X_KEYS, pixel_id="oka17", events={"purchase": "ol288"}),
    "google_ads": lambda: data_manager(enhanced_conversions=True),
    "tiktok": lambda: TikTok(access_token="tt-token", pixel_code="C4PIXEL"),
    "meta": lambda: MetaConversions(access_token="meta-token", pixel_id="1234567890", clock=NOW.timestamp),
    "linkedin": lambda: LinkedIn(access_token="li-token", events={"purchase": "12345"}, clock=NOW.timestamp),
    "reddit": lambda: Reddit(access_token="rdt-token", pixel_id="a2_pixel", clock=NOW.timestamp),
    "microsoft_ads": lambda: MicrosoftAds(api_token="uet-token", tag_id="343123456", clock=NOW.timestamp),
    "pinterest": lambda: PinterestConversions(access_token="pin-token", ad_account_id="549755885175"),
    "snapchat": snapchat,
    "openai_ads": openai_ads,
}

FULL_CUSTOMER = Customer(
    email="Maria.Silva+shop@Gmail.com",
    phone="+55 11 91234-5678",
    first_name="Maria",
    last_name="Silva",
    city="São Paulo",
    state="SP",
    postal_code="01310-100",
    country="BR",
    external_id="cust-42",
    user_id="user-7",
    birthdate=date(1990, 4, 1),
    gender="f",
)


def everything() -> Conversion:
    """A purchase from a visitor who brought every click id and browser id a vendor reads."""
    clicks = {"gclid": "Cj0KCQ-g", "twclid": "23opevjt88", "ttclid": "E.C.P.tt", "fbclid": "IwAR-fb", **CTWA}
    clicks |= {"li_fat_id": "li-fat-1", "rdt_cid": "t2_rdt", "msclkid": "0f7e5c3a9b2d4e6f8a1b2c3d4e5f6a7b"}
    clicks |= {"sccid": "snap-click-1", "epik": "dj0yJnU9pin", "oppref": "gAAAAB-oppref=="}
    browser = {"fbp": "fb.1.1.2", "ttp": "ttp-1", "dp_pid": "pid-1", "rdtrk": "rdtrk-1", "wuid": "wuid-1"}
    browser |= {"scid": "scid-1", "epik": "epik-cookie", "oppref": "gAAAAB-cookie==", "obref": "obref-1"}
    attr = attribution(
        touch(timedelta(hours=2), Channel.PAID_SOCIAL, referrer="l.wl.co", utm_source="meta", **clicks),
        identifiers=browser,
    )
    return purchase(attr, FULL_CUSTOMER, order=order(id="ORD-1"))


def test_every_registered_vendor_has_a_sample() -> None:
    assert set(SAMPLES) == set(VENDORS)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_request_from_the_stored_forms_is_the_request_from_the_customer(name: str) -> None:
    vendor, conversion = SAMPLES[name](), everything()
    assert vendor.check(conversion) is None
    stored = derive_all(vendor.identifiers, conversion.customer)
    assert bool(stored) == bool(vendor.identifiers), "the sample customer fills every form a vendor declares"
    assert vendor.payload(conversion.with_identifiers(stored)) == vendor.payload(conversion)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_an_undeclared_form_is_never_read(name: str) -> None:
    """With one declared form left out of the record, the request changes: each declared form is really used,
    and (by the test above) nothing outside them is."""
    vendor, conversion = SAMPLES[name](), everything()
    full = derive_all(vendor.identifiers, conversion.customer)
    for form in vendor.identifiers:
        if form.name in full:
            partial = {k: v for k, v in full.items() if k != form.name}
            assert vendor.payload(conversion.with_identifiers(partial)) != vendor.payload(conversion), form.name


def test_vendors_that_take_only_digests_keep_nothing_in_clear() -> None:
    names = ("xads", "google_ads", "tiktok", "meta", "reddit", "microsoft_ads", "pinterest", "snapchat")
    hashed_only = [SAMPLES[name]() for name in names]
    forms = union(vendor.identifiers for vendor in hashed_only)
    stored = derive_all(forms, FULL_CUSTOMER)
    assert stored
    assert revealing(stored, forms) == []
    text = " ".join(stored.values()).lower()
    for clear in ("maria", "silva", "5511912345678", "cust-42", "1990"):
        assert clear not in text


def test_vendors_that_need_the_email_in_clear_declare_it() -> None:
    forms = union(SAMPLES[name]().identifiers for name in ("rdstation", "whop"))
    stored = derive_all(forms, FULL_CUSTOMER)
    assert stored["email"] == "maria.silva+shop@gmail.com"
    assert "email" in revealing(stored, forms)


def test_a_digest_given_by_the_site_passes_through_hashed_forms_and_fills_no_plain_one() -> None:
    digest = "a" * 64
    customer = Customer(email=digest)
    forms = union(SAMPLES[name]().identifiers for name in SAMPLES)
    stored = derive_all(forms, customer)
    assert "email" not in stored
    assert {stored[name] for name in ("email_sha256", "google.email_sha256")} == {digest}


def test_two_forms_under_one_name_are_refused() -> None:
    twin = Identifier("email_sha256", lambda c: None, hashed=True)
    with pytest.raises(ConfigurationError, match="email_sha256"):
        union([SAMPLES["tiktok"]().identifiers, (twin,)])


def test_a_stored_conversion_has_no_customer_left() -> None:
    conversion = everything()
    stored = conversion.with_identifiers({"email_sha256": "b" * 64})
    assert stored.customer == Customer()
    assert stored.event is EventName.PURCHASE
    assert stored.order == conversion.order


def stored(conversion: Conversion, vendor: Vendor) -> Conversion:
    """The conversion as the worker rebuilds it from the order record, after a trip through JSON text."""
    record = record_of(conversion, vendor.identifiers)
    data, identifiers = json.loads(json.dumps(record.data)), json.loads(json.dumps(record.identifiers))
    return conversion_of(record.order_id, record.event, record.value, record.currency, data, identifiers)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_request_from_the_order_record_is_the_request_at_checkout(name: str) -> None:
    vendor, conversion = SAMPLES[name](), everything()
    assert vendor.payload(stored(conversion, vendor)) == vendor.payload(conversion)
    assert vendor.batch_key(stored(conversion, vendor)) == vendor.batch_key(conversion)


def test_a_click_id_inside_its_window_at_checkout_is_still_sent_days_later() -> None:
    """The record keeps the moment checkout read the attribution: the worker sends what checkout saw."""
    gclid_at = NOW - timedelta(days=89, hours=23)  # a 90-day window: one hour left at checkout
    conversion = purchase(attribution(touch(NOW - gclid_at, Channel.PAID_SEARCH, gclid="Cj0-late")), FULL_CUSTOMER)
    vendor = SAMPLES["google_ads"]()
    rebuilt = stored(conversion, vendor)
    assert rebuilt.attribution.click_ids == {"gclid": "Cj0-late"}
    assert vendor.payload(rebuilt)["adIdentifiers"]["gclid"] == "Cj0-late"


def test_a_custom_event_and_a_lead_without_order_come_back_whole() -> None:
    lead = Conversion(
        event="custom",
        custom_name="trial_started",
        event_id="T-9",
        value=Decimal("0"),
        currency="brl",
        customer=FULL_CUSTOMER,
        attribution=attribution(touch(timedelta(hours=1), utm_source="news")),
    )
    rebuilt = stored(lead, SAMPLES["tiktok"]())
    assert (rebuilt.event, rebuilt.custom_name, rebuilt.event_id, rebuilt.order) == (
        lead.event,
        "trial_started",
        "T-9",
        None,
    )
    assert (rebuilt.value, rebuilt.currency, rebuilt.event_time) == (Decimal("0"), "BRL", lead.event_time)
    assert rebuilt.attribution.utm == {"utm_source": "news"}
    assert rebuilt.customer == Customer()


def layout_1() -> StoredOrder:
    """``everything()`` as the release before layout 2 recorded it for every vendor (the JSON texts it wrote)."""
    saved = json.loads((Path(__file__).parent.parent / "data" / "records" / "layout_1.json").read_text())
    return StoredOrder(
        1, saved["order_id"], saved["event"], Decimal(saved["value"]), saved["currency"], "active",
        saved["data"], saved["identifiers"],
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_record_of_layout_1_written_before_builds_the_same_request(name: str) -> None:
    """Layout 1 kept the attribution in the cookie's compact form, its click ids left for the touches to say."""
    vendor, conversion = SAMPLES[name](), everything()
    assert '"c":{}' in (layout_1().data or ""), "the saved record leaves its click ids to the touches"
    assert vendor.payload(layout_1().conversion()) == vendor.payload(conversion)


def test_a_record_keeps_its_click_ids_written_out() -> None:
    """Layout 2 decodes without deriving click ids from the touches: each one is in the record."""
    conversion = everything()
    record = record_of(conversion, ())
    assert record.data["v"] == 2
    assert set(record.data["attribution"]["c"]) == set(conversion.attribution.clicks)
    assert "gclid" in record.data["attribution"]["c"]


def test_a_record_of_a_newer_layout_is_refused() -> None:
    record = record_of(everything(), ())
    with pytest.raises(ValueError, match="upgrade"):
        conversion_of(record.order_id, record.event, record.value, record.currency, {**record.data, "v": 99}, {})
