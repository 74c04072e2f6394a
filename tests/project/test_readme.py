"""The README's code runs as pasted.

A ```python block whose first line is ``# <name>.py`` is a whole file a reader saves under that name; the
```sh block after it is how the reader runs it (``uvicorn ...``) and what they type (``curl ...``), each
curl line followed by a ``# {...}`` comment with the JSON it answers. Here each such file is imported as a
module and driven through the ASGI app, then started with the README's own uvicorn command on 127.0.0.1
and sent the README's requests (same URLs, headers and bodies, with Python standing in for curl).
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2
import pytest

from attribution import AttributionMiddleware, ConfigurationError
from attribution.delivery.outbox.base import Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from tests.support.helpers import BROWSER_UA

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
FILE_MARK = re.compile(r"# (\w+)\.py\n")


@dataclass
class Curl:
    """One curl command of the README, parsed: what it sends, and the JSON the README says it answers."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    send_cookies: bool
    keep_cookies: bool
    expected: Any = None


@dataclass
class Runnable:
    """A complete file of the README and the shell session after it."""

    name: str
    code: str
    uvicorn: list[str] = field(default_factory=list)
    curls: list[Curl] = field(default_factory=list)


def fences() -> list[tuple[str, str]]:
    return [(info.strip(), body) for info, body in FENCE.findall(README)]


def parse_curl(line: str, variables: dict[str, str]) -> Curl:
    words = [re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], w) for w in shlex.split(line)]
    assert words[0] == "curl"
    headers: dict[str, str] = {}
    body: bytes | None = None
    url = ""
    send = keep = False
    rest = iter(words[1:])
    for word in rest:
        if word == "-A":
            headers["user-agent"] = next(rest)
        elif word == "-H":
            name, _, value = next(rest).partition(":")
            headers[name.strip().lower()] = value.strip()
        elif word == "-d":
            body = next(rest).encode()
            headers.setdefault("content-type", "application/x-www-form-urlencoded")
        elif word == "-b":
            next(rest)
            send = True
        elif word == "-c":
            next(rest)
            keep = True
        else:
            assert not word.startswith("-"), f"a curl option this test does not replay: {word}"
            url = word
    return Curl("POST" if body is not None else "GET", url, headers, body, send, keep)


def runnables() -> list[Runnable]:
    found: list[Runnable] = []
    blocks = fences()
    variables: dict[str, str] = {}  # one shell session: a variable set in an earlier block still holds
    for index, (info, body) in enumerate(blocks):
        mark = FILE_MARK.match(body)
        if info != "python" or mark is None:
            continue
        runnable = Runnable(mark.group(1), body)
        shell = next((b for i, b in blocks[index + 1 :] if i == "sh"), "")
        for line in shell.splitlines():
            if assignment := re.fullmatch(r"(\w+)=(.+)", line):
                variables[assignment.group(1)] = shlex.split(assignment.group(2))[0]
            elif line.startswith("uvicorn "):
                runnable.uvicorn = shlex.split(line.split("#")[0])
            elif line.startswith("curl "):
                runnable.curls.append(parse_curl(line, variables))
            elif line.startswith("# {") and runnable.curls:
                runnable.curls[-1].expected = json.loads(line[2:])
        found.append(runnable)
    return found


RUNNABLES = runnables()


def test_the_quickstart_and_the_checkout_are_complete_files_with_their_commands() -> None:
    assert [r.name for r in RUNNABLES] == ["shop", "shop"]
    for runnable in RUNNABLES:
        assert runnable.uvicorn[:2] == ["uvicorn", "shop:app"]
        assert runnable.curls
        assert all(curl.expected is not None for curl in runnable.curls)
        assert all(curl.headers["user-agent"].startswith("Mozilla/5.0") for curl in runnable.curls)
    checkout = RUNNABLES[1].code
    assert "dry_run=True" in checkout
    assert checkout.count("add_middleware(AttributionMiddleware") == 1


def test_the_readme_says_curl_is_a_bot_next_to_the_first_curl() -> None:
    first_curl = README.index("curl -A")
    assert "treated as a bot" in README[first_curl - 300 : first_curl]


