"""Behind the site's proxies, the checkout's client address is the one the proxy saw, never one the client wrote.

``trusted_proxies=["*"]`` trusted every hop, so ``X-Forwarded-For: 6.6.6.6`` sent by the client beat the address
the proxy appended. It is refused; a number of proxies (werkzeug's ``ProxyFix(x_for=N)``) says the same thing
safely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from attribution.checkout.tracker import Tracker
from attribution.errors import ConfigurationError
from attribution.web.middleware import AttributionMiddleware
from tests.helpers import NAVIGATION, SECRET


def site(tmp_path: Path, trusted: Any, peer: str = "10.0.0.2") -> TestClient:
    tracker = Tracker(vendors=[], outbox=tmp_path / "outbox.sqlite3", trusted_proxies=trusted, run_worker=False)

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"ip": tracker.context(request).ip})

    app = AttributionMiddleware(Starlette(routes=[Route("/whoami", whoami)]), secret_key=SECRET)

    async def behind_proxy(scope: Any, receive: Any, send: Any) -> None:
        scope["client"] = (peer, 40000)  # the connection comes from the proxy
        await app(scope, receive, send)

    return TestClient(behind_proxy, base_url="https://shop.example", headers=NAVIGATION)


@pytest.mark.parametrize("trusted", [["*"], ["10.0.0.0/8", "*"], [" * "]])
def test_trusting_every_hop_is_refused_with_what_to_write_instead(tmp_path: Path, trusted: list[str]) -> None:
    with pytest.raises(ConfigurationError, match=r"trust every hop.*trusted_proxies=1"):
        Tracker(vendors=[], outbox=tmp_path / "o.sqlite3", trusted_proxies=trusted)


@pytest.mark.parametrize("bad", [True, -1, "10.0.0.0/8"])
def test_a_proxy_setting_that_is_neither_networks_nor_a_count_is_refused(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ConfigurationError, match="trusted_proxies"):
        Tracker(vendors=[], outbox=tmp_path / "o.sqlite3", trusted_proxies=bad)


def test_one_proxy_in_front_takes_the_address_it_appended_not_the_clients_own(tmp_path: Path) -> None:
    c = site(tmp_path, 1)
    # the client sent "X-Forwarded-For: 6.6.6.6"; the proxy appended the address it saw
    assert c.get("/whoami", headers={"x-forwarded-for": "6.6.6.6, 203.0.113.7"}).json() == {"ip": "203.0.113.7"}
    assert c.get("/whoami", headers={"x-forwarded-for": "203.0.113.7"}).json() == {"ip": "203.0.113.7"}
    assert c.get("/whoami").json() == {"ip": "10.0.0.2"}  # no header: the peer


def test_two_proxies_in_front_take_the_address_the_outer_one_appended(tmp_path: Path) -> None:
    c = site(tmp_path, 2)
    forwarded = {"x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.0.0.9"}
    assert c.get("/whoami", headers=forwarded).json() == {"ip": "203.0.113.7"}


def test_the_proxies_networks_still_skip_only_their_own_hops(tmp_path: Path) -> None:
    c = site(tmp_path, ["10.0.0.0/8"])
    forwarded = {"x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.0.0.9"}
    assert c.get("/whoami", headers=forwarded).json() == {"ip": "203.0.113.7"}
    outsider = site(tmp_path, ["10.0.0.0/8"], peer="198.51.100.1")  # not through the proxy: the peer itself
    assert outsider.get("/whoami", headers=forwarded).json() == {"ip": "198.51.100.1"}
