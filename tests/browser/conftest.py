"""Headless Chromium against the example site served by a real uvicorn on 127.0.0.1.

Chromium is Debian's (``/usr/bin/chromium``, or ``CHROMIUM_PATH``); Playwright only drives it. When it
is missing the browser tests skip locally with the reason, and fail when ``CI=true``: in CI they must run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from examples.browser_app import create_app
from examples.demo.app import create_app as create_demo
from examples.demo.config import load_config
from tests.browser.evil import create_evil_app
from tests.support.browser import CHROME_UA, CHROMIUM_ARGS, LiveServer, Tab, find_chromium, unavailable


@pytest.fixture(scope="session")
def evil() -> Iterator[LiveServer]:
    """Another origin: 127.0.0.1 on another port is same-site but cross-origin; ``localhost`` is
    cross-site."""
    with LiveServer(create_evil_app()) as server:
        yield server


@pytest.fixture(scope="session")
def site() -> Iterator[LiveServer]:
    with LiveServer(create_app()) as server:
        yield server


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo shop with an outbox of its own, for each module that drives it."""
    outbox = tmp_path_factory.mktemp("demo") / "outbox.sqlite3"
    # lifespan on: the demo's middleware starts the tracker's worker (and opens the outbox) on startup
    with LiveServer(create_demo(load_config({"DEMO_OUTBOX": str(outbox)})), lifespan="on") as server:
        yield server


@pytest.fixture
def start_site() -> Iterator[Callable[..., LiveServer]]:
    """Start another copy of the site with other middleware options, stopped after the test."""
    started: list[LiveServer] = []

    def start(**options: Any) -> LiveServer:
        server = LiveServer(create_app(**options)).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


@pytest.fixture(autouse=True)
def _fresh_records(site: LiveServer) -> None:
    site.recorder.seen.clear()


# -- the browser ------------------------------------------------------------------------------------------


# Module scope, not session: Playwright's sync API keeps its event loop marked as running while it is
# open, and every async test that ran after it in the same session would fail to start its own loop.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = find_chromium()
    if executable is None:
        unavailable(
            "Chromium not found (CHROMIUM_PATH, /usr/bin/chromium, PATH): run `make chromium` as root "
            "or set CHROMIUM_PATH"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    context = browser.new_context(user_agent=CHROME_UA)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield Tab(context=context, page=page, errors=errors)
    context.close()
