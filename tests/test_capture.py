"""Capture rules as pure functions: parameter cleaning, referrers, browser ids, fbc, channels."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from capi_param_builder import ParamBuilder
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.capture import wire
from attribution.capture.channels import classify
from attribution.capture.models import Channel
from attribution.capture.params import MAX_TEXT_LENGTH, TRACKED_PARAMS
from attribution.capture.rules import (
    Landing,
    apply_wire,
    build_fbc,
    clean_value,
    external_referrer,
    fbc_subdomain_index,
    identifiers_from_cookies,
    tracked_params,
)
from attribution.capture.settings import Settings

TRACKED = frozenset(TRACKED_PARAMS)
SETTINGS = Settings.build(secret_key="capture-test-key-5Jr8wQ2mZx7N")
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_first_non_empty_value_of_a_duplicate_parameter_wins() -> None:
    assert tracked_params("utm_source=a&utm_source=b", TRACKED) == {"utm_source": "a"}
    assert tracked_params("utm_source=&utm_source=b", TRACKED) == {"utm_source": "b"}


def test_untracked_and_empty_parameters_are_ignored() -> None:
    assert tracked_params("page=2&utm_medium=&q=x", TRACKED) == {}


def test_a_10kb_text_value_is_cut_and_a_10kb_id_is_dropped() -> None:
    found = tracked_params(urlencode({"utm_campaign": "c" * 10_000, "gclid": "g" * 10_000}), TRACKED)
    assert found == {"utm_campaign": "c" * MAX_TEXT_LENGTH}


def test_a_thousand_parameters_keep_the_tracked_ones() -> None:
    query = "&".join(f"p{i}=v{i}" for i in range(1000)) + "&utm_source=news&gclid=G1"
    assert tracked_params(query, TRACKED) == {"utm_source": "news", "gclid": "G1"}


def test_an_absurd_number_of_fields_still_parses_the_first_ones() -> None:
    query = "utm_source=first&" + "&".join(f"p{i}=v" for i in range(50_000))
    assert tracked_params(query, TRACKED) == {"utm_source": "first"}


def test_broken_percent_encoding_is_kept_literally_and_nul_is_stripped() -> None:
    assert tracked_params("utm_source=50%zz&utm_medium=a%00b", TRACKED) == {
        "utm_source": "50%zz",
        "utm_medium": "ab",
    }


def test_an_id_with_a_nul_or_space_is_not_an_id() -> None:
    assert tracked_params("gclid=ab%00cd&fbclid=a%20b", TRACKED) == {}


def test_non_utf8_bytes_are_dropped_from_text_and_reject_ids() -> None:
    found = tracked_params("utm_source=caf%E9&gclid=x%FFy", TRACKED)
    assert found == {"utm_source": "caf"}


def test_unicode_text_is_kept() -> None:
    assert tracked_params("utm_campaign=%E6%98%A5%E5%AD%A3-s%C3%A3o", TRACKED) == {"utm_campaign": "春季-são"}


def test_fbclid_is_kept_verbatim_case_and_all() -> None:
    fbclid = "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"
    assert tracked_params(f"fbclid={fbclid}", TRACKED) == {"fbclid": fbclid}


def test_extra_params_are_captured_when_configured() -> None:
    settings = Settings.build(secret_key="capture-test-key-5Jr8wQ2mZx7N", extra_params=["ref_code"])
    assert tracked_params("ref_code=ABC", settings.tracked_params) == {"ref_code": "ABC"}
    assert tracked_params("ref_code=ABC", TRACKED) == {}


@pytest.mark.parametrize(
    ("referer", "expected"),
    [
        ("https://www.google.com/search?q=x", "www.google.com"),
        ("https://shop.example.com/cart", None),
        ("https://www.paypal.com/checkoutnow", None),
        ("not a url", None),
        ("http://[::1", None),
        ("", None),
    ],
)
def test_external_referrer(referer: str, expected: str | None) -> None:
    assert external_referrer(referer, "shop.example.com", SETTINGS) == expected


def test_subdomains_of_the_cookie_domain_are_internal() -> None:
    settings = Settings.build(secret_key="capture-test-key-5Jr8wQ2mZx7N", domain=".example.com")
    assert external_referrer("https://blog.example.com/post", "shop.example.com", settings) is None


def test_identifiers_from_cookies_keep_the_ga4_client_id() -> None:
    cookies = {
        "_ga": "GA1.1.1234567890.1700000000",
        "_fbp": "fb.1.1700000000000.987654321",
        "dp_pid": "pid-42",
        "_wuid": "w-1",
        "_rdtrk": "rd-1",
        "_ttp": "ttp-1",
        "other": "x",
    }
    assert identifiers_from_cookies(cookies) == {
        "ga": "1234567890.1700000000",
        "fbp": "fb.1.1700000000000.987654321",
        "dp_pid": "pid-42",
        "wuid": "w-1",
        "rdtrk": "rd-1",
        "ttp": "ttp-1",
    }


def test_a_malformed_ga_cookie_is_ignored() -> None:
    assert identifiers_from_cookies({"_ga": "garbage"}) == {}


@pytest.mark.parametrize(
    ("host", "domain"),
    [("example.com", None), ("shop.example.com", None), ("shop.example.com", "example.com"), ("127.0.0.1", None)],
)
def test_fbc_matches_metas_own_param_builder(host: str, domain: str | None) -> None:
    fbclid = "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"
    builder = ParamBuilder([domain] if domain else None)
    builder.process_request(host, {"fbclid": [fbclid]}, {}, None)
    theirs = builder.get_fbc()
    assert theirs is not None
    ours = build_fbc(fbclid, NOW, host, domain)
    # Same scheme, subdomain index and click id; the creation time is each one's own clock, and Meta's
    # builder appends an optional fifth segment naming itself.
    t_parts, o_parts = theirs.split("."), ours.split(".")
    assert o_parts[0] == t_parts[0] == "fb"
    assert o_parts[1] == t_parts[1]
    assert o_parts[3] == t_parts[3] == fbclid
    assert o_parts[2] == str(int(NOW.timestamp() * 1000))
    assert len(o_parts) == 4


def test_fbc_subdomain_index() -> None:
    assert fbc_subdomain_index("example.com", None) == 1
    assert fbc_subdomain_index("www.example.co.uk", "example.co.uk") == 2
    assert fbc_subdomain_index("[::1]", None) == 0
    assert fbc_subdomain_index("localhost", None) == 0
    # the registrable domain, where Meta's builder drops the first label (co.uk, b.example.com)
    assert fbc_subdomain_index("example.co.uk", None) == 2
    assert fbc_subdomain_index("www.example.co.uk", None) == 2
    assert fbc_subdomain_index("a.b.example.com", None) == 1


@pytest.mark.parametrize("host", ["example.co.uk", "www.example.co.uk", "a.b.example.com", "shop.example.com"])
def test_the_fbc_sent_and_the_fbc_cookie_written_agree_on_the_subdomain_index(host: str) -> None:
    from attribution.web.meta_cookies import MetaCookies

    written = MetaCookies().updates(host, {}, "IwAR-x", 1)["_fbc"]
    assert build_fbc("IwAR-x", NOW, host, None).split(".")[1] == written.split(".")[1]


def test_fbclid_builds_fbc_when_the_cookie_is_missing_or_holds_another_click() -> None:
    landing = Landing(params={"fbclid": "NEW"}, host="example.com", cookies={"fbc": "fb.1.1.OLD"})
    updated = apply_wire(None, landing, now=NOW, settings=SETTINGS)
    assert updated is not None
    assert updated["i"]["fbc"] == f"fb.1.{int(NOW.timestamp() * 1000)}.NEW"


def test_an_fbc_cookie_for_the_same_click_passes_through_unchanged() -> None:
    cookie = "fb.1.1700000000000.SAME.AQIBAAAB"
    landing = Landing(params={"fbclid": "SAME"}, host="example.com", cookies={"fbc": cookie})
    updated = apply_wire(None, landing, now=NOW, settings=SETTINGS)
    assert updated is not None
    assert updated["i"]["fbc"] == cookie


def test_the_same_landing_twice_changes_nothing() -> None:
    landing = Landing(params={"utm_source": "x"}, path="/a")
    once = apply_wire(None, landing, now=NOW, settings=SETTINGS)
    assert once is not None
    assert apply_wire(once, landing, now=NOW + timedelta(minutes=1), settings=SETTINGS) is None


def test_capture_never_mutates_the_payload_it_is_given() -> None:
    current = apply_wire(None, Landing(params={"utm_source": "x", "gclid": "G"}, path="/a"), now=NOW, settings=SETTINGS)
    assert current is not None
    before = repr(current)
    later = Landing(params={"gclid": "G2"}, path="/b", cookies={"fbp": "fb.1.1.2"})
    assert apply_wire(current, later, now=NOW + timedelta(days=1), settings=SETTINGS) is not None
    assert repr(current) == before


def test_history_is_capped_and_first_touch_kept() -> None:
    data = None
    for i in range(12):
        data = apply_wire(data, Landing(params={"utm_campaign": f"c{i}"}), now=NOW, settings=SETTINGS)
        assert data is not None
    assert data is not None
    attr = wire.from_wire(data)
    assert len(attr.history) == 5
    assert attr.first is not None
    assert attr.first.params == {"utm_campaign": "c0"}
    assert attr.last is not None
    assert attr.last.params == {"utm_campaign": "c11"}


@pytest.mark.parametrize(
    ("params", "referrer", "channel"),
    [
        ({"gclid": "x"}, None, Channel.PAID_SEARCH),
        ({"msclkid": "x"}, None, Channel.PAID_SEARCH),
        ({"dclid": "x"}, None, Channel.DISPLAY),
        ({"ttclid": "x"}, None, Channel.PAID_SOCIAL),
        ({"ctwa_clid": "x", "cnct_tracking_id": "t"}, None, Channel.PAID_SOCIAL),
        ({"fbclid": "x"}, "l.facebook.com", Channel.ORGANIC_SOCIAL),
        ({"fbclid": "x", "utm_medium": "paid_social"}, None, Channel.PAID_SOCIAL),
        ({"utm_source": "facebook", "utm_medium": "cpc"}, None, Channel.PAID_SOCIAL),
        ({"utm_source": "google", "utm_medium": "cpc"}, None, Channel.PAID_SEARCH),
        ({"utm_source": "partner", "utm_medium": "cpa"}, None, Channel.PAID_OTHER),
        ({"utm_medium": "email"}, None, Channel.EMAIL),
        ({"utm_medium": "Newsletter"}, None, Channel.EMAIL),
        ({"utm_medium": "sms"}, None, Channel.SMS),
        ({"utm_medium": "affiliate"}, None, Channel.AFFILIATE),
        ({"utm_medium": "banner"}, None, Channel.DISPLAY),
        ({"utm_medium": "social"}, None, Channel.ORGANIC_SOCIAL),
        ({"utm_source": "newsletter"}, None, Channel.OTHER),
        ({}, "www.google.co.uk", Channel.ORGANIC_SEARCH),
        ({}, "duckduckgo.com", Channel.ORGANIC_SEARCH),
        ({}, "t.co", Channel.ORGANIC_SOCIAL),
        ({}, "mail.google.com", Channel.EMAIL),
        ({}, "news.ycombinator.com", Channel.ORGANIC_SOCIAL),
        ({}, "blog.example.org", Channel.REFERRAL),
        ({}, "www.google.com.br", Channel.ORGANIC_SEARCH),
        ({}, "search.yahoo.com", Channel.ORGANIC_SEARCH),
        ({}, "docs.google.com", Channel.REFERRAL),
        ({}, "www.cnn.com", Channel.REFERRAL),
        ({}, "lm.facebook.com", Channel.ORGANIC_SOCIAL),
        ({}, "m.youtube.com", Channel.ORGANIC_SOCIAL),
        ({}, "wa.me", Channel.ORGANIC_SOCIAL),
        ({}, "chatgpt.com", Channel.AI_ASSISTANT),
        ({}, "www.perplexity.ai", Channel.AI_ASSISTANT),
        ({}, "gemini.google.com", Channel.AI_ASSISTANT),
        ({}, "claude.ai", Channel.AI_ASSISTANT),
        ({"utm_source": "chatgpt.com"}, None, Channel.AI_ASSISTANT),
        ({"utm_source": "chatgpt.com", "utm_medium": "referral"}, None, Channel.AI_ASSISTANT),
        ({"utm_source": "bing"}, None, Channel.ORGANIC_SEARCH),
        ({"utm_source": "fb"}, None, Channel.ORGANIC_SOCIAL),
        ({"yclid": "x"}, None, Channel.PAID_SEARCH),
        ({"gad_source": "1"}, None, Channel.PAID_SEARCH),
        ({"qclid": "x"}, None, Channel.PAID_SOCIAL),
        ({"irclickid": "x"}, None, Channel.AFFILIATE),
        ({"mc_cid": "x"}, None, Channel.EMAIL),
        ({"_kx": "x"}, "mail.example.net", Channel.EMAIL),
        ({}, "nyt.com", Channel.REFERRAL),
        ({}, None, Channel.DIRECT),
    ],
)
def test_channels(params: dict[str, str], referrer: str | None, channel: Channel) -> None:
    assert classify(params, referrer) is channel


_REFERENCE_ID = re.compile(r"^[\x21-\x7e]+$")
# control characters (C0 and C1), U+FFFD (what bytes that were not UTF-8 decode to), and the invisible characters
# that reorder or hide text: bidirectional marks, overrides and isolates, zero-width space, line separators, BOM
_REFERENCE_INVISIBLE = frozenset(
    ["\u061c", "\u200b", "\u200e", "\u200f", "\ufeff", "\ufffd"]
    + [chr(c) for c in (*range(0x2028, 0x202F), *range(0x2060, 0x2065), *range(0x2066, 0x206A))]
)


def _reference_text(raw: str) -> str:
    return "".join(c for c in raw if unicodedata.category(c) != "Cc" and c not in _REFERENCE_INVISIBLE)


@settings(max_examples=400, deadline=None)
@given(
    raw=st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
    | st.text(alphabet="ab \t\x00\x7f\x1f\x85\u200b\u200d\u202e\u2066\ufffd", max_size=12)
)
def test_the_cleaner_keeps_exactly_what_the_rules_say(raw: str) -> None:
    # the rules, written the plain way: ids are printable ASCII without spaces, text loses control characters
    stripped = raw.strip()
    expected_id = stripped if stripped and len(stripped) <= 500 and _REFERENCE_ID.match(stripped) else None
    assert clean_value("gclid", raw) == expected_id
    expected_text = _reference_text(raw).strip()[:MAX_TEXT_LENGTH] or None
    assert clean_value("utm_source", raw) == expected_text