@pytest.mark.parametrize(("info", "body"), [b for b in fences() if b[0] == "python"])
def test_every_python_block_is_valid_python(info: str, body: str) -> None:
    # fragments (not whole files) may await, as they would inside a handler
    compile(body, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def load(runnable: Runnable, directory: Path, index: int) -> ModuleType:
    path = directory / f"{runnable.name}.py"
    path.write_text(runnable.code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"readme_{runnable.name}_{index}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The reader's directory: the outbox file of the checkout example lands here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTRIBUTION_SECRET", "readme-secret-0123456789abcdef")
    return tmp_path


@pytest.mark.parametrize("index", range(len(RUNNABLES)))
def test_without_the_secret_the_file_stops_with_a_message_saying_how_to_make_one(
    index: int, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATTRIBUTION_SECRET")
    with pytest.raises(SystemExit) as stopped:
        load(RUNNABLES[index], in_tmp, index)
    assert "ATTRIBUTION_SECRET" in str(stopped.value.code)
    assert "secrets.token_urlsafe" in str(stopped.value.code)


async def replay(client: httpx2.AsyncClient, curls: list[Curl], base: str) -> list[tuple[int, Any]]:
    """Send each request as curl would: cookies only with -b, the jar updated only with -c."""
    jar: dict[str, str] = {}
    answers = []
    for curl in curls:
        headers = dict(curl.headers)
        if curl.send_cookies and jar:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        url = curl.url.replace("http://127.0.0.1:8000", base)
        response = await client.request(curl.method, url, headers=headers, content=curl.body)
        if curl.keep_cookies:
            for value in response.headers.get_list("set-cookie"):
                jar.update({k: m.value for k, m in SimpleCookie(value).items()})
        answers.append((response.status_code, response.json()))
    return answers


@pytest.mark.parametrize("index", range(len(RUNNABLES)))
async def test_the_file_answers_what_the_readme_shows_in_process(index: int, in_tmp: Path) -> None:
    runnable = RUNNABLES[index]
    module = load(runnable, in_tmp, index)
    transport = httpx2.ASGITransport(app=module.app)
    async with httpx2.AsyncClient(transport=transport) as client:
        answers = await replay(client, runnable.curls, "http://127.0.0.1:8000")
    assert answers == [(200, curl.expected) for curl in runnable.curls]


@pytest.mark.parametrize("index", range(len(RUNNABLES)))
async def test_curls_own_user_agent_is_a_bot_and_nothing_is_captured(index: int, in_tmp: Path) -> None:
    module = load(RUNNABLES[index], in_tmp, index)
    landing = RUNNABLES[index].curls[0]
    transport = httpx2.ASGITransport(app=module.app)
    async with httpx2.AsyncClient(transport=transport) as client:
        as_curl = await client.get(landing.url, headers={"user-agent": "curl/8.5.0"})
        as_browser = await client.get(landing.url, headers={"user-agent": BROWSER_UA})
    assert as_curl.json()["channel"] == "direct"
    assert "set-cookie" not in as_curl.headers
    assert as_browser.json() == landing.expected


async def test_the_checkout_file_answers_a_bad_phone_with_a_clear_422(in_tmp: Path) -> None:
    module = load(RUNNABLES[1], in_tmp, 1)
    transport = httpx2.ASGITransport(app=module.app)
    async with httpx2.AsyncClient(transport=transport, headers={"user-agent": BROWSER_UA}) as client:
        answer = await client.post("http://127.0.0.1:8000/checkout", json={"order_id": "ORD-1", "phone": "+5511..."})
    assert answer.status_code == 422
    assert "phone" in answer.json()["error"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(in_tmp: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Runnable, str]]:
    """The README's file started with the README's uvicorn command (on a free port instead of 8000)."""
    runnable = RUNNABLES[request.param]
    (in_tmp / f"{runnable.name}.py").write_text(runnable.code, encoding="utf-8")
    port = free_port()
    argv = [w if w != "8000" else str(port) for w in runnable.uvicorn]
    assert "--port" in argv
    proc = subprocess.Popen(
        [sys.executable, "-m", *argv],
        cwd=in_tmp,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # uvicorn logs to stderr; it says when it listens
        lines.append(line)
        if "Uvicorn running on" in line:
            break
    assert proc.poll() is None, "".join(lines)
    yield runnable, f"http://127.0.0.1:{port}"
    proc.terminate()
    rest = proc.communicate(timeout=15)[1]
    assert proc.returncode in (0, -signal.SIGTERM), rest  # recent uvicorn re-raises the signal once it is done
    assert "Application shutdown complete" in rest


@pytest.mark.parametrize("served", range(len(RUNNABLES)), indirect=True)
async def test_the_readme_session_against_a_real_uvicorn(served: tuple[Runnable, str], in_tmp: Path) -> None:
    runnable, base = served
    async with httpx2.AsyncClient() as client:
        answers = await replay(client, runnable.curls, base)
    assert answers == [(200, curl.expected) for curl in runnable.curls]
    if "Tracker(" not in runnable.code:
        return
    # the in-app worker, started by uvicorn's lifespan, records the dry runs in the README's outbox file
    outbox = SQLiteOutbox(in_tmp / "attribution-outbox.sqlite3")
    try:
        deadline = time.monotonic() + 10
        while True:
            rows = await outbox.list()
            if all(r.status == Status.DRY_RUN for r in rows) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await outbox.close()
    queued = {
        vendor
        for curl in runnable.curls
        if curl.method == "POST"
        for vendor, answer in curl.expected.items()
        if answer["status"] == "queued"
    }
    assert queued == {"whop", "rdstation"}
    assert sorted((r.vendor, r.status) for r in rows) == sorted((v, Status.DRY_RUN) for v in queued)


@pytest.mark.parametrize("bad", [..., None, 12345678901234567, [b"bytes-key-0123456789"], ["short"], []])
def test_a_secret_key_that_is_not_a_string_or_a_list_of_them_is_a_configuration_error(bad: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never called")

    with pytest.raises(ConfigurationError, match="secret_key must be a string"):
        AttributionMiddleware(app, secret_key=bad)
