"""A flood of huge browser-id cookies cannot push the landing's paid click out of the cookie.

Any page on the registrable domain can set ``_fbp``, ``_ga``, ``_ttp``... for the shop. Twelve of them near the
500-character id limit made the rewritten cookie lose everything, the gclid of the landing included. The browser
sends those ids back on every request anyway, so they are the first thing the 4 KB budget gives up.
"""

from __future__ import annotations

import random
import string

from attribution.capture.params import IDENTIFIER_COOKIES
from tests.helpers import COOKIE, client, set_cookie_headers


def noise(rand: random.Random, n: int) -> str:
    """Characters that do not compress: a repeated letter would shrink to nothing in the cookie's zlib."""
    return "".join(rand.choices(string.ascii_letters + string.digits, k=n))


def flood() -> dict[str, str]:
    rand = random.Random(21)
    values = {name: noise(rand, 490) for name in IDENTIFIER_COOKIES}
    values["_ga"] = f"GA1.1.{noise(rand, 240)}.{noise(rand, 240)}"  # _ga is kept by its last two parts
    return values


def test_a_dozen_huge_id_cookies_leave_the_paid_click_and_the_touch_in_the_cookie() -> None:
    c = client()
    for name, value in flood().items():
        c.cookies.set(name, value, domain="shop.example.com")
    landing = c.get("/show?gclid=Cj0-paid-click&utm_source=google&utm_medium=cpc")
    (header,) = [h for h in set_cookie_headers(landing) if h.startswith(f"{COOKIE}=")]
    assert len(header) < 4096
    # the page that captured still reads every id of its own request
    assert len(landing.json()["identifiers"]) == len(IDENTIFIER_COOKIES)

    later = c.get("/show").json()
    assert later["click_ids"] == {"gclid": "Cj0-paid-click"}
    assert later["utm"] == {"utm_source": "google", "utm_medium": "cpc"}
    assert later["history"] == 1


def test_ids_of_ordinary_size_are_all_kept() -> None:
    c = client()
    c.cookies.set("_fbp", "fb.1.1700000000000.1234567890", domain="shop.example.com")
    c.cookies.set("_ga", "GA1.1.555.1700000000", domain="shop.example.com")
    c.get("/show?gclid=Cj0-paid-click")
    c.cookies.delete("_fbp")
    c.cookies.delete("_ga")
    assert c.get("/show").json()["identifiers"] == {"fbp": "fb.1.1700000000000.1234567890", "ga": "555.1700000000"}
