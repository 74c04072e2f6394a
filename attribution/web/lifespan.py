"""The tracker's life on the ASGI lifespan: started before the server serves, stopped when it shuts down.

A tracker that cannot start (an outbox that cannot be opened) must stop the server, not leave it serving
checkouts that nothing will ever send: the server is told ``lifespan.startup.failed`` with the reason, and
uvicorn, Hypercorn and Granian exit with it.

An app that does not speak the lifespan protocol (Django's ASGI handler raises on any scope but HTTP) would
make the server give up the lifespan and run without a worker. When the app raises or returns without
answering the server's startup, the middleware answers the server itself, so the tracker still starts and
stops with the server.
"""

from __future__ import annotations

import logging
from typing import Protocol

from ..errors import AttributionError
from .types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("attribution")


class Startable(Protocol):
    """What the lifespan needs of a ``Tracker`` (the middleware's ``ManagedWorker``)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def _reason(exc: BaseException) -> str:
    # The library's own errors are written for the operator; anything else may quote what it should not.
    detail = str(exc) if isinstance(exc, AttributionError) else type(exc).__name__
    return f"asgi-attribution: the tracker could not start, so no conversion would be sent: {detail}"


async def run_lifespan(app: ASGIApp, tracker: Startable, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app``'s lifespan with ``tracker`` started once the app has started, and stopped at shutdown."""
    startup_received = False
    answered = False

    async def receive_and_stop() -> Message:
        nonlocal startup_received
        message = await receive()
        if message["type"] == "lifespan.startup":
            startup_received = True
        elif message["type"] == "lifespan.shutdown":
            await tracker.stop()
        return message

    async def start_then_send(message: Message) -> None:
        nonlocal answered
        if message["type"] == "lifespan.startup.complete":
            answered = True
            try:
                await tracker.start()
            except Exception as exc:
                log.error("%s", _reason(exc))
                message = {"type": "lifespan.startup.failed", "message": _reason(exc)}
        elif message["type"] == "lifespan.startup.failed":
            answered = True
        await send(message)

    try:
        await app(scope, receive_and_stop, start_then_send)
    except Exception as exc:
        if answered:
            raise
        log.info("the app does not run the ASGI lifespan (%s); the tracker starts with the server", type(exc).__name__)
    else:
        if answered:
            return
    await _serve(tracker, receive, send, startup_received=startup_received)


async def _serve(tracker: Startable, receive: Receive, send: Send, *, startup_received: bool) -> None:
    """The lifespan protocol answered for an app that does not: start, wait for shutdown, stop."""
    if not startup_received:
        await receive()  # lifespan.startup
    try:
        await tracker.start()
    except Exception as exc:
        log.error("%s", _reason(exc))
        await send({"type": "lifespan.startup.failed", "message": _reason(exc)})
        return
    await send({"type": "lifespan.startup.complete"})
    await receive()  # lifespan.shutdown
    await tracker.stop()
    await send({"type": "lifespan.shutdown.complete"})
