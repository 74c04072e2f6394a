"""Consent per purpose and per vendor: capture through real HTTP, checkout results, tokens, the value type."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from attribution import Consent, get_consent
from attribution.capture.consent import decide
from attribution.capture.models import Attribution
from attribution.checkout.token import TokenCodec
from attribution.checkout.tracker import Tracker
from attribution.errors import ConfigurationError
from attribution.forms import hidden_fields
from attribution.orders.conversion import Conversion, Customer, Order
from attribution.vendors.base import JSON
from attribution.web.middleware import AttributionMiddleware
from tests.delivery_fakes import FAST, FakeBatchVendor, FakeVendor, event_for
from tests.helpers import COOKIE, NAVIGATION, SECRET, client, set_cookie_headers

LANDING = "/show?utm_source=google&utm_medium=cpc&gclid=Cj0KCQ-consent"


def header_consent(scope: Mapping[str, Any]) -> Any:
    """The site's consent hook: what its consent banner stored, here sent as a JSON header."""
    for name, value in scope["headers"]:
        if name == b"x-consent":
            return json.loads(value)
    return True


def consent_header(answer: Any) -> dict[str, str]:
    return {"x-consent": json.dumps(answer)}


# -- capture through real HTTP ---------------------------------------------------------------------------


def test_measurement_refused_in_a_mapping_captures_nothing_and_clears_the_cookie_like_false() -> None:
    c = client(consent=header_consent)
    assert c.get(LANDING).json()["click_ids"] == {"gclid": "Cj0KCQ-consent"}
    for refusal in (False, {"ad_measurement": False}, {"ad_measurement": "denied", "ad_personalization": True}):
        response = c.get(LANDING.replace("consent", "again"), headers=consent_header(refusal))
        assert response.json()["click_ids"] == {}, refusal  # neither the landing nor the cookie being cleared
        assert any(h.startswith(f"{COOKIE}=") and "Max-Age=0" in h for h in set_cookie_headers(response))
        assert COOKIE not in c.cookies
        assert c.get(LANDING, headers=consent_header(refusal)).json()["click_ids"] == {}
        assert COOKIE not in c.cookies
        c.get(LANDING)  # captured again with full consent, for the next refusal


def test_a_request_that_withdraws_consent_reads_nothing_of_the_cookie_it_clears() -> None:
    c = client(consent=header_consent)
    c.get(LANDING)
    hidden = Starlette(routes=[Route("/form", hidden_form)])
    hidden.add_middleware(AttributionMiddleware, secret_key=SECRET, consent=header_consent)
    for path in ("/show", "/show?utm_source=other"):  # nothing to capture, and a landing
        response = c.get(path, headers=consent_header(False))
        body = response.json()
        assert (body["utm"], body["click_ids"], body["first"], body["history"]) == ({}, {}, None, 0), path
        assert any("Max-Age=0" in h for h in set_cookie_headers(response))
        c.get(LANDING)  # consent given again: captured again
    form = client(hidden)
    form.cookies.set(COOKIE, c.cookies[COOKIE], domain="shop.example.com")
    assert "Cj0KCQ-consent" in form.get("/form").text
    assert form.get("/form", headers=consent_header(False)).text == ""


async def hidden_form(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(hidden_fields(request.scope["attribution"])))


def test_personalization_refused_still_captures() -> None:
    c = client(consent=header_consent)
    response = c.get(LANDING, headers=consent_header({"ad_personalization": "denied"}))
    assert response.json()["click_ids"] == {"gclid": "Cj0KCQ-consent"}
    assert COOKIE in c.cookies


def test_measurement_granted_for_one_vendor_only_still_captures() -> None:
    c = client(consent=header_consent)
    answer = {"ad_measurement": False, "vendors": {"fake": {"ad_measurement": True}}}
    assert c.get(LANDING, headers=consent_header(answer)).json()["click_ids"] == {"gclid": "Cj0KCQ-consent"}


def test_an_answer_that_cannot_be_understood_is_a_refusal_logged_without_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = client(consent=header_consent)
    with caplog.at_level(logging.DEBUG):
        response = c.get(LANDING, headers=consent_header({"ad_storage": "granted-for-ana@example.com"}))
    assert response.status_code == 200
    assert response.json()["click_ids"] == {}
    assert "consent hook failed" in caplog.text
    assert "ana@example.com" not in caplog.text


