"""Server-set ``_fbp`` / ``_fbc``: through real HTTP, against Meta's own parameter builder, and off by default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from capi_param_builder import ParamBuilder
from capi_param_builder import param_builder as builder_module
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution import AttributionMiddleware, Order, Tracker
from attribution.errors import ConfigurationError
from attribution.web.meta_cookies import MODIFIED, NET_NEW, NO_CHANGE, MetaCookies, fbclid_of
from tests.support.delivery_fakes import FakeVendor, event_for
from tests.support.helpers import NAVIGATION, SECRET, client, make_app, set_cookie_headers

NOW = datetime(2026, 11, 20, 9, 30, 15, 123000, tzinfo=UTC)
NOW_MS = 1795167015123
FBCLID = "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"
UK = "https://www.example.co.uk"


def meta_cookie_headers(response: Any) -> dict[str, str]:
    """``{"_fbp": "<the whole Set-Cookie value>", ...}`` for the Meta cookies a response sets."""
    found = {}
    for header in set_cookie_headers(response):
        name = header.split("=", 1)[0]
        if name in ("_fbp", "_fbc"):
            found[name] = header
    return found


def value_of(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def uk_client(clock: list[datetime] | None = None, **options: Any) -> TestClient:
    times = clock or [NOW]
    return client(base_url=UK, meta_cookies=True, clock=lambda: times[0], **options)


# -- through the middleware ----------------------------------------------------------------------------------


def test_a_first_visit_from_an_ad_gets_both_cookies_on_the_registrable_domain_and_captures_them() -> None:
    c = uk_client()
    response = c.get(f"/show?utm_source=facebook&fbclid={FBCLID}")
    cookies = meta_cookie_headers(response)
    fbp, fbc = value_of(cookies["_fbp"]), value_of(cookies["_fbc"])
    assert fbc == f"fb.2.{NOW_MS}.{FBCLID}.{NET_NEW}"
    prefix, index, created, random, extra = fbp.split(".")
    assert (prefix, index, created, extra) == ("fb", "2", str(NOW_MS), NET_NEW)
    assert random.isdigit()
    assert 0 <= int(random) < 2**31
    for header in cookies.values():
        attributes = [a.strip() for a in header.split(";")[1:]]
        assert attributes == ["Max-Age=7776000", "Path=/", "Domain=example.co.uk", "SameSite=Lax", "Secure"]
        assert "httponly" not in header.lower()
    # what the server wrote is what this very request captured
    assert response.json()["identifiers"] == {"fbp": fbp, "fbc": fbc}


def test_cookies_the_server_wrote_are_kept_and_only_a_different_fbclid_replaces_fbc() -> None:
    times = [NOW]
    c = uk_client(times)
    first = meta_cookie_headers(c.get(f"/show?fbclid={FBCLID}"))
    c.cookies.set("_fbp", value_of(first["_fbp"]))
    c.cookies.set("_fbc", value_of(first["_fbc"]))
    times[0] = NOW + timedelta(hours=2)
    assert meta_cookie_headers(c.get("/show")) == {}
    assert meta_cookie_headers(c.get(f"/show?fbclid={FBCLID}")) == {}  # same click: same cookie and time
    later = c.get("/show?fbclid=IwAR-another-click")
    replaced = meta_cookie_headers(later)
    assert list(replaced) == ["_fbc"]  # a valid _fbp is never regenerated
    assert value_of(replaced["_fbc"]) == f"fb.2.{NOW_MS + 2 * 3600 * 1000}.IwAR-another-click.{MODIFIED}"
    assert later.json()["identifiers"]["fbc"] == value_of(replaced["_fbc"])


def test_a_pixel_written_cookie_is_written_once_from_the_server_with_its_value_kept() -> None:
    c = uk_client()
    c.cookies.set("_fbp", "fb.2.1790000000000.987654321")
    response = c.get("/show")
    (header,) = meta_cookie_headers(response).values()
    assert value_of(header) == f"fb.2.1790000000000.987654321.{NO_CHANGE}"
    assert response.json()["identifiers"]["fbp"] == value_of(header)


def test_a_malformed_fbp_is_replaced_and_a_crawler_a_fetch_or_an_asset_gets_nothing() -> None:
    c = uk_client()
    bot = c.get("/plain", headers={"user-agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"})
    assert meta_cookie_headers(bot) == {}
    fetch = c.get(f"/plain?fbclid={FBCLID}", headers={"sec-fetch-dest": "empty", "accept": "application/json"})
    assert meta_cookie_headers(fetch) == {}
    assert meta_cookie_headers(c.get(f"/static/x?fbclid={FBCLID}")) == {}
    c.cookies.set("_fbp", "fb.1.not-a-time.123")
    assert value_of(meta_cookie_headers(c.get("/plain"))["_fbp"]).endswith(f".{NET_NEW}")


@pytest.mark.parametrize(
    "hostile",
    [
        "fb.2.1790000000000." + "9" * 100_000,  # a 100 KB cookie must not come back as a 100 KB Set-Cookie
        "fb.2.1790000000000.<script>alert(1)</script>",  # not what the pixel writes: never echoed
        "fb.2.1790000000000.1 2",
        "fb.2." + "1" * 400 + ".123",
    ],
)
def test_a_hostile_fbp_or_fbc_is_never_echoed_back_and_is_replaced(hostile: str) -> None:
    c = uk_client()
    c.cookies.set("_fbp", hostile)
    c.cookies.set("_fbc", hostile)
    response = c.get(f"/show?fbclid={FBCLID}")
    cookies = meta_cookie_headers(response)
    fbp, fbc = value_of(cookies["_fbp"]), value_of(cookies["_fbc"])
    assert fbp.endswith(f".{NET_NEW}")
    assert hostile not in fbp
    assert fbc == f"fb.2.{NOW_MS}.{FBCLID}.{NET_NEW}"
    assert all(len(header) < 300 for header in cookies.values())
    assert response.json()["identifiers"]["fbp"] == fbp


# -- through the collect endpoint (a page served from a cache) -----------------------------------------------

COLLECT_HEADERS = {
    "user-agent": NAVIGATION["user-agent"],
    "origin": UK,
    "sec-fetch-site": "same-origin",
    "sec-fetch-mode": "cors",
    "sec-fetch-dest": "empty",
    "content-type": "text/plain;charset=UTF-8",
}


def report(c: TestClient, url: str, *, record: bool = True, **headers: str) -> Any:
    body = {"url": url, "referrer": "https://l.facebook.com/", "record": record}
    return c.post("/_attribution/collect", json=body, headers={**COLLECT_HEADERS, **headers})


def test_a_cached_landing_reported_by_the_snippet_gets_both_cookies_and_captures_them() -> None:
    c = uk_client()
    response = report(c, f"{UK}/offer?utm_source=facebook&fbclid={FBCLID}")
    assert response.status_code == 200
    cookies = meta_cookie_headers(response)
    fbp, fbc = value_of(cookies["_fbp"]), value_of(cookies["_fbc"])
    assert fbc == f"fb.2.{NOW_MS}.{FBCLID}.{NET_NEW}"
    assert fbp.startswith(f"fb.2.{NOW_MS}.")
    assert fbp.endswith(f".{NET_NEW}")
    for header in cookies.values():
        assert [a.strip() for a in header.split(";")[1:]] == [
            "Max-Age=7776000",
            "Path=/",
            "Domain=example.co.uk",
            "SameSite=Lax",
            "Secure",
        ]
    # what the collect answer wrote is what it captured, and the next page reads it
    assert response.json()["recorded"] is True
    assert c.get("/show").json()["identifiers"] == {"fbp": fbp, "fbc": fbc}
    # the browser now holds both: the same click reported again writes neither
    c.cookies.set("_fbp", fbp)
    c.cookies.set("_fbc", fbc)
    assert meta_cookie_headers(report(c, f"{UK}/offer?utm_source=facebook&fbclid={FBCLID}")) == {}


def test_a_report_writes_no_meta_cookie_for_a_bot_without_consent_or_when_it_only_reads() -> None:
    url = f"{UK}/offer?fbclid={FBCLID}"
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    assert meta_cookie_headers(report(uk_client(), url, **{"user-agent": bot})) == {}
    assert meta_cookie_headers(report(uk_client(consent=lambda scope: {"vendors": {"meta": False}}), url)) == {}
    assert meta_cookie_headers(report(uk_client(), url, record=False)) == {}
    assert meta_cookie_headers(report(client(base_url=UK, clock=lambda: NOW), url)) == {}  # off by default


def test_off_by_default() -> None:
    response = client(base_url=UK).get(f"/show?fbclid={FBCLID}")
    assert meta_cookie_headers(response) == {}
    assert response.json()["click_ids"] == {"fbclid": FBCLID}  # captured as always


def test_not_set_when_consent_refuses_measurement_for_everyone_or_for_meta() -> None:
    refused = uk_client(consent=lambda scope: False).get(f"/show?fbclid={FBCLID}")
    assert meta_cookie_headers(refused) == {}
    assert refused.json()["click_ids"] == {}
    not_meta = uk_client(consent=lambda scope: {"vendors": {"meta": False}}).get(f"/show?fbclid={FBCLID}")
    assert meta_cookie_headers(not_meta) == {}
    assert not_meta.json()["click_ids"] == {"fbclid": FBCLID}  # the visit itself is still captured


def test_ip_hosts_and_localhost_get_host_only_cookies_with_index_0() -> None:
    for base in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        response = client(base_url=base, meta_cookies=True, clock=lambda: NOW).get(f"/show?fbclid={FBCLID}")
        cookies = meta_cookie_headers(response)
        assert value_of(cookies["_fbc"]) == f"fb.0.{NOW_MS}.{FBCLID}.{NET_NEW}", base
        assert all("domain=" not in h.lower() for h in cookies.values()), base
        assert all("secure" not in h.lower() for h in cookies.values()), base  # plain-HTTP local: not Secure


def test_configured_domains_win_and_other_hosts_use_the_public_suffix_list() -> None:
    options = MetaCookies(domains=["shop.example.com"])
    app = make_app(meta_cookies=options, clock=lambda: NOW)
    for base, domain, index in (
        ("https://eu.shop.example.com", "shop.example.com", 2),
        ("https://blog.example.com", "example.com", 1),
        ("https://myshop.herokuapp.com", "myshop.herokuapp.com", 2),  # a private suffix is a suffix too
    ):
        cookies = meta_cookie_headers(TestClient(app, base_url=base, headers=NAVIGATION).get(f"/show?fbclid={FBCLID}"))
        assert f"Domain={domain};" in cookies["_fbc"], base
        assert value_of(cookies["_fbc"]).startswith(f"fb.{index}."), base


def test_an_fbclid_on_the_sites_own_referring_page_counts_another_sites_does_not() -> None:
    assert fbclid_of("", f"https://www.example.co.uk/landing?fbclid={FBCLID}", "www.example.co.uk") == FBCLID
    assert fbclid_of("", f"https://elsewhere.example/?fbclid={FBCLID}", "www.example.co.uk") is None
    assert fbclid_of("fbclid=has.a.dot", "", "www.example.co.uk") is None  # would break the cookie format
    c = uk_client()
    own = c.get("/show", headers={"referer": f"{UK}/cached-landing?fbclid={FBCLID}"})
    assert value_of(meta_cookie_headers(own)["_fbc"]) == f"fb.2.{NOW_MS}.{FBCLID}.{NET_NEW}"


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="list of domains"):
        MetaCookies(domains="example.com")
    with pytest.raises(ConfigurationError, match="registrable domain"):
        MetaCookies(domains=["192.168.0.1"])
    with pytest.raises(ConfigurationError, match="400 days"):
        MetaCookies(max_age=timedelta(days=500))


# -- a checkout in the same visit ------------------------------------------------------------------------------


class MetaIds(FakeVendor):
    name: ClassVar[str] = "metaids"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str | None, str | None]] = []

    def payload(self, conversion: Any) -> Any:
        self.sent.append((conversion.attribution.identifiers.get("fbp"), conversion.attribution.fbc))
        return super().payload(conversion)


async def test_a_checkout_in_the_first_request_sends_the_values_the_server_wrote(tmp_path: Path) -> None:
    vendor = MetaIds()
    tracker = Tracker(vendors=[vendor], outbox=tmp_path / "o.sqlite3", run_worker=False)

    async def buy(request: Request) -> JSONResponse:
        await tracker.checkout(request, Order(id="M-1", value="5", currency="GBP"))
        return JSONResponse({})

    app = Starlette(routes=[Route("/buy", buy)])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, meta_cookies=True, clock=lambda: NOW)
    with TestClient(app, base_url=UK, headers=NAVIGATION) as c:
        response = c.get(f"/buy?fbclid={FBCLID}")
    for delivery in await tracker.outbox.list():  # built from the order record, as the worker builds it
        await event_for(tracker, delivery.id)
    await tracker.stop()
    written = {name: value_of(h) for name, h in meta_cookie_headers(response).items()}
    assert vendor.sent == [(written["_fbp"], written["_fbc"])]


# -- against Meta's capi-param-builder -------------------------------------------------------------------------


@pytest.fixture
def builder_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder_module.time, "time", lambda: NOW.timestamp())


def test_the_builder_reads_our_cookies_as_valid_and_leaves_them_alone(builder_clock: None) -> None:
    written = {n: value_of(h) for n, h in meta_cookie_headers(uk_client().get(f"/show?fbclid={FBCLID}")).items()}
    builder = ParamBuilder(["example.co.uk"])
    to_set = builder.process_request("www.example.co.uk", {"fbclid": [FBCLID]}, written, None)
    assert (builder.get_fbp(), builder.get_fbc()) == (written["_fbp"], written["_fbc"])
    assert to_set == set()  # nothing to refresh, nothing to replace


def test_for_the_same_click_and_time_our_fbc_is_the_builders(builder_clock: None) -> None:
    builder = ParamBuilder(["example.co.uk"])
    builder.process_request("www.example.co.uk", {"fbclid": [FBCLID]}, {}, None)
    ours = meta_cookie_headers(uk_client().get(f"/show?fbclid={FBCLID}"))
    assert value_of(ours["_fbc"]) == builder.get_fbc()
    theirs_fbp, ours_fbp = builder.get_fbp().split("."), value_of(ours["_fbp"]).split(".")
    assert ours_fbp[:3] + ours_fbp[4:] == theirs_fbp[:3] + theirs_fbp[4:]  # all but the random part
    # a pixel-written (four-part) cookie: both refresh it to the same value
    pixel = {"_fbp": "fb.2.1790000000000.987654321"}
    builder = ParamBuilder(["example.co.uk"])
    builder.process_request("www.example.co.uk", {}, pixel, None)
    c = uk_client()
    c.cookies.set("_fbp", pixel["_fbp"])
    assert value_of(meta_cookie_headers(c.get("/plain"))["_fbp"]) == builder.get_fbp()


def test_where_the_builder_goes_wrong_and_we_do_not(builder_clock: None) -> None:
    # example.co.uk without a configured domain list: the builder picks the public suffix co.uk
    builder = ParamBuilder()
    builder.process_request("example.co.uk", {"fbclid": [FBCLID]}, {}, None)
    assert {c.domain for c in builder.get_cookies_to_set()} == {"co.uk"}
    assert builder.get_fbc().startswith("fb.1.")
    ours = meta_cookie_headers(client(base_url="https://example.co.uk", meta_cookies=True).get(f"/?fbclid={FBCLID}"))
    assert all("Domain=example.co.uk;" in h for h in ours.values())
    assert value_of(ours["_fbc"]).startswith("fb.2.")
    # an IP host: the builder sets Domain=[127.0.0.1], which no browser accepts for an IPv4 host
    builder = ParamBuilder()
    builder.process_request("127.0.0.1:8000", {"fbclid": [FBCLID]}, {}, None)
    assert {c.domain for c in builder.get_cookies_to_set()} == {"[127.0.0.1]"}
    ours = meta_cookie_headers(client(base_url="http://127.0.0.1:8000", meta_cookies=True).get(f"/?fbclid={FBCLID}"))
    assert len(ours) == 2
    assert all("domain" not in h.lower() for h in ours.values())


@pytest.mark.parametrize("host", ["shop.example.co.uk;x=1", "shop.example.co.uk,evil.example", "shop example.co.uk"])
def test_a_host_header_that_is_no_hostname_gets_host_only_cookies_never_its_own_domain_attribute(host: str) -> None:
    response = uk_client().get(f"/show?fbclid={FBCLID}", headers={"host": host})
    cookies = meta_cookie_headers(response)
    assert cookies  # still written, host-only
    for header in cookies.values():
        attributes = [part.strip().lower() for part in header.split(";")[1:]]
        assert not [a for a in attributes if a.startswith("domain=")]
        assert "x=1" not in attributes
