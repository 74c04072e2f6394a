"""The labelled channel corpora in ``tests/data/channels`` (origins and licences in its README), and one way to
run them: each case is a real Chrome page load through ``AttributionMiddleware``, and the channel is what the
app reads from ``get_attribution(request).channel``.

The corpus tests assert accuracy floors with this module and ``bench/bench_channels.py`` prints the same
figures; both only send HTTP and read strings back, so the bench also runs against an older version of the
library (``PYTHONPATH=/path/to/old/checkout``) for a before/after table.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from attribution.web.middleware import AttributionMiddleware, get_attribution

DATA = Path(__file__).resolve().parent / "data" / "channels"
SECRET = "corpus-secret-key-0123456789abcdef"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
#: The site the corpora land on: Snowplow's "internal" cases are its own hosts and subdomains.
SITE = "https://www.snowplowanalytics.com"
SITE_DOMAIN = "snowplowanalytics.com"

#: Snowplow's medium → the channels our default rules may answer. Its "paid" cases are Google's ad-serving
#: and ad-search frames, which are a paid channel however a site's own rules split them.
SNOWPLOW_DEFAULT: Final = {
    "search": ("organic_search",),
    "social": ("organic_social",),
    "email": ("email",),
    "chatbot": ("ai_assistant",),
    "internal": ("direct",),
    "paid": ("paid_search", "display", "paid_other"),
}
#: GA4's source category → the channel of an unpaid visit from there, in our default rules and in GA4's.
GA4_CATEGORY: Final = {
    "SOURCE_CATEGORY_SEARCH": ("organic_search", "Organic Search"),
    "SOURCE_CATEGORY_SOCIAL": ("organic_social", "Organic Social"),
}
#: Our default channels by GA4's name for the same thing, to compare the default rules with GA4's.
GA4_NAME_OF: Final = {
    "paid_search": "Paid Search",
    "paid_social": "Paid Social",
    "display": "Display",
    "paid_other": "Paid Other",
    "organic_search": "Organic Search",
    "organic_social": "Organic Social",
    "email": "Email",
    "sms": "SMS",
    "push": "Mobile Push Notifications",
    "affiliate": "Affiliates",
    "referral": "Referral",
    "direct": "Direct",
    "other": "Unassigned",
}


@dataclass(frozen=True, slots=True)
class Case:
    """One landing: the path and query it lands on, the Referer it carries, and what each rule set should say."""

    name: str
    query: str = ""
    referer: str | None = None
    default: tuple[str, ...] = ()
    """The channels our default rules may answer (most cases: one)."""
    ga4: str | None = None
    """GA4's Default Channel Group, where the corpus says it."""
    why: str | None = None
    """For a deliberate difference from GA4: the row of docs/capture.md's table that says why."""
    label: str = ""
    """The corpus's own label (Snowplow's medium, GA4's category), for per-class figures."""


@dataclass(frozen=True, slots=True)
class Corpus:
    name: str
    cases: tuple[Case, ...]
    rules: tuple[str, ...] = ("default",)
    """The rule sets this corpus measures: "default" and, where GA4's own answer is known, "ga4"."""
    source: str = ""


def _snowplow_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((DATA / "snowplow-referer-tests.json").read_text("utf-8"))
    rows += json.loads((DATA / "snowplow-internal-tests.json").read_text("utf-8"))
    return rows


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def snowplow(*, origin_only: bool) -> Corpus:
    """Snowplow's referer-parser tests: the full referring URL, or only its origin as browsers send across sites
    (``strict-origin-when-cross-origin``)."""
    cases = tuple(
        Case(
            name=row["spec"],
            referer=_origin(row["uri"]) if origin_only else row["uri"],
            default=SNOWPLOW_DEFAULT[row["medium"]],
            label=row["medium"],
        )
        for row in _snowplow_rows()
    )
    name = "labelled referrers, origin only" if origin_only else "labelled referrers, full URL"
    return Corpus(name, cases, source="snowplow-referer-tests.json + snowplow-internal-tests.json")


@cache
def ga4_categories() -> dict[str, str]:
    """GA4's source categories list: source → category, as Google publishes it."""
    with (DATA / "ga4_source_categories.csv").open(encoding="utf-8", newline="") as f:
        return {row["source"]: row["source_category"] for row in csv.DictReader(f)}


def ga4_hosts() -> Corpus:
    """GA4's search and social sources that are hosts, each as the origin a visit from there carries."""
    cases = tuple(
        Case(name=source, referer=f"https://{source}/", default=(GA4_CATEGORY[c][0],), ga4=GA4_CATEGORY[c][1], label=c)
        for source, c in ga4_categories().items()
        if c in GA4_CATEGORY and "." in source
    )
    return Corpus("GA4 search and social sources, as Referer", cases, ("default", "ga4"), "ga4_source_categories.csv")


def ga4_names() -> Corpus:
    """GA4's search and social sources that are names, each as a landing's only ``utm_source``."""
    cases = tuple(
        Case(
            name=source,
            query="utm_source=" + quote(source, safe=""),
            default=(GA4_CATEGORY[c][0],),
            ga4=GA4_CATEGORY[c][1],
            label=c,
        )
        for source, c in ga4_categories().items()
        if c in GA4_CATEGORY and "." not in source
    )
    name = "GA4 search and social sources, as utm_source"
    return Corpus(name, cases, ("default", "ga4"), "ga4_source_categories.csv")