# -- checkout: the request's decision, asked once, reaches the conversion and the results ---------------------


class RecordingVendor(FakeVendor):
    """Keeps the consent of every conversion it prepared."""

    name: ClassVar[str] = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Consent] = []

    def payload(self, conversion: Any) -> JSON:
        self.seen.append(conversion.consent)
        return super().payload(conversion)


async def sent(tracker: Tracker) -> None:
    """Build, as the worker does when it sends, the event of every delivery to the recording vendor."""
    for delivery in await tracker.outbox.list(vendor="recording"):
        await event_for(tracker, delivery.id)


def consent_site(tracker: Tracker, calls: list[int]) -> Starlette:
    def counted(scope: Mapping[str, Any]) -> Any:
        calls.append(1)
        return header_consent(scope)

    async def checkout(request: Request) -> JSONResponse:
        order = Order(id=(await request.json())["order"], value="20", currency="EUR")
        result = await tracker.checkout(request, order, customer=Customer(email="a@example.com"))
        return JSONResponse({r.vendor: [r.status, r.reason] for r in result})

    async def pay(request: Request) -> PlainTextResponse:
        return PlainTextResponse(tracker.export_token(request))

    async def webhook(request: Request) -> JSONResponse:
        body = await request.json()
        order = Order(id=body["order"], value="20", currency="EUR")
        result = await tracker.checkout_token(body["token"], order, customer=Customer(email="a@example.com"))
        return JSONResponse({r.vendor: [r.status, r.reason] for r in result})

    app = Starlette(
        routes=[
            Route("/checkout", checkout, methods=["POST"]),
            Route("/pay", pay),
            Route("/webhook", webhook, methods=["POST"]),
        ]
    )
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, consent=counted)
    return app


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[tuple[Tracker, RecordingVendor, list[int], httpx2.AsyncClient]]:
    recording = RecordingVendor()
    tracker = Tracker(
        vendors=[recording, FakeBatchVendor()],
        outbox=tmp_path / "outbox.sqlite3",
        secret_key="tracker-token-secret-0123456789",
        policy=FAST,
        run_worker=False,
    )
    calls: list[int] = []
    transport = httpx2.ASGITransport(app=consent_site(tracker, calls))
    async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example", headers=NAVIGATION) as http:
        yield tracker, recording, calls, http
    await tracker.stop()


async def test_a_vendor_refused_measurement_is_skipped_with_the_purpose_named(
    shop: tuple[Tracker, RecordingVendor, list[int], httpx2.AsyncClient],
) -> None:
    tracker, recording, calls, http = shop
    answer = {"ad_personalization": False, "vendors": {"fakebatch": False}}
    headers = {**consent_header(answer), "cookie": "_fbp=fb.1.1700000000000.1234"}
    response = await http.post("/checkout", json={"order": "C-1"}, headers=headers)
    assert response.json() == {
        "recording": ["queued", None],
        "fakebatch": ["skipped", "consent for ad_measurement was not granted"],
    }
    assert calls == [1]  # the browser id made it a capture too: capture and checkout shared one answer
    await sent(tracker)  # the order record kept the answer for the worker
    [seen] = recording.seen
    assert (seen.ad_measurement, seen.ad_personalization, seen.decided) == (True, False, True)
    assert seen.for_vendor("fakebatch").ad_measurement is False
    assert await tracker.outbox.counts() == {("recording", "pending"): 1}


async def test_measurement_refused_skips_every_vendor_and_queues_nothing(
    shop: tuple[Tracker, RecordingVendor, list[int], httpx2.AsyncClient],
) -> None:
    tracker, recording, _, http = shop
    response = await http.post("/checkout", json={"order": "C-2"}, headers=consent_header(False))
    reason = "consent for ad_measurement was not granted"
    assert response.json() == {"recording": ["skipped", reason], "fakebatch": ["skipped", reason]}
    assert recording.seen == []
    assert await tracker.outbox.counts() == {}


