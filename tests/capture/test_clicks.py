"""Click ids are facts about the visitor for their whole window: kept per id, not per touch."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta

from attribution.capture.cookie import CookieCodec
from attribution.capture.settings import Settings
from tests.support.helpers import SECRET, client, set_cookie_headers

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_click_id_outlives_the_touches_that_push_its_landing_out_of_the_history() -> None:
    now = {"t": T0}
    c = client(clock=lambda: now["t"])
    c.get("/show?utm_source=blog&utm_medium=referral")  # the first touch, which is always kept
    now["t"] += timedelta(days=1)
    c.get("/show?twclid=X-CLICK-1&utm_source=x&utm_medium=paid_social")
    for i in range(6):  # more landings than the history keeps (5 besides the first)
        now["t"] += timedelta(days=1)
        c.get(f"/show?utm_source=partner{i}&utm_medium=referral")
    now["t"] += timedelta(days=20)  # day 27, 26 days after the click: inside twclid's 30-day window
    body = c.get("/show").json()
    assert body["history"] == 5
    assert body["first"]["params"] == {"utm_source": "blog", "utm_medium": "referral"}
    assert body["click_ids"] == {"twclid": "X-CLICK-1"}
    now["t"] += timedelta(days=5)  # 31 days after the click: past the window, and only the window removed it
    assert c.get("/show").json()["click_ids"] == {}


def test_the_newest_value_of_a_click_id_wins_and_keeps_its_own_click_time() -> None:
    now = {"t": T0}
    c = client(clock=lambda: now["t"], click_id_windows={"gclid": 10})
    c.get("/show?gclid=OLD")
    now["t"] += timedelta(days=5)
    c.get("/show?gclid=NEW&utm_source=google&utm_medium=cpc")
    now["t"] += timedelta(days=1)
    c.get("/show?gclid=NEW&utm_campaign=repeat")  # the same click again: its time stays day 5
    now["t"] += timedelta(days=8)  # day 14: NEW was clicked 9 days ago
    assert c.get("/show").json()["click_ids"] == {"gclid": "NEW"}
    now["t"] += timedelta(days=2)  # day 16: 11 days since the click, although seen again on day 6
    assert c.get("/show").json()["click_ids"] == {}


def test_a_cookie_of_the_previous_format_still_reads_with_its_click_ids() -> None:
    """A version 1 cookie (touches only, no click-id store) as the previous release wrote it."""
    codec = CookieCodec(Settings.build(secret_key=SECRET))
    at = int((datetime.now(UTC) - timedelta(days=3)).timestamp())
    v1 = {
        "v": 1,
        "f": 0,
        "h": [
            [at - 60, "/ad", "", "paid_search", "s", {"gclid": "G-OLD", "utm_source": "google"}],
            [at, "/x", "t.co", "paid_social", "s", {"twclid": "TW-1", "gclid": "G-NEW"}],
            [at + 60, "/y", "news.example", "referral", "s", {}],
        ],
        "i": {"fbp": "fb.1.1700000000000.42"},
    }
    c = client()
    c.cookies.set("attribution", codec.sign(v1), domain="shop.example.com")
    body = c.get("/show").json()
    assert body["click_ids"] == {"gclid": "G-NEW", "twclid": "TW-1"}
    assert body["identifiers"] == {"fbp": "fb.1.1700000000000.42"}
    assert body["history"] == 3
    assert body["first"]["path"] == "/ad"
    # the next landing rewrites it in the current format, click ids and all
    c.get("/show?utm_source=a&utm_medium=email")
    for i in range(5):
        c.get(f"/show?utm_source=b{i}&utm_medium=email")
    assert c.get("/show").json()["click_ids"] == {"gclid": "G-NEW", "twclid": "TW-1"}


def _random_id(n: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


def test_every_click_id_at_its_length_limit_stays_within_the_cookie_budget() -> None:
    now = {"t": T0}
    c = client(clock=lambda: now["t"])
    ids = ("gclid", "fbclid", "msclkid", "ttclid", "twclid", "li_fat_id", "rdt_cid", "sccid", "epik")
    sent: dict[str, str] = {}
    for name in ids:
        now["t"] += timedelta(minutes=1)
        sent[name] = _random_id(500)  # incompressible, at the 500-character id limit
        response = c.get(f"/show?{name}={sent[name]}")
        (header,) = set_cookie_headers(response)
        assert len(header.encode()) < 4096
    kept = c.get("/show").json()["click_ids"]
    assert kept  # the newest clicks are kept, each with its own value
    assert all(sent[name] == value for name, value in kept.items())
    assert ids[-1] in kept


def test_a_click_id_that_merely_expired_does_not_rewrite_the_cookie_on_every_page() -> None:
    now = {"t": T0}
    c = client(clock=lambda: now["t"])
    c.get("/show?gclid=G-1&utm_source=google&utm_medium=cpc")
    now["t"] += timedelta(days=1)
    c.get("/show?utm_source=news&utm_medium=email")
    now["t"] += timedelta(days=100)  # gclid's 90 days are over
    reload = c.get("/show?utm_source=news&utm_medium=email")  # the same landing again: nothing new
    assert reload.json()["click_ids"] == {}
    assert set_cookie_headers(reload) == []
