"""The conversion model: validated at the call, errors that name the field but never the personal data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from attribution.capture.models import Attribution
from attribution.errors import InvalidConversionError
from attribution.orders.conversion import Conversion, Customer, EventName, LineItem, Order, RequestContext

WHEN = datetime(2025, 5, 5, 21, 20, tzinfo=UTC)


def order(**overrides: Any) -> Order:
    fields: dict[str, Any] = {"id": "ORD-1", "value": Decimal("99.97"), "currency": "usd", "time": WHEN}
    fields.update(overrides)
    return Order(**fields)


def test_order_normalises_currency_and_counts_items() -> None:
    o = order(items=[LineItem(id="a", price=Decimal("1.50"), quantity=2), LineItem(id="b", price="3")])
    assert o.currency == "USD"
    assert o.num_items == 3
    assert o.items[1].price == Decimal("3")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"value": Decimal("-0.01")}, "value: Input should be greater than or equal to 0"),
        ({"currency": "ABC"}, "unknown currency 'ABC'"),
        ({"currency": "dollars"}, "unknown currency"),
        ({"id": "   "}, "id: String should have at least 1 character"),
        ({"id": ""}, "id: String should have at least 1 character"),
        ({"value": Decimal("NaN")}, "value"),
        ({"time": datetime(2025, 5, 5, 21, 20)}, "time: Input should have timezone info"),
        ({"items": [{"id": "a", "price": "1", "quantity": 0}]}, "quantity"),
        ({"items": [{"id": "a", "price": "-1"}]}, "price"),
        ({"coupon": "X"}, "coupon: Extra inputs are not permitted"),
    ],
)
def test_bad_orders_fail_at_the_call(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConversionError, match="invalid Order") as caught:
        order(**overrides)
    assert message in str(caught.value)


def test_errors_are_also_raised_by_model_validate() -> None:
    with pytest.raises(InvalidConversionError, match="value: Input should be greater than or equal to 0"):
        Order.model_validate({"id": "x", "value": -1, "currency": "USD"})


def test_purchase_takes_id_time_value_and_currency_from_its_order() -> None:
    c = Conversion(order=order())
    assert c.event is EventName.PURCHASE
    assert (c.event_id, c.event_time, c.value, c.currency) == ("ORD-1", WHEN, Decimal("99.97"), "USD")
    assert c.dedup_id == "purchase:ORD-1"


def test_order_given_as_a_mapping_works_the_same() -> None:
    c = Conversion(order={"id": "ORD-2", "value": "5", "currency": "eur", "time": WHEN})  # type: ignore[arg-type]
    assert (c.dedup_id, c.event_time, c.value, c.currency) == ("purchase:ORD-2", WHEN, Decimal("5"), "EUR")


def test_dedup_id_is_stable_per_order_and_event() -> None:
    assert Conversion(order=order()).dedup_id == Conversion(order=order()).dedup_id
    assert Conversion(event="lead", order=order()).dedup_id == "lead:ORD-1"


def test_event_without_order_gets_an_id_unless_given() -> None:
    lead = Conversion(event=EventName.LEAD)
    assert lead.dedup_id.startswith("lead:")
    assert len(lead.event_id) == 32
    assert Conversion(event=EventName.LEAD).event_id != lead.event_id
    assert Conversion(event=EventName.LEAD, event_id="form-77").dedup_id == "lead:form-77"


def test_event_time_defaults_to_now_for_events_and_keeps_timezones() -> None:
    before = datetime.now(UTC)
    assert Conversion(event="contact").event_time >= before
    plus3 = datetime(2025, 5, 5, 18, 20, tzinfo=timezone(timedelta(hours=-3)))
    assert Conversion(event="contact", event_time=plus3).event_time.timestamp() == WHEN.timestamp()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"event": "purchase"}, "a purchase needs an order"),
        ({"event": "custom"}, "a custom event needs custom_name"),
        ({"event": "lead", "value": Decimal("1")}, "value and currency go together"),
        ({"event": "lead", "currency": "USD"}, "value and currency go together"),
        ({"event": "lead", "value": Decimal("1"), "currency": "XYZ"}, "unknown currency"),
        ({"event": "signup"}, "event: Input should be"),
        ({"order": order(), "value": Decimal("1")}, "value and currency differ from the order's"),
    ],
)
def test_inconsistent_conversions_fail_at_the_call(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConversionError, match="invalid Conversion") as caught:
        Conversion(**fields)
    assert message in str(caught.value)


def test_nested_customer_error_names_the_field_not_the_value() -> None:
    with pytest.raises(InvalidConversionError) as caught:
        Conversion(order=order(), customer={"phone": "555-0199 call me"})  # type: ignore[arg-type]
    text = str(caught.value)
    assert text.startswith("invalid Conversion: customer:")
    assert "phone" in text
    assert "555" not in text
    assert "call me" not in text
    assert caught.value.__suppress_context__  # pydantic's error (with the input) is not chained


def test_customer_normalises_and_hides_pii_from_repr() -> None:
    customer = Customer(
        email=" Ana@Exemplo.COM ",
        phone="(11) 91234-5678",
        country="BR",
        first_name="Ana",
        last_name="Lima",
        birthdate=date(1990, 1, 15),
        gender="F",
    )
    assert customer.email == "ana@exemplo.com"
    assert customer.phone == "+5511912345678"  # the two-letter country served as the phone region
    assert customer.gender == "female"
    assert customer.full_name == "Ana Lima"
    assert (
        customer.email_sha256 == "840d9902bc6853e59cd9585cd0ecb3eecb909fa62434c2a20babc05db3317e23"
    )  # sha256sum of "ana@exemplo.com"
    shown = repr(customer)
    for secret in ("ana", "Ana", "5511", "Lima", "1990"):
        assert secret not in shown


def test_customer_hashes_pass_through_and_are_not_plain_text() -> None:
    digest = "a" * 64
    customer = Customer(email=digest, phone=digest)
    assert customer.plain_email is None
    assert customer.plain_phone is None
    assert customer.email_sha256 == digest
    assert customer.phone_sha256 == digest


def test_blank_email_and_phone_mean_absent() -> None:
    customer = Customer(email="  ", phone="")
    assert customer.email is None
    assert customer.phone is None


def test_request_context_validates_ip() -> None:
    assert RequestContext(ip=" 2001:DB8::1 ").ip == "2001:db8::1"
    with pytest.raises(InvalidConversionError, match="context ip"):
        RequestContext(ip="300.1.1.1")


def test_models_are_frozen() -> None:
    c = Conversion(order=order())
    with pytest.raises(Exception, match="frozen"):
        c.event_id = "other"  # type: ignore[misc]


def test_attribution_instance_is_kept_with_its_clock() -> None:
    attr = Attribution()
    assert Conversion(order=order(), attribution=attr).attribution is attr


@pytest.mark.parametrize("bad", ["ORD\x00-1", "ORD\u200b-1", "x" * 256])
def test_order_item_and_event_ids_must_be_printable_and_fit_a_dedup_key(bad: str) -> None:
    with pytest.raises(InvalidConversionError, match="id"):
        Order(id=bad, value=Decimal("1"), currency="USD")
    with pytest.raises(InvalidConversionError, match="id"):
        LineItem(id=bad, price=Decimal("1"))
    with pytest.raises(InvalidConversionError, match="id"):
        Conversion(event=EventName.LEAD, event_id=bad)
    assert Order(id="ORD-7821/ä", value=Decimal("1"), currency="USD").id == "ORD-7821/ä"
