"""A payload signed with the site's own key but out of range, of the wrong type or absurd reads as empty
(or as what is valid in it), and never raises: not on reading, not on any read of the attribution."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attribution.capture.cookie import CookieCodec
from attribution.capture.models import Attribution
from attribution.capture.rules import Landing, apply_wire
from attribution.capture.settings import Settings
from tests.support.helpers import SECRET, client

SETTINGS = Settings.build(secret_key=SECRET)
CODEC = CookieCodec(SETTINGS)
NOW = datetime(2026, 11, 1, tzinfo=UTC)
AT = int(NOW.timestamp())


def valid() -> dict[str, Any]:
    touch = [AT, "/a", "news.example", "referral", "s", {"utm_source": "x", "gclid": "G"}]
    return {
        "v": 2,
        "f": [AT - 10, "/f", "", "email", "b", {"utm_medium": "email"}],
        "h": [touch],
        "i": {"fbp": "fb.1.1700000000000.1", "fbc": "fb.1.1700000000000.F"},
        "c": {"twclid": ["T", AT], "ctwa_clid": ["C", AT, {"sendout_id": "s"}]},
    }


def read_everything(attr: Attribution) -> None:
    """Every read an app, a template or a vendor makes."""
    attr.with_windows(SETTINGS.click_id_windows, now=NOW)
    _ = (attr.public(), attr.click_ids, attr.utm, attr.channel, attr.source, attr.touches, attr.fbc)
    _ = (attr.get("gclid"), attr.get("utm_source"), attr.get("fbc"), attr.get("sendout_id"), attr.click("ctwa_clid"))
    _ = (attr.is_empty, attr.first, attr.last, repr(attr))


def exercise(payload: Any) -> Attribution:
    value = CODEC.sign(payload)
    attr = CODEC.decode(value)
    read_everything(attr)
    landing = Landing(params={"gclid": "NEW", "utm_source": "y"}, path="/b", host="shop.example.com")
    updated = apply_wire(CODEC.read(value), landing, now=NOW, settings=SETTINGS)
    assert updated is not None
    read_everything(CODEC.decode(CODEC.encode_wire(updated)))
    return attr


def test_the_valid_sample_reads_whole() -> None:
    attr = exercise(valid())
    expected = {"gclid": "G", "twclid": "T", "ctwa_clid": "C"}
    assert attr.with_windows(SETTINGS.click_id_windows, now=NOW).click_ids == expected


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("h", 0, 0), 10**20),
        (("h", 0, 0), -1),
        (("h", 0, 0), 1.5),
        (("h", 0, 0), True),
        (("f", 0), 10**20),
        (("c", "twclid", 1), 10**20),
        (("c", "twclid", 1), -(10**20)),
        (("c", "twclid"), ["T"]),
        (("c", "twclid"), ["T", AT, {"k": 1}]),
        (("c", "twclid"), "T"),
        (("c",), []),
        (("f",), True),
        (("f",), 0.0),
        (("h", 0, 3), ["referral"]),
        (("h", 0, 5), {"utm_source": None}),
        (("v",), True),
        (("v",), 2.0),
    ],
)
def test_out_of_range_or_mistyped_fields_read_empty(path: tuple[Any, ...], value: Any) -> None:
    payload = valid()
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert exercise(payload).is_empty


def test_a_timestamp_of_10_to_the_20_through_the_site_reads_empty() -> None:
    payload = valid()
    payload["h"][0][0] = 10**20
    c = client()
    c.cookies.set("attribution", CODEC.sign(payload), domain="shop.example.com")
    response = c.get("/show")
    assert response.status_code == 200
    assert response.json()["history"] == 0


def test_an_absurd_fbc_cookie_time_reads_without_raising() -> None:
    payload = valid()
    payload["i"]["fbc"] = "fb.1." + "9" * 400 + ".F"
    attr = exercise(payload)
    assert attr.with_windows(SETTINGS.click_id_windows, now=NOW).fbc == payload["i"]["fbc"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found.extend(_paths(child, (*prefix, key)))
    return found


PATHS = _paths(valid())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JSON)
def test_any_field_replaced_by_any_json_value_never_raises(path: tuple[Any, ...], value: Any) -> None:
    payload = copy.deepcopy(valid())
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    exercise(payload)


@settings(max_examples=200, deadline=None)
@given(payload=JSON)
def test_any_json_payload_never_raises(payload: Any) -> None:
    exercise(payload)


def test_models_built_from_a_payload_equal_what_pydantic_itself_constructs() -> None:
    from attribution.capture.models import Click, Touch
    from attribution.capture.wire import from_wire, parse

    data = parse(valid())
    assert data is not None
    attr = from_wire(data)
    assert attr.first is not None
    for model in (attr.first, *attr.history, *attr.clicks.values()):
        twin = type(model).model_construct(**model.__dict__)
        assert (model, model.model_dump(), repr(model)) == (twin, twin.model_dump(), repr(twin))
        assert model.model_fields_set == twin.model_fields_set
    twin_attr = Attribution.model_construct(**attr.__dict__)
    assert (attr.model_dump(), repr(attr)) == (twin_attr.model_dump(), repr(twin_attr))
    assert isinstance(attr.first, Touch)
    assert all(isinstance(c, Click) for c in attr.clicks.values())


_KEYS = ("gclid", "ctwa_clid")
_PARAMS = st.dictionaries(
    st.sampled_from((*_KEYS, "utm_source", "sendout_id")), st.sampled_from(("A", "B", "C")), max_size=3
)


@settings(max_examples=300, deadline=None)
@given(
    touches=st.lists(st.tuples(st.integers(0, 50), _PARAMS), min_size=0, max_size=7),
    first_apart=st.booleans(),
    stored=st.dictionaries(
        st.sampled_from(_KEYS),
        st.tuples(st.sampled_from(("A", "B", "C")), st.integers(0, 50), st.sampled_from(({}, {"sendout_id": "A"}))),
        max_size=2,
    ),
)
def test_the_stored_form_reads_back_to_the_same_click_ids(
    touches: list[tuple[int, dict[str, str]]], first_apart: bool, stored: dict[str, tuple[str, int, dict[str, str]]]
) -> None:
    from attribution.capture import wire

    wire_touches = [[at, "/", "", "other", "s", params] for at, params in sorted(touches, key=lambda t: t[0])]
    first = wire_touches[0] if wire_touches else None
    history = wire_touches[1:] if first_apart else wire_touches
    clicks = {k: [v, at, p] if p else [v, at] for k, (v, at, p) in stored.items()}
    full = wire.parse(wire.pack(first, history, {}, clicks))
    assert full is not None
    assert wire.parse(wire.compact(full)) == full
