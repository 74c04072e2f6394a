"""Headless Chromium's side of the browser tests: finding Debian's Chromium, a real uvicorn on 127.0.0.1 that
records what it answered, and a tab whose attribution cookie reads back with the example site's codec."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn

from attribution.capture.cookie import CookieCodec
from attribution.capture.models import Attribution
from attribution.capture.settings import Settings
from examples.browser_app import SECRET

#: Playwright's headless user agent says "HeadlessChrome", which the crawler list rightly flags as a bot.
CHROME_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
#: Running as root needs --no-sandbox; the rest keep Chromium from calling home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:  # asked for this one: never quietly test another
        return explicit if os.access(explicit, os.X_OK) else None
    candidates = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI: a CI run that quietly skipped the browser would prove nothing."""
    if IN_CI:
        pytest.fail(f"browser tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class Recorder:
    """Wraps an ASGI app and records (method, path, status) of each response: what the server said."""

    app: Any
    seen: list[tuple[str, str, int]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, record)

    def collects(self) -> list[int]:
        return [status for method, path, status in self.seen if path == "/_attribution/collect"]

    def wait_for_collects(self, count: int, timeout: float = 5.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(self.collects()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.collects()


class LiveServer:
    """A real uvicorn server on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self, app: Any, *, lifespan: str = "off") -> None:
        self.recorder = Recorder(app)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(self.recorder, lifespan=lifespan, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@dataclass
class Tab:
    """One fresh browser profile (cookies, sessionStorage) and its page, with what went wrong in it."""

    context: Any
    page: Any
    errors: list[str]

    def cookie(self, base: str) -> dict[str, Any] | None:
        cookies = [c for c in self.context.cookies(base) if c["name"] == "attribution"]
        return cookies[0] if cookies else None

    def attribution(self, base: str) -> Attribution:
        """The stored attribution, read back from the browser's cookie with the site's codec."""
        cookie = self.cookie(base)
        return CODEC.decode(cookie["value"] if cookie else None)


CODEC = CookieCodec(Settings.build(secret_key=SECRET))
