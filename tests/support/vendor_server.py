"""A fake vendor API on 127.0.0.1: a small keep-alive HTTP/1.1 server on raw asyncio.

Used in tests (in a thread, or as a process for crash tests) and by the benchmarks. Raw asyncio rather
than uvicorn so that the fake vendor costs as little CPU as possible and the benchmark measures the client.

    python -m tests.support.vendor_server --port 0 --log received.txt --delay 0.5

prints ``PORT <n>`` once listening, answers every POST with 200 after ``--delay`` seconds in the success shape
of the vendor its path names (``success``), and appends each request's dedup keys (one line each, flushed) to
the log file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attribution.vendors import (
    Connectly,
    ConvertLoop,
    GoogleAds,
    LinkedIn,
    MetaConversions,
    MicrosoftAds,
    OpenAIAds,
    PinterestConversions,
    RDStation,
    Reddit,
    SnapchatConversions,
    TikTok,
    Vendor,
    Whop,
    XAds,
)

Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, bytes], Awaitable[Reply]]

_REASONS = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error"}


_JSON = {"content-type": "application/json"}


def success(path: str, body: bytes) -> bytes:
    """What each vendor answers a good request with, chosen by the path its adapter posts to: Google's OAuth
    token, the Data Manager API's ``requestId`` and the Google Ads API's per-row ``results``, Meta's
    ``events_received``, TikTok's ``{"code": 0}`` envelope, LinkedIn's ``elements`` of a batch, Reddit's message,
    Microsoft's ``eventsReceived``, Pinterest's per-event ``events``, Snap's ``VALID``, OpenAI's ``accepted_events``,
    and a plain JSON object for the rest."""
    route = path.split("?", 1)[0]
    if route.endswith("/rest/conversionEvents"):
        rows = _batch(body, "elements")
        return json.dumps({"elements": [{"status": 201} for _ in rows]}, separators=(",", ":")).encode()
    if route.endswith("/conversion_events"):
        count = len(_events(body))
        return json.dumps({"data": {"message": f"Successfully processed {count} conversion events."}}).encode()
    if "/ad_accounts/" in route:
        events = [{"status": "processed", "error_message": None, "warning_message": None}] * len(_batch(body, "data"))
        answer = {"num_events_received": len(events), "num_events_processed": len(events), "events": events}
        return json.dumps(answer, separators=(",", ":")).encode()
    if re.search(r"/v3/[^/]+/events$", route):
        return b'{"status":"VALID","reason":"received"}'
    if route.endswith("/v1/events"):
        return json.dumps({"accepted_events": len(_batch(body, "events"))}).encode()
    if "/v1/" in route and route.endswith("/events"):
        return json.dumps({"eventsReceived": len(_batch(body, "data"))}).encode()
    if path.endswith("/token"):
        return b'{"access_token":"ya29.fake","expires_in":3599,"token_type":"Bearer"}'
    if path.endswith("/events:ingest"):
        return json.dumps({"requestId": f"fake-{len(_batch(body, 'events'))}"}).encode()
    if ":uploadClickConversions" in path:
        rows = _batch(body, "conversions")
        results = [{"orderId": row.get("orderId"), "conversionAction": row.get("conversionAction")} for row in rows]
        return json.dumps({"results": results}, separators=(",", ":")).encode()
    if "/event/track" in path:
        return b'{"code":0,"message":"OK","request_id":"fake","data":{}}'
    if path.endswith("/events"):
        return json.dumps({"events_received": len(_batch(body, "data")), "fbtrace_id": "fake"}).encode()
    return b'{"id":"ok"}'


async def ok(path: str, body: bytes) -> Reply:
    return 200, _JSON, success(path, body)


def _batch(body: bytes, key: str) -> list[dict[str, Any]]:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return []
    rows = data.get(key, [data]) if isinstance(data, dict) else data
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def _events(body: bytes) -> list[dict[str, Any]]:
    """Reddit's ``{"data": {"events": [...]}}``."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return []
    inner = data.get("data") if isinstance(data, dict) else None
    events = inner.get("events") if isinstance(inner, dict) else None
    return [event for event in events if isinstance(event, dict)] if isinstance(events, list) else []


