"""A checkout reads the visitor's attribution at one moment, and blanks are left out of payloads as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from attribution.capture.models import Attribution, Click, Touch
from attribution.capture.params import DEFAULT_CLICK_ID_WINDOWS
from attribution.vendors.base import without_empty

CLICKED = datetime(2025, 1, 1, tzinfo=UTC)


def visitor() -> Attribution:
    touch = Touch(at=CLICKED, params={"gclid": "g-1", "utm_source": "google"})
    return Attribution(first=touch, history=[touch], identifiers={"fbp": "fb.1.1.2"})


def test_a_pinned_attribution_reads_at_its_moment_with_the_same_windows() -> None:
    windows = {**DEFAULT_CLICK_ID_WINDOWS, "gclid": timedelta(days=2)}
    live = visitor().with_windows(windows)
    inside = live.pinned(CLICKED + timedelta(days=1))
    after = live.pinned(CLICKED + timedelta(days=3))
    assert inside == live
    assert inside is not live
    assert inside.click_id_windows == windows
    assert (inside.get("gclid"), inside.click_ids) == ("g-1", {"gclid": "g-1"})
    assert (after.get("gclid"), after.click_ids, after.get("fbp")) == (None, {}, "fb.1.1.2")
    assert live.get("gclid") is None  # the visitor's own attribution still reads the clock (long after)


def test_a_pinned_attribution_keeps_a_clock_it_already_has() -> None:
    fixed = visitor().with_windows(DEFAULT_CLICK_ID_WINDOWS, CLICKED + timedelta(hours=1))
    assert fixed.pinned(CLICKED + timedelta(days=400)).get("gclid") == "g-1"
    assert visitor().pinned().get("gclid") is None  # no clock given: the time now, long after the click


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        [],
        {},
        "x",
        " ",
        [0],
        {"a": None},
        0,
        0.0,
        False,
        True,
        Decimal(0),
        Decimal("9.9"),
        (),
        "0",
        Click(value="v", at=CLICKED),
        Touch(at=CLICKED),
    ],
)
def test_without_empty_leaves_out_exactly_none_empty_text_and_empty_containers(value: Any) -> None:
    blank = value is None or value == "" or value == [] or value == {}
    assert without_empty({"k": value}) == ({} if blank else {"k": value})
