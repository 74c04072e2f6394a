"""Hostile input buys neither memory nor CPU: the bot check looks at a bounded part of the user agent,
and the verified-cookie cache is bounded by bytes. Costs are measured by bench/bench_hostile.py; here,
what the bounds must not break, and the memory they hold."""

from __future__ import annotations

import gc
import random
import string
import sys
import threading
import tracemalloc

import crawleruseragents
import pytest

from attribution.capture.cookie import CACHE_BYTES, CookieCodec
from attribution.capture.lru import ByteLRU
from attribution.capture.settings import Settings
from attribution.web.requestinfo import UA_CHECKED_LENGTH, is_bot
from tests.support.helpers import SECRET, client, set_cookie_headers

KNOWN_BOTS = [agent for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA for agent in entry.get("instances", [])]
BROWSERS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/21F90 [FBAN/FBIOS;FBAV/470.0.0.40.103;FBBV/630000000;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;"
    "FBSV/17.5;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/632000000]",
]


def test_every_crawler_the_list_gives_as_an_example_is_still_a_bot() -> None:
    assert len(KNOWN_BOTS) > 1000
    assert [agent for agent in KNOWN_BOTS if not is_bot(agent)] == []


def test_real_browsers_are_not_bots_even_with_kilobytes_of_padding() -> None:
    for agent in BROWSERS:
        assert not is_bot(agent)
        assert not is_bot(agent + " Extension/1.0" * 600)


def test_a_crawler_with_kilobytes_appended_is_still_a_bot() -> None:
    # A crawler's token sits near the start of its agent. One buried in the middle of kilobytes is not
    # looked for: that client merely chooses to be captured, as any client can by sending a browser's agent.
    rng = random.Random(7)
    for agent in rng.sample(KNOWN_BOTS, 100):
        padded = agent + " " + "x" * 8000
        assert len(padded) > UA_CHECKED_LENGTH
        if crawleruseragents.is_crawler(padded):  # the list's own verdict on the whole string
            assert is_bot(padded), agent


@pytest.mark.parametrize(
    "agent", ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)" + " " * 9000, ""]
)
def test_bots_are_refused_through_the_site(agent: str) -> None:
    response = client().get("/show?utm_source=x&gclid=G", headers={"user-agent": agent})
    assert response.status_code == 200
    assert set_cookie_headers(response) == []


def test_a_browser_with_a_long_user_agent_is_captured_through_the_site() -> None:
    response = client().get("/show?utm_source=x", headers={"user-agent": BROWSERS[0] + " Ext/1.0" * 1000})
    assert len(set_cookie_headers(response)) == 1


def test_the_byte_lru_keeps_its_total_within_bounds_and_the_newest_entries() -> None:
    cache: ByteLRU[int, str] = ByteLRU(max_bytes=1000, max_entry_bytes=300)
    for i in range(50):
        cache.put(i, "v", 100)
    assert cache.size <= 1000
    assert len(cache) == 10
    assert cache.get(49) == "v"
    assert cache.get(39) is None
    cache.put(99, "big", 301)  # over the per-entry bound: never kept
    assert cache.get(99) is None
    cache.get(40)  # used: no longer the least recent
    cache.put(100, "v", 100)
    assert cache.get(40) == "v"
    assert cache.get(41) is None


def test_the_byte_lru_keeps_its_books_when_threads_share_it() -> None:
    # A site's sync views run in a thread pool and read the cookie through the same verified-cookie
    # cache as the event loop: gets and puts from several threads must neither raise nor lose count.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so interleavings do happen
    errors: list[BaseException] = []
    try:
        for _ in range(5):
            cache: ByteLRU[int, int] = ByteLRU(max_bytes=2000, max_entry_bytes=100)

            def use(seed: int, cache: ByteLRU[int, int] = cache) -> None:
                try:
                    for i in range(20_000):
                        key = (i * 7 + seed) % 60
                        if cache.get(key) is None:
                            cache.put(key, i, 50)
                except BaseException as exc:  # what the thread hit is the failure
                    errors.append(exc)

            threads = [threading.Thread(target=use, args=(seed,)) for seed in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            assert cache.size == 50 * len(cache) <= 2000
    finally:
        sys.setswitchinterval(switch)


def test_distinct_large_cookies_do_not_grow_the_process() -> None:
    codec = CookieCodec(Settings.build(secret_key=SECRET))
    rng = random.Random(3)
    values = []
    for i in range(1200):
        # each decodes to ~16 KB: repetitive values compress about 40x
        filler = {f"p{j}": str(i) + rng.choice(string.ascii_letters) * 400 for j in range(40)}
        payload = {"v": 2, "f": None, "h": [[1_700_000_000, "/", "", "other", "s", filler]], "i": {}, "c": {}}
        values.append(codec.sign(payload))
    gc.collect()
    tracemalloc.start()
    for value in values:
        assert codec.read(value) is not None
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # unbounded by bytes, 1,200 of these held ~26 MB; the cache now keeps what CACHE_BYTES allows
    assert held < 2 * CACHE_BYTES
