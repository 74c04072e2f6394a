"""How every example starts: uvicorn on 127.0.0.1, on ``--port`` (or ``PORT``, else 8000); ``0`` picks a free one.

The port actually listened on is printed first, so a script (or a test) starting ``--port 0`` learns it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import uvicorn

DEFAULT_PORT = 8000


def port_from(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """``--port N`` first, then the ``PORT`` environment variable, then 8000."""
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(description="Serve this example on http://127.0.0.1:PORT/")
    parser.add_argument("--port", type=int, default=None, help=f"default: $PORT or {DEFAULT_PORT}; 0: any free port")
    chosen: int | None = parser.parse_args(argv).port
    if chosen is None:
        chosen = int(env["PORT"]) if env.get("PORT") else DEFAULT_PORT
    if not 0 <= chosen <= 65535:
        parser.error(f"--port must be between 0 and 65535, not {chosen}")
    return chosen


def serve(app: Any, name: str, *, argv: Sequence[str] | None = None, hint: str = "") -> None:
    """Bind first (so ``0`` resolves to a real port), say where to go, then run uvicorn with the app's lifespan."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port_from(argv)))
    port = sock.getsockname()[1]
    print(f"{name}: listening on http://127.0.0.1:{port}/{hint}", flush=True)
    # Ctrl-C: uvicorn shuts the app down, then re-raises the signal: a traceback that would read as a crash
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn.Config(app, log_level="info")).run(sockets=[sock])