async def test_without_a_consent_answer_everything_is_granted_and_undecided(tmp_path: Path) -> None:
    recording = RecordingVendor()
    tracker = Tracker(vendors=[recording], outbox=tmp_path / "o.sqlite3", run_worker=False)

    async def checkout(request: Request) -> PlainTextResponse:
        await tracker.checkout(request, Order(id="C-3", value="1", currency="EUR"))
        return PlainTextResponse(repr(get_consent(request)))

    app = Starlette(routes=[Route("/checkout", checkout, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="https://shop.example", headers=NAVIGATION) as http:
        assert (await http.post("/checkout")).status_code == 200
    await sent(tracker)
    await tracker.stop()
    assert recording.seen == [Consent()]
    assert recording.seen[0].decided is False
    assert Conversion(order=Order(id="C-3", value="1", currency="EUR")).consent == Consent()


async def test_the_exported_token_carries_the_consent_to_the_webhook(
    shop: tuple[Tracker, RecordingVendor, list[int], httpx2.AsyncClient],
) -> None:
    tracker, recording, _, http = shop
    answer = {"ad_personalization": "denied", "vendors": {"fakebatch": False}}
    token = (await http.get("/pay", headers=consent_header(answer))).text
    # the webhook arrives from the payment provider: no consent header, no cookie
    result = (await http.post("/webhook", json={"order": "C-4", "token": token}, headers={"x-consent": "true"})).json()
    assert result == {
        "recording": ["queued", None],
        "fakebatch": ["skipped", "consent for ad_measurement was not granted"],
    }
    await sent(tracker)
    assert recording.seen[0].ad_personalization is False


def test_tokens_without_consent_read_as_the_default_and_with_it_round_trip() -> None:
    codec = TokenCodec("token-secret-0123456789abcdef")
    old = codec.dumps(Attribution())  # as tokens were exported before consent travelled in them
    assert codec.read(old).consent == Consent()
    refused = Consent.of({"ad_personalization": False, "vendors": {"xads": {"ad_measurement": "denied"}}})
    assert codec.read(codec.dumps(Attribution(), consent=refused)).consent == refused
    assert len(codec.dumps(Attribution(), consent=Consent())) == len(old)  # the default adds nothing


# -- the value type -----------------------------------------------------------------------------------------


def test_answers_become_decided_consent_values() -> None:
    assert Consent.of(True) == Consent(decided=True)
    assert Consent.of(False) == Consent(ad_measurement=False, ad_personalization=False, decided=True)
    assert Consent.of(Consent(ad_personalization=False)).decided is True
    overrides = {"xads": False, "whop": {"ad_personalization": True}}
    mixed = Consent.of({"ad_personalization": "DENIED", "vendors": overrides})
    assert mixed.for_vendor("xads") == Consent(ad_measurement=False, ad_personalization=False, decided=True)
    assert mixed.for_vendor("whop") == Consent(ad_measurement=True, ad_personalization=True, decided=True)
    assert mixed.for_vendor("connectly") == Consent(ad_measurement=True, ad_personalization=False, decided=True)
    assert mixed.refusal("xads") == "consent for ad_measurement was not granted"
    assert mixed.refusal("connectly") is None
    assert Consent.from_compact(mixed.compact()) == mixed


@pytest.mark.parametrize("answer", [{"ad_storage": True}, {"ad_measurement": "maybe"}, {"vendors": {"x": "y"}}])
def test_an_answer_not_understood_is_a_configuration_error_and_decides_refusal(answer: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="consent answer not understood"):
        Consent.of(answer)
    assert decide(lambda scope: answer, {}).captures is False


@pytest.mark.parametrize(
    ("answer", "captured", "understood"),
    [
        ("denied", False, True),  # a banner's cookie value returned as it is: a refusal, never "truthy"
        ("false", False, False),
        ("no", False, False),
        ("0", False, False),
        (1, False, False),
        (None, False, True),  # no answer
        ("granted", True, True),
        (" Granted ", True, True),
        (True, True, True),
    ],
)
def test_only_true_or_granted_grants_and_an_answer_not_understood_refuses(
    answer: Any, captured: bool, understood: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = client(consent=lambda scope: answer).get(LANDING)
    assert response.status_code == 200
    assert bool(response.json()["utm"]) is captured
    refused_loudly = any("consent hook" in record.getMessage() for record in caplog.records)
    assert refused_loudly is not understood


def test_a_hook_that_raises_is_logged_by_its_type_without_what_it_quoted(caplog: pytest.LogCaptureFixture) -> None:
    def failing(scope: object) -> bool:
        raise ValueError("banner cookie for ana@example.com unreadable")

    with caplog.at_level(logging.DEBUG):
        response = client(consent=failing).get(LANDING)
    assert response.json()["click_ids"] == {}
    assert "consent hook failed (ValueError)" in caplog.text
    assert "ana@example.com" not in caplog.text
