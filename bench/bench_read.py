"""What reading the attribution costs an app: ``.utm`` and the hidden form fields, from a verified cookie
already in the cache (a returning visitor's page view), at 1, 6 and 20 touches. Both read the request's
``scope["attribution"]`` as templates do (no models built); the last column renders the fields from the
models (``get_attribution``), for comparison.

    python bench/bench_read.py

Each figure is the median of 15 rounds of 2,000 reads, in µs per read; each read starts from a fresh
request state, as every request does. Figures depend on the machine and its load.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from attribution.capture.cookie import CookieCodec
from attribution.capture.rules import Landing, apply_wire
from attribution.capture.settings import Settings
from attribution.forms import hidden_fields
from attribution.web.state import AttributionState, LazyAttribution

SECRET = "bench-secret-key-0123456789abcdef"


def cookie(settings: Settings, touches: int) -> str:
    now = datetime.now(UTC) - timedelta(days=1)
    data = None
    for i in range(touches):
        params = {"utm_source": f"s{i}", "utm_medium": "cpc", "utm_campaign": f"c{i}", "gclid": f"G{i}xyz"}
        landing = Landing(params=params, path=f"/p{i}", referrer="www.google.com", host="shop.example.com")
        data = apply_wire(data, landing, now=now + timedelta(minutes=i), settings=settings) or data
    assert data is not None
    return CookieCodec(settings).encode_wire(data)


def per_read(read: Callable[[], object], n: int = 2000, rounds: int = 15) -> float:
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            read()
        results.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(results)


def reads(touches: int) -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
    """A returning visitor's page reading ``.utm``, one rendering the hidden fields, and one rendering
    them from the models."""
    settings = Settings.build(secret_key=SECRET, history_size=max(5, touches))
    codec = CookieCodec(settings)
    header = f"{settings.cookie_name}={cookie(settings, touches)}"
    codec.read(header.split("=", 1)[1])  # verified once, as the process has seen this visitor before

    def utm() -> object:
        return LazyAttribution(AttributionState(codec, header)).utm

    def fields() -> object:
        return hidden_fields(LazyAttribution(AttributionState(codec, header)))

    def from_models() -> object:
        return hidden_fields(LazyAttribution(AttributionState(codec, header)).load())

    return utm, fields, from_models


def main() -> None:
    print(f"{'touches':>8} {'.utm':>10} {'hidden fields':>14} {'(from models)':>14}   (µs per read)")
    for touches in (1, 6, 20):
        utm, fields, from_models = reads(touches)
        print(f"{touches:>8} {per_read(utm):>10.1f} {per_read(fields):>14.1f} {per_read(from_models):>14.1f}")


if __name__ == "__main__":
    main()
