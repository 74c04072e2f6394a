"""The signed cookie: round trip, rotation, tampering, expiry, wrong shapes, and the size budget."""

from __future__ import annotations

import base64
import logging
import secrets
import string
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from attribution.capture import wire
from attribution.capture.cookie import MAX_NAME_VALUE_BYTES, CookieCodec
from attribution.capture.models import Attribution, Touch
from attribution.capture.rules import Landing, apply_wire
from attribution.capture.settings import Settings

KEY = "cookie-test-key-7Qm2vX9pL4sD"
NOW = datetime.now(UTC).replace(microsecond=0)


def codec(*keys: str, **options: object) -> CookieCodec:
    return CookieCodec(Settings.build(secret_key=list(keys) or KEY, **options))  # type: ignore[arg-type]


def sample() -> Attribution:
    first = Touch(at=NOW - timedelta(days=3), params={"utm_source": "google", "gclid": "G"}, path="/a")
    last = Touch(at=NOW, params={"utm_source": "news"}, path="/b", referrer="mail.google.com")
    return Attribution(first=first, history=[first, last], identifiers={"fbp": "fb.1.2.3"})


def test_round_trip() -> None:
    c = codec()
    decoded = c.decode(c.encode(sample()))
    assert decoded == sample()
    assert decoded.first == decoded.history[0]


def test_first_touch_outside_history_round_trips() -> None:
    attr = sample()
    attr = Attribution(first=attr.first, history=attr.history[1:], identifiers={})
    c = codec()
    assert c.decode(c.encode(attr)) == attr


def test_a_cookie_signed_with_an_old_key_still_reads_and_new_cookies_use_the_new_key() -> None:
    old_key, new_key = "old-key-4fTq8wZr1nBx", "new-key-9sKd3mVp7cLh"
    old_value = codec(old_key).encode(sample())
    rotated = codec(new_key, old_key)
    assert rotated.decode(old_value) == sample()
    fresh = rotated.encode(sample())
    assert codec(new_key).decode(fresh) == sample()
    assert codec(old_key).decode(fresh).is_empty


def test_a_cookie_signed_with_an_unknown_key_reads_empty() -> None:
    assert codec("unknown-key-2gHs6yNq8wRt").decode(codec().encode(sample())).is_empty


def test_a_tampered_cookie_reads_empty_and_logs_no_value(caplog: pytest.LogCaptureFixture) -> None:
    value = codec().encode(sample())
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    with caplog.at_level(logging.DEBUG, logger="attribution"):
        assert codec().decode(flipped).is_empty
    assert caplog.records
    assert all(flipped not in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


@pytest.mark.parametrize("raw", ["", "garbage", "a.b.c", "\x00\xff", "=" * 100, "é" * 50])
def test_malformed_cookies_read_empty(raw: str) -> None:
    assert codec().decode(raw).is_empty


def test_an_oversized_cookie_reads_empty() -> None:
    assert codec().decode("x" * (MAX_NAME_VALUE_BYTES + 1)).is_empty


def test_an_expired_cookie_reads_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    from attribution.capture.wire import to_wire

    with monkeypatch.context() as m:  # sign as if two minutes ago
        m.setattr(TimestampSigner, "get_timestamp", lambda self: int(NOW.timestamp()) - 120)
        stale = codec().sign(to_wire(sample()))
    assert codec(max_age=60).decode(stale).is_empty
    assert codec().decode(stale) == sample()  # the same value is fine under the 90-day default


@pytest.mark.parametrize(
    "payload",
    [
        {"v": 1, "f": None, "h": "not a list", "i": {}},
        {"v": 1, "f": None, "h": [[1, 2, 3]], "i": {}},
        {"v": 1, "f": None, "h": [["time", "/", "", "direct", "s", {}]], "i": {}},
        {"v": 1, "f": None, "h": [[1, "/", "", "no_such_channel", "s", {}]], "i": {}},
        {"v": 1, "f": None, "h": [], "i": {"fbp": 5}},
        {"v": 1, "f": None, "h": []},
        {"v": 0, "f": None, "h": [], "i": {}},
        ["a", "list"],
        "a string",
        None,
    ],
)
def test_a_validly_signed_cookie_of_the_wrong_shape_reads_empty(payload: object) -> None:
    assert codec().decode(codec().sign(payload)).is_empty


def test_an_old_format_cookie_reads_empty() -> None:
    serializer = URLSafeTimedSerializer([KEY], salt="attribution.cookie.v1")  # an itsdangerous-style value
    assert codec().decode(serializer.dumps({"first": {"utm_source": "x"}})).is_empty
    assert codec().decode(codec().sign({"first": {"utm_source": "x"}})).is_empty


def _random_id(n: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits + "-_") for _ in range(n))


def test_fifty_long_landings_stay_under_4096_bytes_and_keep_first_and_last_touch() -> None:
    settings = Settings.build(secret_key=KEY)
    c = CookieCodec(settings)
    data = None
    for i in range(50):
        # random (incompressible) values at the length caps, on every tracked text and id field we can
        params = {
            "utm_source": _random_id(200),
            "utm_medium": _random_id(200),
            "utm_campaign": _random_id(200),
            "utm_content": _random_id(200),
            "utm_term": _random_id(200),
            "gclid": _random_id(400),
            "fbclid": _random_id(400),
        }
        landing = Landing(params=params, path="/landing/" + _random_id(150), host="shop.example.com")
        data = apply_wire(data, landing, now=NOW + timedelta(seconds=i), settings=settings)
        assert data is not None
        attr = wire.from_wire(data)
        value = c.encode_wire(data)
        header = c.set_cookie(value, secure=True)
        assert len(header.encode()) < 4096
        decoded = c.decode(value)
        assert decoded.first is not None
        assert decoded.last is not None
        assert decoded.first.params["gclid"] == attr.first.params["gclid"]  # type: ignore[union-attr]
        assert decoded.last.params["gclid"] == attr.last.params["gclid"]  # type: ignore[union-attr]


