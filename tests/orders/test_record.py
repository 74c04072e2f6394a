"""Decoding order records: the worker's fast path (``wire.from_wire(..., copy=False)``, models built without validation
from the decode's own dicts) gives exactly the models the checked paths give, for records of every layout."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from attribution.capture.models import Attribution, Channel, Touch
from attribution.capture.wire import from_wire, parse, to_wire
from attribution.orders.conversion import Conversion
from attribution.orders.record import conversion_of, record_of
from tests.vendors.samples import CTWA, NOW, attribution, purchase, touch
from tests.vendors.test_contract import FULL_CUSTOMER, SAMPLES, everything, layout_1


def first_apart() -> Conversion:
    """A first touch kept apart from a history that moved on (the history overflowed), and a companion click."""
    first = touch(timedelta(days=20), Channel.PAID_SEARCH, referrer="www.google.com", gclid="Cj0-first")
    later = [touch(timedelta(hours=h), Channel.PAID_SOCIAL, utm_source="meta", **CTWA) for h in (30, 5)]
    later.append(Touch(at=NOW - timedelta(hours=1), params={"utm_source": "mail"}, path="/p", via="browser"))
    attr = Attribution(first=first, history=later, identifiers={"fbp": "fb.1.1.2"}).with_windows({}, NOW)
    return purchase(attr, FULL_CUSTOMER)


CASES = {
    "everything": everything,
    "first apart": first_apart,
    "one touch": lambda: purchase(attribution(touch(timedelta(hours=1), utm_source="news")), FULL_CUSTOMER),
    "no touch": lambda: purchase(attribution(identifiers={"ttp": "ttp-1"}), FULL_CUSTOMER),
}


def round_trip(conversion: Conversion) -> tuple[dict[str, Any], dict[str, str], Any]:
    record = record_of(conversion, SAMPLES["meta"]().identifiers)
    return json.loads(json.dumps(record.data)), json.loads(json.dumps(record.identifiers)), record


def same_models(fast: Attribution, checked: Attribution) -> None:
    assert fast == checked
    assert (fast.model_dump(), repr(fast)) == (checked.model_dump(), repr(checked))
    assert fast.model_fields_set == checked.model_fields_set
    pairs = [(fast.first, checked.first), *zip(fast.history, checked.history, strict=True)]
    pairs += [(fast.clicks[k], checked.clicks[k]) for k in checked.clicks]
    for mine, theirs in pairs:
        assert (mine, type(mine)) == (theirs, type(theirs))
        if mine is not None and theirs is not None:
            assert (mine.model_dump(), repr(mine), mine.model_fields_set) == (
                theirs.model_dump(),
                repr(theirs),
                theirs.model_fields_set,
            )
            assert mine.__pydantic_private__ == theirs.__pydantic_private__
            assert mine.__pydantic_extra__ == theirs.__pydantic_extra__


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_records_attribution_decodes_to_what_the_checked_paths_build(case: str) -> None:
    conversion = CASES[case]()
    data, _, _ = round_trip(conversion)
    wire = data["attribution"]
    fast = from_wire(copy.deepcopy(wire), copy=False)
    same_models(fast, from_wire(copy.deepcopy(wire)))  # the cookie's path, copying
    checked = parse(copy.deepcopy(wire))  # checked down to every field, then built
    assert checked is not None
    same_models(fast, from_wire(checked))
    same_models(fast, Attribution.model_validate(fast.model_dump()))  # pydantic's own validation
    assert to_wire(fast) == wire
    assert fast.first is (fast.history[0] if wire["f"] == 0 else fast.first)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_record_decodes_to_the_conversion_checkout_read(case: str) -> None:
    conversion = CASES[case]()
    data, identifiers, record = round_trip(conversion)
    rebuilt = conversion_of(record.order_id, record.event, record.value, record.currency, data, identifiers)
    assert rebuilt.attribution == conversion.attribution
    assert rebuilt.attribution.click_ids == conversion.attribution.click_ids
    assert rebuilt.attribution.source == conversion.attribution.source
    assert (rebuilt.order, rebuilt.context) == (conversion.order, conversion.context)
    assert rebuilt.event_time == conversion.event_time
    assert rebuilt.__pydantic_private__ is not None
    assert rebuilt.__pydantic_private__["_stored"] == identifiers
    assert identifiers
    for form in SAMPLES["meta"]().identifiers:
        assert rebuilt.identifier(form) == identifiers.get(form.name)
    validated = Conversion.model_validate(rebuilt.model_dump())
    assert validated.model_dump() == rebuilt.model_dump()


def test_a_record_of_layout_1_decodes_to_the_models_of_layout_2() -> None:
    """Layout 1 (the cookie's compact form, checked and its click ids derived) and layout 2 (the fast path) of the
    same order give the same attribution."""
    old = layout_1().conversion()
    data, identifiers, record = round_trip(everything())
    new = conversion_of(record.order_id, record.event, record.value, record.currency, data, identifiers)
    same_models(new.attribution, old.attribution)


def test_two_decodes_of_one_text_share_nothing_they_could_change() -> None:
    """The fast path keeps the decoded dicts in its models: each decode of a record has its own."""
    text = json.dumps(record_of(everything(), ()).data)
    first, second = (from_wire(json.loads(text)["attribution"], copy=False) for _ in range(2))
    assert first == second
    assert first.history[0].params is not second.history[0].params
    assert isinstance(first.history[0], Touch)


def test_a_record_keeps_each_form_as_derived_from_the_customer_whatever_the_checks_derived_before() -> None:
    """The record reads the customer's forms through the conversion, where the vendors' checks left the forms they
    derived: what it keeps is each declared form exactly as derived from the customer, no more, no fewer."""
    from attribution.orders import pii
    from attribution.orders.identifiers import derive_all, union

    vendors = [make() for make in SAMPLES.values()]
    forms = union(v.identifiers for v in vendors)
    for name, case in CASES.items():
        fresh, checked = case(), case()
        with checked.attribution.read_once(), pii.hashing_once():
            for vendor in vendors:
                vendor.check(checked)  # fills the conversion's forms, some of them outside ``forms[:5]``
            kept = record_of(checked, forms[:5]).identifiers
        assert kept == derive_all(forms[:5], checked.customer), name
        assert record_of(fresh, forms).identifiers == derive_all(forms, fresh.customer), name
        assert set(record_of(fresh, forms).identifiers) <= {form.name for form in forms}