def ga4_landings() -> Corpus:
    """Landings in documented ad and campaign shapes with GA4's answer; where our default rules differ on purpose,
    the row says what they answer and why."""
    rows = json.loads((DATA / "ga4-landings.json").read_text("utf-8"))["cases"]
    cases = []
    for row in rows:
        ours = row.get("default")
        default = (ours["channel"],) if ours else tuple(k for k, v in GA4_NAME_OF.items() if v == row["ga4"])
        cases.append(
            Case(
                name=row["name"],
                query=row.get("query", ""),
                referer=row.get("referer"),
                default=default,
                ga4=row["ga4"],
                why=ours["why"] if ours else None,
                label=row["ga4"],
            )
        )
    name = "landings in ad and campaign shapes, against GA4's rules"
    return Corpus(name, tuple(cases), ("default", "ga4"), "ga4-landings.json")


def corpora() -> list[Corpus]:
    return [snowplow(origin_only=False), snowplow(origin_only=True), ga4_hosts(), ga4_names(), ga4_landings()]


# -- running them ---------------------------------------------------------------------------------------------


async def _show(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(get_attribution(request).channel.value))


def site(**options: Any) -> Starlette:
    """A shop at ``SITE`` whose ``/landing`` answers the channel the app reads."""
    app = Starlette(routes=[Route("/landing", _show)])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, domain=SITE_DOMAIN, **options)
    return app


def page_load_headers(referer: str | None) -> dict[str, str]:
    """What Chrome sends for a top-level navigation: from a link on another site (with a Referer), or typed."""
    headers = {
        "user-agent": CHROME,
        "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
        "accept-language": "en-GB,en;q=0.9",
        "sec-fetch-dest": "document",
        "sec-fetch-mode": "navigate",
        "sec-fetch-user": "?1",
        "upgrade-insecure-requests": "1",
        "sec-fetch-site": "none",
    }
    if referer is not None:
        headers["referer"] = referer
        own = (urlsplit(referer).hostname or "").endswith(SITE_DOMAIN)
        headers["sec-fetch-site"] = "same-site" if own else "cross-site"
    return headers


async def channel_of(client: httpx2.AsyncClient, case: Case) -> str:
    """The channel the app reads after this landing, for a new visitor (no cookie)."""
    client.cookies.clear()
    url = "/landing" + (f"?{case.query}" if case.query else "")
    response = await client.get(url, headers=page_load_headers(case.referer))
    response.raise_for_status()
    return response.text


@dataclass(slots=True)
class Outcome:
    """What one rule set answered for every case of one corpus."""

    corpus: Corpus
    rules: str
    answers: list[str] = field(default_factory=list)

    def expected(self, case: Case) -> tuple[str, ...]:
        if self.rules == "ga4":
            return (case.ga4,) if case.ga4 is not None else ()
        return case.default

    def right(self, case: Case, answer: str) -> bool:
        return answer in self.expected(case)

    @property
    def wrong(self) -> list[tuple[Case, str]]:
        return [(c, a) for c, a in zip(self.corpus.cases, self.answers, strict=True) if not self.right(c, a)]

    @property
    def accuracy(self) -> float:
        cases = len(self.corpus.cases)
        return (cases - len(self.wrong)) / cases if cases else 1.0

    @property
    def agrees_with_ga4(self) -> int:
        """Default rules against GA4: cases whose answer is GA4's own (by ``GA4_NAME_OF``)."""
        return sum(GA4_NAME_OF.get(a) == c.ga4 for c, a in zip(self.corpus.cases, self.answers, strict=True))

    def by_label(self) -> Iterator[tuple[str, int, int]]:
        """(label, right, cases) per corpus label."""
        totals: dict[str, list[int]] = {}
        for case, answer in zip(self.corpus.cases, self.answers, strict=True):
            entry = totals.setdefault(case.label, [0, 0])
            entry[0] += self.right(case, answer)
            entry[1] += 1
        for label, (right, count) in sorted(totals.items()):
            yield label, right, count


async def _run(corpus: Corpus, rules: str, options: Mapping[str, Any]) -> Outcome:
    extra = dict(options)
    if rules != "default":
        extra["channel_rules"] = rules
    outcome = Outcome(corpus, rules)
    transport = httpx2.ASGITransport(app=site(**extra))
    async with httpx2.AsyncClient(transport=transport, base_url=SITE) as client:
        for case in corpus.cases:
            outcome.answers.append(await channel_of(client, case))
    return outcome


def run(corpus: Corpus, rules: str, options: Mapping[str, Any] | None = None) -> Outcome:
    """Every case of ``corpus`` as a page load on a site with these channel rules."""
    return asyncio.run(_run(corpus, rules, options or {}))


def run_all(rule_sets: Iterable[str] = ("default", "ga4")) -> list[Outcome]:
    wanted = set(rule_sets)
    return [run(corpus, rules) for corpus in corpora() for rules in corpus.rules if rules in wanted]


#: The rows of docs/capture.md's table of deliberate differences from GA4, by the ``why`` the landings corpus
#: gives: each names the row's first cell.
DIFFERENCES: Final = {
    "click-ids": "A click id GA4 does not read",
    "webmail": "Webmail",
    "ai": "AI assistants",
    "cross-network": "`cross-network` campaigns",
    "shopping": "Shopping sites and campaigns",
    "video": "Video sites",
    "audio": "`utm_medium=audio`",
}