#: Where each vendor's request puts its dedup key: ``event_id`` (most), Google's ``transactionId`` (Data Manager)
#: or ``orderId``, LinkedIn's and Microsoft's ``eventId``, OpenAI's ``id``, Reddit's ``metadata.conversion_id``.
_KEYS = ("event_id", "transactionId", "orderId", "eventId", "id")


def _key(row: dict[str, Any]) -> str | None:
    for key in _KEYS:
        if key in row:
            return str(row[key])
    metadata = row.get("metadata")
    return str(metadata["conversion_id"]) if isinstance(metadata, dict) and "conversion_id" in metadata else None


def event_ids(body: bytes) -> list[str]:
    """The dedup keys in a fake vendor's request body, of one object or of each in a batch (``conversions``,
    ``events``, ``data``, ``elements``, or Reddit's ``data.events``)."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return []
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        rows: Any = data["data"].get("events", [])
    elif isinstance(data, dict):
        rows = data.get("conversions", data.get("events", data.get("data", data.get("elements", [data]))))
    else:
        rows = data
    rows = rows if isinstance(rows, list) else []
    return [key for row in rows if isinstance(row, dict) and (key := _key(row)) is not None]


def loopback_vendors(base: str) -> list[Vendor]:
    """Every adapter, each pointed at the fake vendor at ``base`` (Google's OAuth token endpoint too)."""
    return [
        Whop(api_key="k", company_id="biz_bench", base_url=f"{base}/whop"),
        RDStation(api_key="k", base_url=f"{base}/rd"),
        Connectly(api_key="k", business_id="b", base_url=f"{base}/connectly"),
        ConvertLoop(app_id="a", api_key="k", base_url=f"{base}/convertloop"),
        XAds(
            consumer_key="ck",
            consumer_secret="cs",
            access_token="at",
            access_token_secret="ats",
            pixel_id="px",
            events={"purchase": "ev"},
            base_url=f"{base}/x",
        ),
        MetaConversions(access_token="meta-token", pixel_id="1234567890", base_url=f"{base}/meta"),
        GoogleAds(
            customer_id="1234567890",
            client_id="client-id",
            client_secret="client-secret",
            refresh_token="refresh-token",
            conversion_actions={"purchase": "987654321"},
            base_url=f"{base}/google",
            token_url=f"{base}/google/token",
        ),
        TikTok(access_token="tiktok-token", pixel_code="CBENCH0123456789", base_url=f"{base}/tiktok"),
        LinkedIn(access_token="linkedin-token", events={"purchase": "12345"}, base_url=f"{base}/linkedin"),
        Reddit(access_token="reddit-token", pixel_id="a2_bench", base_url=f"{base}/reddit"),
        MicrosoftAds(api_token="uet-token", tag_id="343123456", base_url=f"{base}/microsoft"),
        PinterestConversions(access_token="pin-token", ad_account_id="549755885175", base_url=f"{base}/pinterest"),
        SnapchatConversions(access_token="snap-token", pixel_id="CBENCH-snap-pixel", base_url=f"{base}/snapchat"),
        OpenAIAds(api_key="openai-key", pixel_id="px_bench", base_url=f"{base}/openai"),
    ]


@dataclass
class FakeVendorServer:
    """Answers with ``handler(path, body)``; counts requests; records every path and body."""

    handler: Handler = ok
    requests: int = 0
    paths: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    record: bool = True
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                if self.record:
                    self.paths.append(path)
                    self.bodies.append(body)
                status, headers, payload = await self.handler(path, body)
                out = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                    f"content-length: {len(payload)}",
                ]
                out += [f"{k}: {v}" for k, v in headers.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve_client, "127.0.0.1", port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start_in_thread(self) -> FakeVendorServer:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name="fake-vendor")
        self._thread.start()
        started.wait(5)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    # Line-buffered and never closed: it lives as long as the process, and a SIGKILL must not lose lines.
    log = Path(args.log).open("a", buffering=1) if args.log else None  # noqa: SIM115

    async def handler(path: str, body: bytes) -> Reply:
        if args.delay:
            await asyncio.sleep(args.delay)
        if log is not None:
            for key in event_ids(body):
                log.write(key + "\n")
        return await ok(path, body)

    async def run() -> None:
        server = FakeVendorServer(handler, record=False)
        await server.serve(args.port)
        print(f"PORT {server.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
