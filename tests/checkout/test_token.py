"""Checkout tokens: compact, signed, time-limited; tampering and expiry are clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution import get_attribution
from attribution.capture.models import Attribution, Channel, Touch
from attribution.checkout.token import TokenCodec
from attribution.errors import ConfigurationError, TokenError
from attribution.orders.conversion import RequestContext
from attribution.web.middleware import AttributionMiddleware
from tests.support.helpers import NAVIGATION, SECRET

KEY = "token-secret-0123456789abcdef"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def visitor(touches: int = 4) -> Attribution:
    history = [
        Touch(
            at=T0 + timedelta(days=i),
            path=f"/landing/{i}",
            referrer="www.google.com",
            channel=Channel.PAID_SEARCH,
            params={
                "utm_source": "google",
                "utm_medium": "cpc",
                "utm_campaign": f"spring-sale-{i}",
                "gclid": f"Cj0KCQiA{i}x7_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
            },
        )
        for i in range(touches)
    ]
    return Attribution(
        first=history[0],
        history=history,
        identifiers={
            "fbp": "fb.1.1740830400000.1234567890",
            "ga": "1234567890.1740830400",
            "wuid": "w_9f8e7d",
        },
    )


CONTEXT = RequestContext(
    ip="198.51.100.7",
    user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/130.0",
    url="https://shop.example/checkout",
    referrer="https://shop.example/cart",
)


def test_round_trip_keeps_first_latest_touches_identifiers_and_context() -> None:
    codec = TokenCodec(KEY, clock=lambda: T0.timestamp())
    attr, ctx = codec.loads(codec.dumps(visitor(), CONTEXT))
    original = visitor()
    assert attr.first == original.first
    assert attr.history == original.history[-1:]
    assert attr.identifiers == original.identifiers
    assert attr.get("utm_campaign") == "spring-sale-3"
    assert ctx == CONTEXT


def test_a_typical_token_fits_in_payment_metadata() -> None:
    # One paid landing with a real-length gclid, three browser ids and the checkout request.
    token = TokenCodec(KEY).dumps(visitor(1), CONTEXT)
    assert len(token) <= 500
    assert all(c.isalnum() or c in "-_." for c in token)  # safe in URLs, form fields and metadata
    # Distinct first and last touches (and so the first click id and the newest) cost more; leaving out
    # the context brings it back under Stripe's 500 characters.
    assert len(TokenCodec(KEY, max_touches=0).dumps(visitor(4))) <= 500
    assert len(TokenCodec(KEY).dumps(visitor(4))) <= 500


def test_the_newest_click_id_travels_even_when_its_touch_is_left_out() -> None:
    codec = TokenCodec(KEY, max_touches=0, clock=lambda: T0.timestamp())
    attr, _ = codec.loads(codec.dumps(visitor(4)))
    assert attr.history == []
    newest = visitor(4).history[-1].params["gclid"]
    assert attr.with_windows({}, now=T0 + timedelta(days=4)).click_ids == {"gclid": newest}


@pytest.mark.parametrize(("gclid_days", "sent"), [(1, {}), (5, {"gclid": "Cj0-three-days-old"})])
def test_the_webhook_honours_the_sites_click_id_windows(gclid_days: int, sent: dict[str, str]) -> None:
    clicked = datetime.now(UTC) - timedelta(days=3)
    now = [clicked]
    codec = TokenCodec(KEY)

    async def pay(request: Request) -> JSONResponse:
        attribution = get_attribution(request)
        return JSONResponse({"click_ids": attribution.click_ids, "token": codec.dumps(attribution)})

    app = Starlette(routes=[Route("/pay", pay)])
    windows = {"gclid": gclid_days}
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, click_id_windows=windows, clock=lambda: now[0])
    browser = TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)
    browser.get("/pay?gclid=Cj0-three-days-old")
    now[0] = datetime.now(UTC)  # the visitor pays three days after the click
    answer = browser.get("/pay").json()
    assert answer["click_ids"] == sent  # what the site's own pages credit...
    assert codec.read(answer["token"]).attribution.click_ids == sent  # ...is what the webhook credits


def test_empty_attribution_and_no_context() -> None:
    codec = TokenCodec(KEY)
    attr, ctx = codec.loads(codec.dumps(Attribution()))
    assert attr.is_empty
    assert ctx == RequestContext()


def test_a_tampered_token_is_refused() -> None:
    codec = TokenCodec(KEY)
    token = codec.dumps(visitor(), CONTEXT)
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    for bad in (flipped, token[:-3], "not-a-token", token + "x"):
        with pytest.raises(TokenError, match="not valid"):
            codec.loads(bad)


def test_a_missing_token_is_a_token_error_that_says_so() -> None:
    codec = TokenCodec(KEY)
    for missing in ("", None, 42):
        with pytest.raises(TokenError, match="no attribution token"):
            codec.loads(missing)  # type: ignore[arg-type]


def test_a_token_signed_with_another_key_is_refused_but_rotated_keys_verify() -> None:
    old = TokenCodec("an-older-secret-key-0123456789").dumps(visitor())
    with pytest.raises(TokenError):
        TokenCodec(KEY).loads(old)
    attr, _ = TokenCodec([KEY, "an-older-secret-key-0123456789"]).loads(old)
    assert attr.identifiers["wuid"] == "w_9f8e7d"


def test_an_expired_token_is_refused_and_says_so() -> None:
    now = [T0.timestamp()]
    codec = TokenCodec(KEY, max_age=timedelta(hours=1), clock=lambda: now[0])
    token = codec.dumps(visitor())
    now[0] += 3599
    codec.loads(token)
    now[0] += 2
    with pytest.raises(TokenError, match="expired"):
        codec.loads(token)


def test_error_messages_and_repr_leak_nothing() -> None:
    codec = TokenCodec(KEY)
    assert KEY not in repr(codec)
    with pytest.raises(TokenError) as info:
        codec.loads(codec.dumps(visitor(), CONTEXT)[:-5])
    assert "198.51.100.7" not in str(info.value)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        TokenCodec("short")
