"""The checkout's shortcuts past validation give exactly what validation gives, and step aside when they cannot."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from attribution.client_ip import client_ip
from attribution.consent import Consent
from attribution.conversion import Conversion, Customer, EventName, LineItem, Order, RequestContext, of_order
from attribution.models import Attribution
from attribution.tracker import Tracker
from tests.helpers import NAVIGATION

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
    for proxies in ((), ("203.0.113.0/24",), ("*",)):
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
