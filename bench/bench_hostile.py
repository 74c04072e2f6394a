"""What hostile input costs: distinct long user agents (the bot check) and distinct large cookies (the
verified-cookie cache). Reports the process's memory growth and the time per request-sized call.

    python bench/bench_hostile.py [--n 3000]

Figures depend on the machine and its load; compare runs taken side by side.
"""

from __future__ import annotations

import argparse
import gc
import random
import string
import time
import tracemalloc

from attribution.capture.cookie import CookieCodec
from attribution.capture.settings import Settings
from attribution.web.requestinfo import is_bot

BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)


def _noise(n: int, rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters) for _ in range(n))


def user_agents(n: int) -> tuple[float, float]:
    """Memory held afterwards (MB) and mean ms per call for n distinct 8 KB user agents, each built as a
    request would bring it and dropped after the check. Timed and traced in separate passes (tracing
    slows every allocation), each with agents the other never saw."""
    rng = random.Random(1)
    noise = _noise(8 * 1024 + 2 * n, rng)
    start = time.perf_counter()
    for i in range(n):
        is_bot(BROWSER + " " + noise[i : i + 8 * 1024])
    elapsed = time.perf_counter() - start
    gc.collect()
    tracemalloc.start()
    for i in range(n, 2 * n):
        is_bot(BROWSER + " " + noise[i : i + 8 * 1024])
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return held / 1e6, elapsed / n * 1000


def cookies(n: int, keys: int) -> tuple[float, float, int]:
    """Memory held (MB), mean ms per read and decoded JSON size for n distinct signed cookies whose
    payload has ``keys`` repetitive 400-character parameters (they compress ~40x)."""
    settings = Settings.build(secret_key="bench-hostile-key-6Rn2xQ8vT4mW")
    codec = CookieCodec(settings)
    values = []
    for i in range(n):
        filler = {f"p{j}": (str(i) + "a" * 400) for j in range(keys)}
        payload = {"v": 2, "f": None, "h": [[1_700_000_000, "/", "", "other", "s", filler]], "i": {}, "c": {}}
        values.append(codec.sign(payload))
    random.Random(2).shuffle(values)
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    for value in values:
        codec.read(value)
    elapsed = time.perf_counter() - start
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return held / 1e6, elapsed / n * 1000, keys * 412


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    n = parser.parse_args().n
    mb, ms = user_agents(n)
    print(f"{n} distinct 8 KB user agents: +{mb:.1f} MB held, {ms:.3f} ms per bot check")
    for keys in (40, 140):
        mb, ms, size = cookies(n, keys)
        print(f"{n} distinct cookies decoding to ~{size // 1024} KB: +{mb:.1f} MB held, {ms:.3f} ms per read (traced)")


if __name__ == "__main__":
    main()
