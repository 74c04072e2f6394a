"""The visitor's consent in the payloads of the vendors that have a field for it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from attribution.capture.consent import Consent
from attribution.orders.conversion import Customer
from attribution.vendors.meta import MetaConversions

from .google_fakes import google_ads
from .samples import NOW, attribution, purchase, queued, touch
from .test_tiktok import tiktok, tiktok_visitor

REFUSED_PERSONALISATION = Consent.of({"ad_personalization": "denied"})
CUSTOMER = Customer(email="jane@example.com")


def one(vendor: Any, consent: Consent | None = None) -> dict[str, Any]:
    visitor = attribution(touch(timedelta(days=1), gclid="Cj0KCQ-g", fbclid="IwAR-f"), identifiers={"ttp": "abc"})
    conversion = purchase(visitor, CUSTOMER, **({"consent": consent} if consent is not None else {}))
    prepared = queued(vendor, conversion)
    return prepared.payload


def test_google_ads_fills_ad_user_data_only_when_the_site_asked_and_fixed_nothing() -> None:
    assert "consent" not in one(google_ads())  # no consent hook: nothing claimed
    assert one(google_ads(), Consent.of(True))["consent"] == {"adUserData": "GRANTED"}
    assert one(google_ads(), REFUSED_PERSONALISATION)["consent"] == {"adUserData": "GRANTED"}
    assert one(google_ads(ad_user_data="DENIED"), Consent.of(True))["consent"] == {"adUserData": "DENIED"}


def test_tiktok_limits_data_use_when_personalisation_is_refused_for_it() -> None:
    def event(consent: Consent | None = None, **options: Any) -> Any:
        prepared = queued(tiktok(**options), purchase(tiktok_visitor(), CUSTOMER, consent=consent or Consent()))
        return prepared.payload.get("limited_data_use")

    assert event() is None  # no consent hook: nothing claimed
    assert event(Consent.of(True)) is False
    assert event(REFUSED_PERSONALISATION) is True
    assert event(Consent.of({"vendors": {"tiktok": {"ad_personalization": False}}})) is True
    assert event(Consent.of({"vendors": {"meta": {"ad_personalization": False}}})) is False
    assert event(limited_data_use=True) is True


def test_meta_sends_limited_data_use_when_personalisation_is_refused_unless_configured() -> None:
    def meta(**options: Any) -> MetaConversions:
        return MetaConversions(access_token="EAAB-t", pixel_id="1234567890", clock=lambda: NOW.timestamp(), **options)

    assert "data_processing_options" not in one(meta())
    ldu = one(meta(), REFUSED_PERSONALISATION)
    assert (
        ldu["data_processing_options"],
        ldu["data_processing_options_country"],
        ldu["data_processing_options_state"],
    ) == (["LDU"], 0, 0)
    assert one(meta(limited_data_use=False), REFUSED_PERSONALISATION)["data_processing_options"] == []
