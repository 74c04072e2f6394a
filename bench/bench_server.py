"""The middleware's cost as a real server sees it: uvicorn on 127.0.0.1, saturated by ``wrk``.

    python bench/bench_server.py [--runs 3] [--duration 3] [--connections 16] [--max-seconds 600] [--compiled DIR]

Four servers start once, each its own process: a bare Starlette app, the same app wrapped in
``AttributionMiddleware``, the same app in Starlette's ``SessionMiddleware``, and the same app behind a
middleware that only adds the landing's Set-Cookie and Vary headers, computed once (uvicorn with httptools
and uvloop when installed, as production runs it). With ``--compiled`` a fifth serves the middleware from a
copy of the package compiled with mypyc (``bench_compiled.py`` builds it). ``wrk`` (with keep-alive) then
measures requests per second for every case, in a shuffled order each run. A case's ratio is the bare app's
throughput on the same request over the wrapped one's ("x bare": how much longer a request takes), the two
measured back to back; the report gives min/median/max over the runs, and the extra server time per request.

Cases: a returning visitor's cookie with no parameters; the same with ``_ga``/``_fbp`` cookies (most visitors
of a site with GA or a Meta pixel); the same with the site's own session, CSRF and consent cookies; a landing
with five tracked parameters (no cookie yet, so every request captures and writes the cookie);
SessionMiddleware reading a session of the same payload; and the landing's headers as constants, the floor of
any middleware that writes this cookie (what is left of a landing's cost is its parsing, signing and encoding).

``wrk`` is Debian's package: when it is missing and the bench runs as root, it installs it with apt-get.
Everything listens on 127.0.0.1 only; the servers stop when the bench ends, and on their own if it dies.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_capture import LANDING_QUERY, OTHER, SECRET, UA, session_cookie, site, stored_cookie

HOST = "127.0.0.1"
KINDS = ("bare", "wrapped", "session", "constant", "compiled")
IDS = "_ga=GA1.1.1234567890.1700000000; _fbp=fb.1.1700000000000.12345"
PAGE_HEADERS = {
    "User-Agent": UA.decode(),
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "none",
}


def landing_headers() -> list[tuple[bytes, bytes]]:
    """The Set-Cookie and Vary headers the middleware adds to the landing case's answer, as it adds them."""
    import asyncio

    from attribution.web.middleware import AttributionMiddleware

    headers: list[tuple[bytes, bytes]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers.extend(h for h in message["headers"] if h[0] in (b"set-cookie", b"vary"))

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "query_string": LANDING_QUERY,
        "headers": [(b"host", f"{HOST}:8000".encode())]
        + [(name.lower().encode(), value.encode()) for name, value in PAGE_HEADERS.items()],
    }
    asyncio.run(AttributionMiddleware(site(), secret_key=SECRET)(scope, receive, send))
    assert len(headers) == 2, headers
    return headers


def constant_headers(app: Any) -> Any:
    """``app`` answering with the landing's Set-Cookie and Vary headers, computed once: what any middleware
    that writes this cookie on a landing costs the server before it parses, signs or encodes anything."""
    extra = landing_headers()

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped


def make_app(kind: str) -> Any:
    if kind == "bare":
        return site()
    if kind == "constant":
        return constant_headers(site())
    if kind in ("wrapped", "compiled"):
        from attribution.web import middleware

        if (kind == "compiled") != str(middleware.__file__).endswith(".so"):
            raise SystemExit(f"the {kind} server imported {middleware.__file__}")
        return middleware.AttributionMiddleware(site(), secret_key=SECRET)
    from starlette.middleware.sessions import SessionMiddleware

    return SessionMiddleware(site(), secret_key=SECRET, https_only=False)


