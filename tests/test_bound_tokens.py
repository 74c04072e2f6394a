"""A checkout token bound to its order checks out that order only.

A token taken from one payment's metadata (a webhook replayed, metadata copied to another payment) used to check
out any order: ``export_token(request, order_id=...)`` binds it, and ``checkout_token`` refuses it for any other.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.checkout.tracker import Tracker
from attribution.errors import TokenError
from attribution.orders.conversion import Order
from attribution.vendors import Whop
from attribution.web.middleware import AttributionMiddleware
from tests.helpers import NAVIGATION, SECRET

TOKEN_KEY = "bound-token-key-8Vx2nQ5rT7mK"


def shop(tmp_path: Path) -> TestClient:
    tracker = Tracker(
        vendors=[Whop(api_key="whop-key-5f1c9a7e", company_id="biz_1")],
        outbox=tmp_path / "outbox.sqlite3",
        secret_key=TOKEN_KEY,
        dry_run=True,
        run_worker=False,
    )

    async def pay(request: Request) -> PlainTextResponse:
        order_id = request.query_params.get("order")
        return PlainTextResponse(tracker.export_token(request, order_id=order_id))

    async def webhook(request: Request) -> JSONResponse:
        body = await request.json()
        order = Order(id=body["order_id"], value=Decimal("10.00"), currency="USD") if body["order_id"] else None
        try:
            if order is None:
                result = await tracker.checkout_token(body["token"], event="lead")
            else:
                result = await tracker.checkout_token(body["token"], order)
        except TokenError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({r.vendor: r.status for r in result})

    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse("home")

    routes = [Route("/", home), Route("/pay", pay), Route("/webhook", webhook, methods=["POST"])]
    app = AttributionMiddleware(Starlette(routes=routes), secret_key=SECRET, tracker=tracker)
    return TestClient(app, base_url="https://shop.example.com", headers=NAVIGATION)


def test_a_bound_token_checks_out_its_own_order_and_no_other(tmp_path: Path) -> None:
    with shop(tmp_path) as c:
        c.get("/?utm_source=google&gclid=Cj0-bound")
        token = c.get("/pay?order=A-1").text
        c.cookies.clear()
        other = c.post("/webhook", json={"token": token, "order_id": "B-2"})
        no_order = c.post("/webhook", json={"token": token, "order_id": None})
        own = c.post("/webhook", json={"token": token, "order_id": "A-1"})
    assert other.status_code == 422
    assert (
        other.json()["error"] == "the attribution token was exported for another order: it checks out that order only"
    )
    assert no_order.status_code == 422
    assert own.json() == {"whop": "queued"}


def test_a_token_exported_without_an_order_still_checks_out_any(tmp_path: Path) -> None:
    with shop(tmp_path) as c:
        c.get("/?utm_source=google&gclid=Cj0-unbound")
        token = c.get("/pay").text
        assert c.post("/webhook", json={"token": token, "order_id": "C-3"}).json() == {"whop": "queued"}


def test_the_binding_is_signed_a_bound_token_cannot_be_unbound(tmp_path: Path) -> None:
    with shop(tmp_path) as c:
        c.get("/?utm_source=google&gclid=Cj0-signed")
        token = c.get("/pay?order=A-1").text
        payload, _, rest = token.partition(".")
        tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + rest
        refused = c.post("/webhook", json={"token": tampered, "order_id": "B-2"})
    assert refused.status_code == 422
    assert "not valid" in refused.json()["error"]