def test_middle_touches_are_dropped_oldest_first() -> None:
    settings = Settings.build(secret_key=KEY)
    c = CookieCodec(settings)
    data = None
    for i in range(5):
        params = {"utm_campaign": _random_id(200), "utm_content": _random_id(200), "gclid": _random_id(450)}
        landing = Landing(params=params, path=f"/{i}")
        data = apply_wire(data, landing, now=NOW, settings=settings) or data
    assert data is not None
    decoded = c.decode(c.encode_wire(data))
    kept = [t.path for t in decoded.history]
    assert kept[0] == "/0"
    assert kept[-1] == "/4"
    assert len(kept) < 5
    assert kept == sorted(kept)  # what remains is the newest of the middle, in order
    dropped = 5 - len(kept)
    assert kept[1:-1] == [f"/{i}" for i in range(1 + dropped, 4)]


def test_set_cookie_attributes() -> None:
    c = codec(domain=".example.com", max_age=3600)
    header = c.set_cookie("VALUE", secure=True)
    assert header == "attribution=VALUE; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Domain=example.com; Secure"
    cleared = c.clear_cookie(secure=False)
    assert cleared == 'attribution=""; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Domain=example.com'


def test_a_cached_cookie_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    from attribution.capture import cookie as cookie_module

    c = codec(max_age=60)
    signed_at = datetime.now(UTC)  # not the module's NOW: a long suite may reach this test minutes after import
    value = c.encode(sample())
    assert c.decode(value) == sample()  # verified and cached now

    monkeypatch.setattr(cookie_module, "_now", lambda: (signed_at + timedelta(minutes=5)).timestamp())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(signed_at.timestamp()) + 300)
    assert c.decode(value).is_empty


def test_the_payload_is_the_json_text_the_standard_encoder_writes() -> None:
    """The encoder made once writes exactly what ``json.dumps`` would: non-ASCII kept, nothing escaped twice."""
    import json

    from attribution.capture.cookie import _wire_json

    data = wire.to_wire(sample())
    data["h"][1][5]["utm_campaign"] = 'Sommer "Aktion" ü/€ \\ <b>'
    data["i"]["ga"] = "1.2"
    expected = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    assert _wire_json(data) == expected
    assert codec().verified_payload(codec().encode_wire(data)) == json.loads(json.dumps(wire.compact(data)))


def test_signing_is_byte_for_byte_what_timestamp_signer_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    now = {"t": 1_700_000_000}
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now["t"])
    ours = codec("new-key-9sKd3mVp7cLh", KEY)._signer  # signs with the newest key
    stock = TimestampSigner(["new-key-9sKd3mVp7cLh"], salt="attribution.cookie.v1")
    for t in (1_700_000_000, 1_700_000_000, 1_700_000_001, 255, 2**40):  # the time's encoding changes
        now["t"] = t
        assert ours.sign(b"payload.with.dots") == stock.sign(b"payload.with.dots")
        assert ours.sign("text") == stock.sign("text")


def test_a_compressed_zip_bomb_reads_empty() -> None:
    c = codec()
    bomb = b"." + base64.urlsafe_b64encode(zlib.compress(b"[" * 2_000_000, 9)).rstrip(b"=")
    assert len(bomb) < 3000
    assert c.decode(c._signer.sign(bomb).decode()).is_empty


def test_cookies_verify_with_stock_itsdangerous_and_back() -> None:
    # the one-shot HMAC is an optimisation only: values are exactly what TimestampSigner makes
    stock = TimestampSigner([KEY], salt="attribution.cookie.v1")
    value = codec().encode(sample())
    assert stock.unsign(value)
    assert codec()._signer.unsign(stock.sign(b"payload")) == b"payload"


def test_a_cookie_the_site_wrote_always_reads_back_even_when_it_would_decode_past_the_readers_cap() -> None:
    """Every tracked parameter at its length limit with repetitive values compresses very well: six such
    landings once made a 1.7 KB cookie that decoded to 77 KB, past the reader's cap, so it read empty."""
    from attribution.capture.cookie import MAX_DECODED_BYTES
    from attribution.capture.params import TRACKED_PARAMS, UTM_PARAMS
    from tests.helpers import COOKIE, SECRET, client

    c = client()
    for i in range(6):
        params = {key: (str(i) + "a" * 199 if key in UTM_PARAMS else str(i) + "b" * 499) for key in TRACKED_PARAMS}
        query = "&".join(f"{key}={value}" for key, value in params.items())
        response = c.get(f"/show?{query}", headers={"referer": f"https://ref{i}.example.org/"})
        assert response.status_code == 200
    value = c.cookies[COOKIE]
    raw = codec(SECRET)._host_signer.unsign(value)
    decoded = base64.urlsafe_b64decode(raw[1:] + b"=" * (-len(raw[1:]) % 4))
    assert len(zlib.decompress(decoded)) <= MAX_DECODED_BYTES
    body = c.get("/show").json()
    assert body["first"] is not None
    assert body["first"]["params"]["utm_source"] == "0" + "a" * 199  # the first touch survived
    assert body["last"]["params"]["utm_source"] == "5" + "a" * 199
    assert body["click_ids"]["gclid"] == "5" + "b" * 499