def serve(kind: str, port: int, parent: int) -> None:
    """Run one server until the bench stops it, or until the bench is gone."""
    import importlib.util

    import uvicorn

    def orphan_watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=orphan_watch, daemon=True).start()
    uvicorn.run(
        make_app(kind),
        host=HOST,
        port=port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the server on port {port} did not start")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: apt-get install wrk (Debian), then run this again")
    print("installing wrk with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL, timeout=300, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, timeout=300, check=False)
        subprocess.run(install, env=env, stdout=subprocess.DEVNULL, timeout=300, check=True)
    return shutil.which("wrk") or "wrk"


def measure(wrk: str, port: int, path: str, headers: dict[str, str], duration: float, connections: int) -> float:
    """Requests per second over ``duration`` seconds of keep-alive load."""
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://{HOST}:{port}{path}")
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None or re.search(r"Non-2xx", out):
        raise SystemExit(f"wrk could not measure {path}:\n{out}")
    return float(match.group(1))


def cases(compiled: bool = False) -> dict[str, tuple[str, str, dict[str, str]]]:
    """name: (server, path, headers). Every wrapped case has a bare twin sending the same request (and,
    with ``compiled``, a compiled twin)."""
    cookie = f"attribution={stored_cookie()}"
    from attribution.capture.cookie import CookieCodec
    from attribution.capture.settings import Settings

    payload = CookieCodec(Settings.build(secret_key=SECRET)).decode(stored_cookie()).model_dump(mode="json")
    session = session_cookie(make_app("session"), payload)
    landing = f"/?{LANDING_QUERY.decode()}"
    found: dict[str, tuple[str, str, dict[str, str]]] = {}
    for name, path, cookies in (
        ("cookie, no params", "/", cookie),
        ("cookie + _ga/_fbp", "/", f"{cookie}; {IDS}"),
        ("cookie + session, csrf, consent", "/", f"{cookie}; {OTHER}"),
        ("landing, 5 params", landing, None),
    ):
        headers = {**PAGE_HEADERS, **({"Cookie": cookies} if cookies else {})}
        found[f"bare: {name}"] = ("bare", path, headers)
        found[f"wrapped: {name}"] = ("wrapped", path, headers)
        if compiled:
            found[f"compiled: {name}"] = ("compiled", path, headers)
    found["constant: landing's headers, 5 params"] = ("constant", landing, {**PAGE_HEADERS})
    found["bare: session cookie + ids"] = ("bare", "/", {**PAGE_HEADERS, "Cookie": f"{session}; {IDS}"})
    found["SessionMiddleware: same payload + ids"] = ("session", "/", {**PAGE_HEADERS, "Cookie": f"{session}; {IDS}"})
    return found


def twin_of(name: str) -> str:
    """The bare case sending the same request as a wrapped (or SessionMiddleware) case."""
    if name.startswith("constant: "):
        return "bare: landing, 5 params"
    return "bare: " + ("session cookie + ids" if name.startswith("SessionMiddleware") else name.split(": ", 1)[1])


def report(runs: list[dict[str, tuple[float, float]]]) -> None:
    """Per case: its throughput over its bare twin's, each pair measured back to back in every run."""
    print(f"\n{'case':40} {'x bare min/median/max':>24} {'extra us/request (median)':>27}")
    for name in runs[0]:
        ratios = sorted(bare / rps for rps, bare in (run[name] for run in runs))
        extra = statistics.median((1 / rps - 1 / bare) * 1e6 for rps, bare in (run[name] for run in runs))
        figures = "/".join(f"{r:.2f}" for r in (ratios[0], statistics.median(ratios), ratios[-1]))
        print(f"{name:40} {figures:>24} {extra:>27.1f}")


def main(args: argparse.Namespace) -> None:
    started = time.monotonic()
    wrk = ensure_wrk()
    todo = cases(compiled=args.compiled is not None)
    ports = {kind: free_port() for kind in KINDS if kind != "compiled" or args.compiled}
    servers = []
    for kind, port in ports.items():
        env = dict(os.environ)
        if kind == "compiled":  # the compiled copy of the package first on the path
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.compiled, env.get("PYTHONPATH")]))
        command = [sys.executable, __file__, "--serve", kind, "--port", str(port), "--parent", str(os.getpid())]
        servers.append(subprocess.Popen(command, env=env))
    try:
        for port in ports.values():
            wait_listening(port, time.monotonic() + 30)
        for server, path, headers in todo.values():  # warm up: imports, caches, the bot list
            measure(wrk, ports[server], path, headers, 1, args.connections)
        runs: list[dict[str, tuple[float, float]]] = []  # per run, case: (its rps, its bare twin's rps)
        per_run = 2 * sum(not name.startswith("bare: ") for name in todo) * (args.duration + 0.5)
        for number in range(args.runs):
            if time.monotonic() - started + per_run > args.max_seconds:
                print(f"stopping after {number} runs: --max-seconds {args.max_seconds} reached")
                break
            # each case and its bare twin back to back (in either order), the pairs shuffled: drift in the
            # machine's load between the two halves of a ratio stays small (a bare request measured for one
            # case is never reused for another)
            names = [name for name in todo if not name.startswith("bare: ")]
            random.shuffle(names)
            run: dict[str, tuple[float, float]] = {}
            for name in names:
                twin = twin_of(name)
                pair = [name, twin]
                random.shuffle(pair)
                rps = {}
                for case in pair:
                    server, path, headers = todo[case]
                    rps[case] = measure(wrk, ports[server], path, headers, args.duration, args.connections)
                run[name] = (rps[name], rps[twin])
            runs.append({name: run[name] for name in todo if name in run})
            line = ", ".join(f"{n} {rps:.0f}/s (bare {bare:.0f}/s)" for n, (rps, bare) in runs[-1].items())
            print(f"run {number + 1}: {line}", flush=True)
        if runs:
            report(runs)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=3, help="whole seconds of load per case and run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=600, help="stop starting new runs after this")
    parser.add_argument(
        "--compiled", metavar="DIR", help="also serve the package compiled with mypyc in DIR (bench_compiled.py)"
    )
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--parent", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve(options.serve, options.port, options.parent)
    else:
        main(options)
