"""What a landing costs the middleware: a direct ASGI call with five tracked parameters and no cookie yet,
against the same call on the bare app. In µs per request, medians of 15 rounds of 2,000.

    python bench/bench_landing.py

Direct calls show the middleware with nothing around it; figures depend on the machine and its load.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from attribution.web.middleware import AttributionMiddleware

SECRET = "bench-secret-key-0123456789abcdef"
UA = b"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36"
QUERY = b"utm_source=google&utm_medium=cpc&utm_campaign=spring_sale&utm_content=hero&gclid=Cj0KCQiA12345"


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})


def scope(i: int) -> dict[str, Any]:
    headers = [(b"host", b"shop.example.com"), (b"user-agent", UA), (b"sec-fetch-dest", b"document")]
    # a distinct campaign per request, so every request is a new landing with a new cookie to sign
    query = QUERY + b"&utm_term=t" + str(i).encode()
    return {"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": headers, "scheme": "https"}


async def rounds(target: Any, n: int = 2000, count: int = 15) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    results = []
    for r in range(count):
        scopes = [scope(r * n + i) for i in range(n)]
        start = time.perf_counter()
        while scopes:  # each scope freed after its request, as a server frees it
            await target(scopes.pop(), receive, send)
        results.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(results)


async def main() -> None:
    wrapped = AttributionMiddleware(app, secret_key=SECRET)
    bare = await rounds(app)
    landing = await rounds(wrapped)
    print(f"bare {bare:.1f} µs, landing with five parameters {landing:.1f} µs: +{landing - bare:.1f} µs")


if __name__ == "__main__":
    asyncio.run(main())
