"""An order's journey names each touch as reports add revenue up: source, medium, campaign, channel, landing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from attribution.capture.models import Attribution, Channel, Touch
from attribution.orders.journey import journey, journey_touch

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def at(hours: int, channel: Channel = Channel.REFERRAL, referrer: str | None = None, **params: str) -> Touch:
    return Touch(at=T0 + timedelta(hours=hours), params=params, path="/p", referrer=referrer, channel=channel)


def named(touch: Touch) -> tuple[str, str, str, str]:
    row = journey_touch(touch)
    return row.channel, row.source, row.medium, row.campaign


def test_utm_names_win() -> None:
    touch = at(0, Channel.PAID_SOCIAL, "l.facebook.com", utm_source="meta", utm_medium="paid", utm_campaign="bf")
    assert named(touch) == ("paid_social", "meta", "paid", "bf")


def test_a_source_without_medium_or_campaign_says_not_set() -> None:
    assert named(at(0, Channel.OTHER, utm_source="newsletter")) == ("other", "newsletter", "(not set)", "(not set)")


def test_a_referrer_is_the_source_organic_for_search_referral_otherwise() -> None:
    assert named(at(0, Channel.ORGANIC_SEARCH, "www.google.com")) == (
        "organic_search",
        "google.com",
        "organic",
        "(not set)",
    )
    assert named(at(0, Channel.REFERRAL, "blog.example.org"))[1:3] == ("blog.example.org", "referral")


def test_a_click_id_alone_names_its_platform() -> None:
    assert named(at(0, Channel.PAID_SEARCH, gclid="Cj0"))[1:3] == ("google", "cpc")
    assert named(at(0, Channel.ORGANIC_SOCIAL, fbclid="IwAR"))[1:3] == ("facebook", "social")
    assert named(at(0, Channel.PAID_SOCIAL, ttclid="E.C"))[1:3] == ("tiktok", "cpc")


def test_nothing_to_name_is_direct() -> None:
    assert named(at(0, Channel.DIRECT)) == ("direct", "(direct)", "(none)", "(not set)")


def test_the_journey_is_oldest_first_with_the_first_touch_once() -> None:
    first, second, third = at(0, utm_source="a"), at(5, utm_source="b"), at(9, utm_source="c")
    kept_apart = Attribution(first=first, history=[second, third])  # the history overflowed: first kept apart
    assert [t.source for t in journey(kept_apart)] == ["a", "b", "c"]
    in_history = Attribution(first=first, history=[first, second])
    assert [t.source for t in journey(in_history)] == ["a", "b"]
    assert journey(Attribution()) == ()


def test_the_journey_keeps_nothing_personal() -> None:
    touch = at(0, Channel.PAID_SEARCH, "www.google.com", gclid="Cj0-secret-click", utm_source="google")
    row = journey_touch(touch)
    assert "Cj0-secret-click" not in repr(row)
    assert row.landing == "/p"
