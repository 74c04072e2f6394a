"""The checkout's shortcuts past validation give exactly what validation gives, and step aside when they cannot."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from attribution.capture.consent import Consent
from attribution.capture.models import Attribution, Touch
from attribution.checkout.client_ip import client_ip
from attribution.checkout.tracker import Tracker
from attribution.orders import pii
from attribution.orders.conversion import Conversion, Customer, EventName, LineItem, Order, RequestContext, of_order
from attribution.vendors.base import iso_millis
from attribution.vendors.convertloop import _iso_seconds
from attribution.vendors.google_ads_api import conversion_date_time
from attribution.web.middleware import AttributionMiddleware
from tests.delivery_fakes import event_for
from tests.helpers import NAVIGATION, SECRET
from tests.vendor_server import loopback_vendors

UA = NAVIGATION["user-agent"]


def same(a: BaseModel, b: BaseModel) -> None:
    assert type(a) is type(b)
    assert a.__dict__ == b.__dict__
    assert list(a.__dict__) == list(b.__dict__)
    assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__
    assert a.__pydantic_extra__ == b.__pydantic_extra__
    assert a.__pydantic_private__ == b.__pydantic_private__
    assert repr(a) == repr(b)
    assert a.model_dump_json() == b.model_dump_json()


def scope(headers: list[tuple[bytes, bytes]], client: Any = ("203.0.113.7", 5000), **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": "https",
        "path": "/checkout",
        "query_string": b"order=1",
        "headers": headers,
        "client": client,
        "server": ("shop.example", 443),
        **extra,
    }


def expected_context(s: dict[str, Any], tracker: Tracker) -> RequestContext:
    from starlette.datastructures import URL, Headers

    headers = Headers(scope=dict(s))
    return RequestContext(
        ip=client_ip(s, tracker.trusted_proxies),
        user_agent=headers.get("user-agent") or None,
        url=str(URL(scope=s)) if "path" in s else None,
        referrer=headers.get("referer") or None,
    )


@pytest.mark.parametrize(
    "case",
    [
        scope([(b"host", b"shop.example"), (b"user-agent", UA.encode())]),
        scope([(b"user-agent", b"  padded  "), (b"referer", b"https://r.example/ \x1c")]),
        scope([(b"user-agent", b""), (b"referer", b""), (b"user-agent", b"second")]),
        scope([(b"referer", b"https://a.example/"), (b"referer", b"https://b.example/")], client=("2001:DB8::1", 1)),
        scope([], client=("::ffff:198.51.100.7", 1)),
        scope([], client=("01.2.3.4", 1)),
        scope([], client=None),
        {"type": "http", "headers": [(b"user-agent", b"x")], "client": ("1.2.3.4", 1)},
        scope([(b"host", b"shop.example:8443"), (b"user-agent", "caf\xe9".encode("latin-1"))], path="/a b "),
    ],
)
def test_the_request_context_is_the_one_validation_makes(case: dict[str, Any], tmp_path: Any) -> None:
    for proxies in ((), ("203.0.113.0/24",), 1):  # no proxy, by network, by count
        tracker = Tracker(vendors=[], outbox=tmp_path / "o.sqlite3", run_worker=False, trusted_proxies=proxies)
        same(tracker.context(dict(case)), expected_context(dict(case), tracker))


@pytest.mark.parametrize(
    "peer",
    ["203.0.113.7", "0.0.0.0", "255.255.255.255", "10.20.30.40", "01.2.3.4", "256.1.1.1", " 1.2.3.4", "1.2.3"],
)
def test_a_peer_address_reads_as_parsing_it_would(peer: str) -> None:
    try:
        expected: str | None = str(ipaddress.ip_address(peer.strip()))
    except ValueError:
        expected = None
    assert client_ip({"client": (peer, 1), "headers": []}) == expected


WHEN = datetime(2025, 5, 5, 21, 20, 1, 123456, tzinfo=timezone(timedelta(hours=-3)))


def parts(**order: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"id": "ORD-1", "value": Decimal("99.90"), "currency": "usd", "time": WHEN}
    fields.update(order)
    return {
        "order": Order(**fields),
        "customer": Customer(email="jane@example.com", phone="+14155550100"),
        "attribution": Attribution(identifiers={"fbp": "fb.1.1.1"}),
        "context": RequestContext(ip="203.0.113.7", user_agent=UA),
        "consent": Consent(),
    }


@pytest.mark.parametrize("event", ["purchase", EventName.PURCHASE, EventName.LEAD, "view_content"])
@pytest.mark.parametrize(
    "order",
    [
        {},
        {"value": Decimal("0"), "currency": "JPY"},
        {"value": Decimal("1E+2"), "items": [LineItem(id="a", price=Decimal("50"), quantity=2)]},
        {"id": "x" * 255, "time": datetime(2025, 1, 1, tzinfo=UTC)},
    ],
)
def test_a_conversion_from_an_order_is_the_one_validation_makes(event: Any, order: dict[str, Any]) -> None:
    given = parts(**order)
    fast = of_order(event, **given)
    assert fast is not None
    same(fast, Conversion(event=event, **given))
    assert fast.event_time.tzinfo is given["order"].time.tzinfo


def test_anything_unusual_goes_through_validation() -> None:
    given = parts()
    assert of_order("custom", **given) is None  # needs custom_name
    assert of_order(" purchase", **given) is None
    assert of_order("Purchase", **given) is None
    assert of_order(1, **given) is None
    assert of_order("purchase", **{**given, "customer": {"email": "a@b.co"}}) is None
    odd = Order.model_construct(id="bad\x00id", value=Decimal("1"), currency="USD", time=WHEN)
    assert of_order("purchase", **{**given, "order": odd}) is None
    naive = Order.model_construct(id="o", value=Decimal("1"), currency="USD", time=datetime(2025, 1, 1))
    assert of_order("purchase", **{**given, "order": naive}) is None


def shared_reads(a: Attribution) -> list[Any]:
    keys = ["gclid", "twclid", "fbclid", "utm_source", "utm_term", "ad_id", "fbp", "fbc", "dp_pid", "nothing"]
    return [a.click_ids, a.utm, a.source, a.channel, a.fbc, a.public()] + [
        (a.get(k), a.get(k, "default"), a.click(k)) for k in keys
    ]


def rich_visitor() -> Attribution:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    old = Touch(at=now - timedelta(days=40), params={"gclid": "g-old", "ad_id": "ad-1", "utm_source": "x"})
    new = Touch(at=now - timedelta(days=1), params={"twclid": "tw-1", "utm_source": "google", "utm_term": ""})
    ms = int((now - timedelta(days=3)).timestamp() * 1000)
    identifiers = {"fbp": "fb.1.1.2", "fbc": f"fb.1.{ms}.fbclid-1"}
    return Attribution(first=old, history=[old, new], identifiers=identifiers).pinned(now)


def test_read_once_answers_what_each_read_answers_and_forgets_afterwards() -> None:
    visitor = rich_visitor()
    expected = shared_reads(visitor)
    with visitor.read_once():
        assert shared_reads(visitor) == expected
        assert shared_reads(visitor) == expected
        visitor.click_ids["gclid"] = "changed by a caller"
        visitor.utm["utm_source"] = "changed by a caller"
        assert shared_reads(visitor) == expected
        assert visitor.pinned().__pydantic_private__["_reads"] is None  # type: ignore[index]
    visitor.identifiers["fbp"] = "fb.1.1.3"
    assert visitor.get("fbp") == "fb.1.1.3"


def test_an_attribution_without_its_own_clock_reads_as_always() -> None:
    live = Attribution(identifiers={"fbp": "fb.1.1.2"})
    with live.read_once():
        assert live.get("fbp") == "fb.1.1.2"
        live.identifiers["fbp"] = "fb.1.1.3"
        assert live.get("fbp") == "fb.1.1.3"


async def test_checkouts_at_once_never_share_a_visitor_or_customer_value(tmp_path: Path) -> None:
    tracker = Tracker(vendors=loopback_vendors("http://127.0.0.1:9"), outbox=tmp_path / "o.sqlite3", run_worker=False)

    async def checkout(request: Request) -> JSONResponse:
        n = request.query_params["n"]
        order = Order(id=f"O-{n}", value="10", currency="USD")
        customer = Customer(email=f"buyer{n}@example.com", phone=f"+1415555010{n}")
        result = await tracker.checkout(request, order, customer=customer)
        return JSONResponse(result.queued)

    app = Starlette(routes=[Route("/checkout", checkout, methods=["POST"])])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, tracker=tracker)
    sites = []
    async with tracker.lifespan():
        for n in range(4):
            transport = httpx2.ASGITransport(app=app, client=(f"203.0.113.{n + 1}", 5000))
            site = httpx2.AsyncClient(transport=transport, base_url="https://shop.example", headers=NAVIGATION)
            clicks = f"gclid=g-{n}&twclid=tw-{n}&ttclid=tt-{n}&fbclid=fb-{n}&epik=pe-{n}&ScCid=sc-{n}&oppref=op-{n}"
            await site.get(f"/?{clicks}&utm_source=s{n}")
            sites.append(site)
        answers = await asyncio.gather(*(s.post(f"/checkout?n={n}") for n, s in enumerate(sites)))
        assert all("xads" in a.json() for a in answers)
        rows = await tracker.outbox.list(limit=100)
        events = {row.id: await event_for(tracker, row.id) for row in rows}
        for site in sites:
            await site.aclose()
    assert len(rows) == 4 * (len(tracker.vendors) - 1)  # every vendor but Connectly (a Click-to-WhatsApp landing)
    hashed_email = (
        "xads",
        "tiktok",
        "meta",
        "linkedin",
        "reddit",
        "microsoft_ads",
        "pinterest",
        "snapchat",
        "openai_ads",
    )
    for row in rows:
        n = row.order_id.removeprefix("O-")
        text = json.dumps(events[row.id])
        clicked = {"google_ads": "g", "xads": "tw", "tiktok": "tt", "whop": "g", "convertloop": "tw"}
        clicked |= {"pinterest": "pe", "snapchat": "sc", "openai_ads": "op"}
        no_click = ("rdstation", "meta", "linkedin", "reddit", "microsoft_ads")
        assert f"{clicked.get(row.vendor, 's')}-{n}" in text or row.vendor in no_click
        for m in range(4):
            own = str(m) == n
            assert (f"buyer{m}@" in text) is (own and row.vendor in ("whop", "rdstation", "convertloop"))
            assert (pii.sha256(f"buyer{m}@example.com") in text) is (own and row.vendor in hashed_email)
            phone_hashed = ("xads", "tiktok", "reddit", "microsoft_ads")
            assert (pii.sha256(f"+1415555010{m}") in text) is (own and row.vendor in phone_hashed)
            digits = ("meta", "pinterest", "snapchat", "openai_ads")
            assert (pii.sha256(f"1415555010{m}") in text) is (own and row.vendor in digits)
            ip_plain = ("whop", "xads", "tiktok", "meta", "google_ads", "microsoft_ads", "pinterest", "snapchat")
            assert (f"203.0.113.{m + 1}" in text) is (own and row.vendor in (*ip_plain, "openai_ads"))
            assert (pii.sha256(f"203.0.113.{m + 1}") in text) is (own and row.vendor == "reddit")
            if not own:
                assert f'-{m}"' not in text
                assert f"-{m}," not in text


@pytest.mark.parametrize("year", [1, 999, 1000, 2025, 9999])
@pytest.mark.parametrize("micro", [0, 999, 1000, 603999, 999999])
@pytest.mark.parametrize("offset", [timedelta(0), timedelta(hours=-3), timedelta(hours=5, minutes=30, seconds=17)])
def test_event_times_read_as_strftime_writes_them(year: int, micro: int, offset: timedelta) -> None:
    moment = datetime(year, 6, 1, 12, 5, 9, micro, tzinfo=timezone(offset))
    if year == 1 and offset < timedelta(0):
        moment += timedelta(days=1)
    utc = moment.astimezone(UTC)
    assert iso_millis(moment) == utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{micro // 1000:03d}Z"
    assert _iso_seconds(moment) == utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    local = moment if offset % timedelta(minutes=1) == timedelta(0) else utc
    google = conversion_date_time(moment)
    assert google == local.strftime("%Y-%m-%d %H:%M:%S") + google[-6:]


def test_hashing_once_hashes_each_value_as_always_and_forgets_them() -> None:
    values = ["jane@example.com", "+14155550100", "14155550100", "joe@example.com", "", "é"]
    expected = [hashlib.sha256(v.encode()).hexdigest() for v in values]
    with pii.hashing_once():
        assert [pii.sha256(v) for v in values] == expected
        assert [pii.sha256(v) for v in reversed(values)] == expected[::-1]
        with pii.hashing_once():
            assert pii.sha256("inner@example.com") == hashlib.sha256(b"inner@example.com").hexdigest()
        assert "inner@example.com" not in (pii._HASHED.get() or ({}, {}))[0]
        digest = expected[0]
        assert [pii.is_sha256(v) for v in (digest, digest.upper(), digest[1:], "x" * 64)] == [True, True, False, False]
        assert [pii.is_sha256(v) for v in (digest, digest.upper(), digest[1:], "x" * 64)] == [True, True, False, False]
    assert pii._HASHED.get() is None


def old_get(a: Attribution, key: str) -> str | None:
    if key in a.clicks or key in a.click_id_windows:
        click = a.click(key)
        return click.value if click is not None else None
    if key in ("utm_source", "utm_term"):
        source = old_source(a)
        return source.params.get(key) if source is not None else None
    for touch in a.touches:
        if (value := touch.params.get(key)) is not None:
            return value
    return a.fbc if key == "fbc" else a.identifiers.get(key)


def old_source(a: Attribution) -> Touch | None:
    for touch in a.touches:
        if touch.params or touch.referrer or touch.channel.value != "direct":
            return touch
    return None


def touch(day: int, **params: str) -> Touch:
    return Touch(at=datetime(2025, 6, day, tzinfo=UTC), params=params, referrer="r.example" if day == 3 else None)


@pytest.mark.parametrize(
    "visitor",
    [
        Attribution(first=touch(1, ad_id="first"), history=[touch(2, ad_id="second"), touch(3)]),  # first kept apart
        Attribution(first=touch(1, ad_id="first", x="1"), history=[touch(1, ad_id="first", x="1"), touch(4)]),
        Attribution(first=touch(1, ad_id="only-first"), history=[touch(4, utm_source="s")]),
        Attribution(first=touch(4), history=[touch(4)]),
        Attribution(first=touch(1, ad_id="a"), history=[]),
        Attribution(history=[touch(2, ad_id="b"), touch(4)]),
        Attribution(identifiers={"ad_id": "cookie", "fbp": "fb.1.1.2"}),
    ],
)
def test_reads_walk_the_touches_newest_first_the_first_touch_last(visitor: Attribution) -> None:
    pinned = visitor.pinned(datetime(2025, 6, 5, tzinfo=UTC))
    for a in (pinned, visitor):
        with a.read_once():
            assert a.source is old_source(a)
            for key in ("ad_id", "x", "utm_source", "utm_term", "fbp", "gclid", "nothing"):
                assert a.get(key) == old_get(a, key)
