"""The five browser scenarios, in headless Chromium against the example site on a real server."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.browser import LiveServer, Tab

pytestmark = pytest.mark.browser

COLLECT = "/_attribution/collect"


def is_collect(response: Any) -> bool:
    return bool(response.url.endswith(COLLECT))


def collect_requests(tab: Tab) -> list[str]:
    """Record every request the page makes to the collect endpoint from now on."""
    seen: list[str] = []
    tab.page.on("request", lambda request: seen.append(request.url) if request.url.endswith(COLLECT) else None)
    return seen


def shown(tab: Tab, element: str = "#attribution") -> Any:
    return json.loads(tab.page.text_content(element) or "null")


def test_a_server_rendered_landing_sets_an_httponly_cookie_the_next_page_reads(site: LiveServer, tab: Tab) -> None:
    base = site.url()
    landing = f"{base}/landing?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=TeSt-123"
    with tab.page.expect_response(is_collect) as report:
        tab.page.goto(landing, referer="https://www.google.com/")
    # The snippet ran (under the page's nonce CSP) and reported the landing; the server had it already.
    assert report.value.status == 200
    assert report.value.json()["recorded"] is False

    cookie = tab.cookie(base)
    assert cookie is not None
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain-HTTP 127.0.0.1: a Secure cookie would be dropped
    assert "attribution=" not in tab.page.evaluate("document.cookie")

    tab.page.click("#show")
    tab.page.wait_for_url(f"{base}/show")
    assert shown(tab) == {
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
        "gclid": "TeSt-123",
        "channel": "paid_search",
        "first_channel": "paid_search",
    }
    touches = shown(tab, "#touches")
    assert [(t["path"], t["via"]) for t in touches] == [("/landing", "server")]
    assert tab.errors == []


def test_a_page_the_app_never_saw_is_recorded_by_the_snippet(site: LiveServer, tab: Tab) -> None:
    base = site.url()
    with tab.page.expect_response(is_collect) as report:
        page = tab.page.goto(f"{base}/cached/offer?utm_source=partner&utm_medium=display&dclid=DC-9")
    assert page is not None
    assert page.headers["x-cache"] == "HIT"  # answered by the edge cache, not the app
    assert report.value.json()["recorded"] is True

    attr = tab.attribution(base)
    assert attr.last is not None
    assert (attr.last.path, attr.last.via) == ("/cached/offer", "browser")
    assert attr.last.params == {"utm_source": "partner", "utm_medium": "display", "dclid": "DC-9"}

    # A reload is the same landing: the snippet remembers it for the tab's session and stays quiet.
    requests = collect_requests(tab)
    tab.page.reload()
    tab.page.wait_for_load_state("load")
    tab.page.wait_for_timeout(300)
    assert requests == []

    tab.page.goto(f"{base}/show")
    assert shown(tab)["utm_source"] == "partner"
    assert shown(tab)["channel"] == "display"
    assert tab.errors == []


def test_a_cached_page_from_a_snapchat_ad_is_recorded_whatever_the_case_of_its_click_id(
    site: LiveServer, tab: Tab
) -> None:
    base = site.url()
    with tab.page.expect_response(is_collect) as report:
        tab.page.goto(f"{base}/cached/offer?ScCid=snap-browser-42")  # as Snap writes it: no lowercase name
    assert report.value.json()["recorded"] is True
    attr = tab.attribution(base)
    assert attr.click_ids == {"sccid": "snap-browser-42"}
    assert attr.last is not None
    assert (attr.last.path, attr.last.via) == ("/cached/offer", "browser")
    assert tab.errors == []


def test_a_cached_page_from_a_meta_ad_gets_the_server_set_meta_cookies(
    tab: Tab, start_site: Callable[..., LiveServer]
) -> None:
    base = start_site(meta_cookies=True).url()
    fbclid = "IwAR-browser-test-0123"
    with tab.page.expect_response(is_collect) as report:
        tab.page.goto(f"{base}/cached/offer?utm_source=facebook&fbclid={fbclid}")
    assert report.value.json()["recorded"] is True
    # Chromium kept both cookies from the collect answer: first-party, readable by Meta's pixel
    cookies = {c["name"]: c for c in tab.context.cookies(base) if c["name"] in ("_fbp", "_fbc")}
    assert set(cookies) == {"_fbp", "_fbc"}
    assert cookies["_fbc"]["value"].split(".")[3] == fbclid
    assert all(not c["httpOnly"] and c["sameSite"] == "Lax" for c in cookies.values())
    assert "_fbc=fb.0." in tab.page.evaluate("document.cookie")
    identifiers = tab.attribution(base).identifiers
    assert (identifiers["fbc"], identifiers["fbp"]) == (cookies["_fbc"]["value"], cookies["_fbp"]["value"])
    assert tab.errors == []


def test_an_spa_navigation_is_recorded_once_however_often_it_is_revisited(site: LiveServer, tab: Tab) -> None:
    base = site.url()
    requests = collect_requests(tab)
    tab.page.goto(f"{base}/app")
    assert tab.page.text_content("#view") == "view: /app"

    with tab.page.expect_response(is_collect) as report:
        tab.page.click("#to-offer")  # the app's router calls history.pushState
    assert tab.page.url == f"{base}/app/offer?utm_source=spa&utm_medium=social&utm_campaign=launch"
    assert report.value.json()["recorded"] is True

    tab.page.click("#to-about")
    for _ in range(2):
        tab.page.go_back()
        tab.page.go_back()
        tab.page.go_forward()
        tab.page.go_forward()
    tab.page.evaluate("history.replaceState({}, '', location.href)")
    tab.page.wait_for_timeout(300)

    assert tab.page.text_content("#view") == "view: /app/about"
    assert requests == [f"{base}{COLLECT}"]  # the landing page (no params) and the revisits sent nothing
    assert site.recorder.collects() == [200]
    history = tab.attribution(base).history
    assert [(t.path, t.via, t.params.get("utm_source")) for t in history] == [("/app/offer", "browser", "spa")]
    assert tab.errors == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["same-site", "cross-site"])
def test_another_origin_cannot_plant_attribution(site: LiveServer, evil: LiveServer, tab: Tab, host: str) -> None:
    base = site.url()
    target = f"?target={base}"
    tab.page.goto(f"{evil.url(host)}/{target}")
    assert site.recorder.wait_for_collects(2) == [403, 403]  # the fetch and the beacon

    def form_post(response: Any) -> bool:
        return is_collect(response) and bool(response.request.is_navigation_request())

    with tab.page.expect_response(form_post) as posted:
        tab.page.goto(f"{evil.url(host)}/form{target}")  # submits itself: a top-level POST
    assert posted.value.request.method == "POST"
    assert posted.value.status == 403
    tab.page.wait_for_url(f"{base}{COLLECT}")
    assert json.loads(tab.page.text_content("body") or "{}")["error"] == "forbidden_origin"
    assert site.recorder.collects() == [403, 403, 403]

    assert tab.cookie(base) is None
    tab.page.goto(f"{base}/show")
    assert shown(tab) == {}


def test_an_allowed_origin_can_record_so_the_refusal_above_is_what_stops_it(
    evil: LiveServer, tab: Tab, start_site: Callable[..., LiveServer]
) -> None:
    """The same forged posts, from an origin the site lists: the cookie is planted. This shows the
    previous test observes a real refusal, not requests that could never have worked."""
    friendly = start_site(allowed_origins=[evil.url()])
    base = friendly.url()
    tab.page.goto(f"{evil.url()}/?target={base}")
    assert friendly.recorder.wait_for_collects(2) == [200, 200]
    tab.page.wait_for_function("document.title === 'fetched'")
    attr = tab.attribution(base)
    assert attr.last is not None
    assert attr.last.params == {"utm_source": "evil", "gclid": "EVIL"}


def test_marked_forms_receive_the_hidden_fields(site: LiveServer, tab: Tab) -> None:
    base = site.url()
    # Wait for the landing's own report, so the next wait cannot catch it late (its body is gone by then).
    with tab.page.expect_response(is_collect):
        tab.page.goto(f"{base}/landing?utm_source=newsletter&utm_medium=email&utm_campaign=may")

    # A cached page with no parameters: the snippet only asks for the attribution, to fill the forms.
    with tab.page.expect_response(is_collect) as report:
        tab.page.goto(f"{base}/cached/signup")
    assert report.value.json()["recorded"] is False
    tab.page.wait_for_selector("#signup-form input[type=hidden][name=utm_source]", state="attached")

    def hidden(form: str) -> dict[str, str]:
        return dict(
            tab.page.eval_on_selector_all(f"{form} input[type=hidden]", "inputs => inputs.map(i => [i.name, i.value])")
        )

    expected = {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "may",
        "channel": "email",
        "first_channel": "email",
    }
    assert hidden("#signup-form") == expected
    assert hidden("#prefixed-form") == {f"attr_{k}": v for k, v in expected.items()}  # "stale" replaced
    assert hidden("#plain-form") == {}  # not marked: left alone

    with tab.page.expect_navigation():
        tab.page.click("#submit")
    assert json.loads(tab.page.text_content("body") or "{}") == {"email": "ana@example.com", **expected}
    assert tab.errors == []
