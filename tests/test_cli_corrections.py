"""``attribution adjust`` / ``cancel`` and the purge of order records, on both outbox backends: per vendor what came
of a correction, an unknown order refused with nothing changed, what can be done without the site's configuration
and what needs it, and orders scrubbed and deleted by their own retention."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from attribution.cli import main
from attribution.delivery.outbox.base import Finish, NewDelivery, NewOrder, Outbox, Status
from attribution.delivery.outbox.choose import outbox_from
from attribution.orders.conversion import Conversion, Customer, Order
from attribution.orders.record import record_of
from tests.delivery_fakes import FakeVendor, claim_one
from tests.test_cli_process import cli as process
from tests.vendors.google_fakes import google_ads

T = TypeVar("T")
DAY = 86400.0


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def on(spec: str, job: Callable[[Outbox], Awaitable[T]]) -> T:
    async def go() -> T:
        box = outbox_from(spec)
        await box.open()
        try:
            return await job(box)
        finally:
            await box.close()

    return asyncio.run(go())


def checked_out(order_id: str, *vendors: str) -> NewOrder:
    """An order as a checkout of the corrections site records it, for a customer with an email."""
    conversion = Conversion(
        order=Order(id=order_id, value=Decimal("49.90"), currency="BRL"),
        customer=Customer(email="ana@example.com"),
    )
    forms = (*google_ads().identifiers, *FakeVendor.identifiers)
    record = record_of(conversion, tuple(dict.fromkeys(forms)))
    return NewOrder(record, tuple(NewDelivery(v, f"purchase:{order_id}") for v in vendors))


async def deliver(box: Outbox, vendor: str, *, now: float) -> None:
    """Every pending delivery of ``vendor`` delivered at ``now``."""
    claimed = await claim_one(box, "w1", vendor, 100, now=now, lease=60)
    await box.finish("w1", [Finish(d.id, Status.DELIVERED, now, answer="ok") for d in claimed])


@pytest.fixture
def spec(outbox_spec: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An outbox with A-1 waiting for both vendors and A-2 delivered to both; the site's tracker uses it."""
    monkeypatch.setenv("ATTRIBUTION_OUTBOX", outbox_spec)
    monkeypatch.setenv("ATTRIBUTION_TEST_OUTBOX", outbox_spec)
    monkeypatch.delenv("ATTRIBUTION_CONFIG", raising=False)

    async def fill(box: Outbox) -> None:
        now = time.time() - 3600
        await box.enqueue([checked_out("A-2", "google_ads", "fake")], now=now)
        await deliver(box, "google_ads", now=now)
        await deliver(box, "fake", now=now)
        await box.enqueue([checked_out("A-1", "google_ads", "fake")], now=now)

    on(outbox_spec, fill)
    return outbox_spec


def order_of(spec: str, order_id: str) -> tuple[Any, list[tuple[str, str, Status, str | None]]]:
    async def read(box: Outbox) -> Any:
        return await box.order(order_id, "purchase")

    found = on(spec, read)
    assert found is not None
    order, deliveries = found
    return order, [(d.vendor, d.kind, d.status, d.last_error) for d in deliveries]


def test_adjust_and_cancel_an_order_not_sent_yet_without_the_sites_configuration(spec: str) -> None:
    code, text = run("adjust", "A-1", "--value", "12.50")
    assert code == 0, text
    assert text.splitlines() == [
        "order A-1 (purchase): value 12.50",
        "vendor      outcome   reason",
        "google_ads  adjusted  not sent yet: it goes with the new value",
        "fake        adjusted  not sent yet: it goes with the new value",
    ]
    order, _ = order_of(spec, "A-1")
    assert (order.value, order.currency) == (Decimal("12.50"), "BRL")
    code, text = run("cancel", "A-1", "--reason", "chargeback")
    assert code == 0, text
    assert "google_ads  cancelled  not sent yet: it never will be" in text
    order, deliveries = order_of(spec, "A-1")
    assert order.status == "cancelled"
    assert {(status, error) for _, _, status, error in deliveries} == {
        (Status.CANCELLED, "cancelled before it was sent (chargeback)")
    }
    code, text = run("cancel", "A-1")
    assert code == 0
    assert "nothing changed: the same correction was made before" in text


def test_an_unknown_order_exits_non_zero_and_changes_nothing(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = order_of(spec, "A-1")
    assert run("adjust", "NOPE", "--value", "1") == (1, "")
    assert "no order 'NOPE' with event 'purchase' was checked out" in capsys.readouterr().err
    assert run("cancel", "A-1", "--event", "lead") == (1, "")
    assert "nothing was changed" in capsys.readouterr().err
    assert run("adjust", "A-1", "--value", "-3")[0] == 2  # an impossible value is refused before anything is read
    assert "value must be a finite amount of zero or more" in capsys.readouterr().err
    after = order_of(spec, "A-1")
    assert (after[0].value, after[0].status, after[1]) == (before[0].value, before[0].status, before[1])


def test_a_sent_order_needs_the_sites_configuration_and_is_then_told_where_it_can_be(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("adjust", "A-2", "--value", "20") == (2, "")
    err = capsys.readouterr().err
    assert "'A-2' (purchase) was already sent to fake, google_ads" in err
    assert "pass --config module:attr" in err
    assert order_of(spec, "A-2")[0].value == Decimal("49.90")  # nothing changed
    config = ["--config", "tests.cli_corrections_site:tracker"]
    code, text = run(*config, "adjust", "A-2", "--value", "20", "--currency", "usd")
    assert code == 0, text
    assert text.splitlines() == [
        "order A-2 (purchase): value 20 USD",
        "vendor      outcome        reason",
        "google_ads  restated       a restatement is queued",
        "fake        not_supported  fake documents no way to be told of a new value",
    ]
    code, text = run(*config, "cancel", "A-2")
    assert code == 0
    assert "google_ads  retracted      a retraction is queued" in text
    order, deliveries = order_of(spec, "A-2")
    assert (order.value, order.currency, order.status) == (Decimal("20"), "USD", "cancelled")
    assert sorted((v, k, s) for v, k, s, _ in deliveries) == [
        ("fake", "send", Status.DELIVERED),
        ("google_ads", "restate", Status.CANCELLED),  # superseded by the retraction
        ("google_ads", "retract", Status.PENDING),
        ("google_ads", "send", Status.DELIVERED),
    ]


def test_purge_scrubs_orders_with_the_deliveries_and_deletes_them_after_their_own_retention(spec: str) -> None:
    now = time.time()

    async def age(box: Outbox) -> None:
        for order_id, days in (("OLD", 100), ("MID", 40)):
            at = now - days * DAY
            await box.enqueue([checked_out(order_id, "fake")], now=at)
            await deliver(box, "fake", now=at)

    on(spec, age)
    code, text = run("purge", "--older-than", "30d", "--orders-older-than", "60d")
    assert code == 0, text
    assert text.startswith("purged 2 deliveries")
    assert "deleted orders (and their journeys) checked out before" in text

    async def orders(box: Outbox) -> dict[str, Any]:
        return {o: await box.order(o, "purchase") for o in ("OLD", "MID", "A-1", "A-2")}

    found = on(spec, orders)
    assert found["OLD"] is None  # past its own retention: gone, journey and all
    mid, mid_deliveries = found["MID"]
    assert mid.scrubbed  # past the deliveries' retention: the personal parts are gone, the value stays
    assert mid.value == Decimal("49.90")
    assert mid_deliveries == []
    for recent in ("A-1", "A-2"):
        assert not found[recent][0].scrubbed


def test_purge_takes_the_order_retention_from_the_sites_configuration(spec: str) -> None:
    async def age(box: Outbox) -> None:
        at = time.time() - 100 * DAY
        await box.enqueue([checked_out("OLD", "fake")], now=at)
        await deliver(box, "fake", now=at)

    on(spec, age)
    assert run("purge", "--older-than", "30d")[0] == 0  # no --config: orders are kept 400 days
    assert on(spec, lambda box: box.order("OLD", "purchase")) is not None
    code, text = run("--config", "tests.cli_corrections_site:tracker", "purge", "--older-than", "30d")
    assert code == 0, text
    assert on(spec, lambda box: box.order("OLD", "purchase")) is None  # the site keeps them 90 days


def test_adjust_in_a_real_process(spec: str, outbox_spec: str) -> None:
    done = process("--outbox", outbox_spec, "adjust", "A-1", "--value", "7")
    assert done.returncode == 0, done.stderr
    assert "google_ads  adjusted" in done.stdout
    missing = process("--outbox", outbox_spec, "cancel", "NOPE")
    assert missing.returncode == 1
    assert missing.stderr.startswith("attribution: no order 'NOPE' with event 'purchase'")
