"""Regenerate ``attribution/capture/referrers.py`` from Matomo's referrer lists and GA4's source categories list.

    python scripts/generate_referrers.py                       # from the pinned copies in tests/data/channels
    python scripts/generate_referrers.py --check               # exit 1 if referrers.py differs from them
    python scripts/generate_referrers.py --matomo DIR --ga4 CSV [--out FILE]

The data: Matomo's community-maintained search-engine, social-network and AI-assistant lists
(github.com/matomo-org/searchengine-and-social-list, CC0-1.0), and the list of sources and categories Google
publishes with GA4's default channel group (support.google.com/analytics/answer/9756891), as copied in
Velir/dbt-ga4 (MIT). Pinned copies live in ``tests/data/channels`` with their origins in ``sources.json``;
to update, copy the upstream files over them, record the new commits there, run this script (PyYAML is a
development dependency) and the tests. The generated module holds host sets and name sets the channel
rules look up without YAML at run time.

The written rules, and the only reasons an upstream host is left out:

1. Every host Matomo names for a search engine is kept, ``{}`` patterns as they are (``google.{}``,
   ``{}.search.yahoo.com``), whatever the engine's name (Ask's ``search-results.com``, InfoSpace's
   ``dogpile.com``), except:
   a. entries with a path (``bing.com/images/search``, ``android-app//com.google.../https/www.google.com``): a
      browser sends only the origin across sites, so these can never be told apart from their host (app ids
      such as ``com.google.android.googlequicksearchbox`` stay: they are the host of an app's Referer);
   b. a host Matomo also lists as an AI assistant or a social network (``chatgpt.com``, ``facebook.com``):
      it counts as that;
   c. ``EXCLUDED``: hosts of general sites (a news site, an ISP's portal, a company's own pages) that Matomo
      recognises as search only by the keyword parameter of their search page, which an origin never shows:
      nearly every visit from them is a plain referral. Each entry says why.
2. Every social-network and AI-assistant host is kept, except entries with a path, and ``EXCLUDED``.
3. Every source GA4's list names (hosts and names alike) is kept with its category, lowercased.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "attribution" / "capture" / "referrers.py"
PINNED = ROOT / "tests" / "data" / "channels"
HOST = re.compile(r"[a-z0-9{}][a-z0-9.{}-]*")

#: Upstream hosts left out, each with the reason (rule 1c).
EXCLUDED: dict[str, str] = {
    "www.cnn.com": "a news site; Matomo knows its Google-powered search page by the query parameter",
    "msnbc.msn.com": "MSN's news pages, listed for their search box",
    "dizionario.it.msn.com": "MSN Italy's dictionary, not search results",
    "enciclopedia.it.msn.com": "MSN Italy's encyclopedia, not search results",
    "cgi2.nintendo.co.jp": "Nintendo's own site search",
    "www.meinestadt.de": "a city portal; its search page is one page of many",
    "www.fastweb.it": "an ISP's portal, listed for its Google-powered search box",
    "it.luna.tv": "a TV portal, listed for its Google-powered search box",
    "www.optuszoo.com.au": "an ISP's portal, listed for its Google-powered search box",
    "online.no": "an ISP's portal, listed for its Google-powered search box",
    "translate.google.com": "a page read through Google Translate, not a search result",
    "login.live.com": "Microsoft's sign-in page (listed as Windows Live Spaces): a return from signing in",
}


def _name(engine: str) -> str:
    return re.sub(r"[^a-z0-9]", "", engine.lower())


def _hosts(urls: list[Any]) -> list[str]:
    """Hostnames and ``{}`` patterns without a leading ``www.`` (rule 1a: entries with a path are left out). App
    ids stay: an Android app's link arrives with ``Referer: android-app://com.reddit.frontpage``, whose host
    is the app id."""
    found = []
    for url in urls:
        host = url.lower() if isinstance(url, str) else ""
        if HOST.fullmatch(host) and "." in host:
            found.append(host.removeprefix("www."))
    return found


def _engines(data: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Every host of every search engine, and the engines' names (for ``utm_source=google``)."""
    hosts = {host for configs in data.values() for config in configs for host in _hosts(config.get("urls", []))}
    return hosts, {n for n in (_name(str(engine)) for engine in data) if len(n) >= 3}


def _simple(data: dict[str, Any]) -> tuple[set[str], set[str]]:
    hosts = {host for urls in data.values() for host in _hosts(urls)}
    return hosts, {n for n in (_name(str(k)) for k in data) if len(n) >= 3}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def _ga4(path: Path) -> dict[str, set[str]]:
    """GA4's sources by category (``SOURCE_CATEGORY_SEARCH`` → ``search``), lowercased as GA4 compares them."""
    found: dict[str, set[str]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            category = row["source_category"].removeprefix("SOURCE_CATEGORY_").lower()
            found.setdefault(category, set()).add(row["source"].strip().lower())
    return found


def _literal(name: str, values: set[str], doc: str) -> str:
    body = "".join(f"        {json.dumps(v, ensure_ascii=False)},\n" for v in sorted(values))
    return f"#: {doc}\n{name}: Final = frozenset(\n    (\n{body}    )\n)\n"


def generate(matomo: Path, ga4: Path, provenance: str) -> str:
    """The module's text for these inputs (the same inputs give the same text, byte for byte)."""
    search, search_names = _engines(_load(matomo / "SearchEngines.yml"))
    social, social_names = _simple(_load(matomo / "Socials.yml"))
    ai, ai_names = _simple(_load(matomo / "AIAssistants.yml"))
    excluded = {host.removeprefix("www.") for host in EXCLUDED}
    search = search - ai - social - excluded  # rules 1b and 1c
    social -= excluded
    ai -= excluded
    categories = _ga4(ga4)
    parts = [
        '"""Referrer hosts and source names by kind, generated by ``scripts/generate_referrers.py``: do not edit.\n\n'
        "From Matomo's searchengine-and-social-list (CC0-1.0) and the source categories Google publishes with\n"
        f"GA4's default channel group.\n{provenance}\n"
        "Matomo's hosts are lowercase without a leading ``www.``; ``{}`` stands for any country code or TLD.\n"
        'GA4\'s sources are hosts and names as Google lists them, lowercased.\n"""\n\n'
        "from __future__ import annotations\n\nfrom typing import Final\n",
        _literal("SEARCH_HOSTS", search, "Search engines (hosts and ``{}`` patterns)."),
        _literal("SEARCH_NAMES", search_names, "Search engine names, for ``utm_source=google``."),
        _literal("SOCIAL_HOSTS", social, "Social networks."),
        _literal("SOCIAL_NAMES", social_names, "Social network names, for ``utm_source=facebook``."),
        _literal("AI_ASSISTANT_HOSTS", ai, "AI assistants (ChatGPT, Claude, Perplexity, ...)."),
        _literal("AI_ASSISTANT_NAMES", ai_names, "AI assistant names, for ``utm_source=chatgpt``."),
        _literal("GA4_SEARCH", categories.get("search", set()), "GA4's search sources."),
        _literal("GA4_SOCIAL", categories.get("social", set()), "GA4's social sources."),
        _literal("GA4_VIDEO", categories.get("video", set()), "GA4's video sources."),
        _literal("GA4_SHOPPING", categories.get("shopping", set()), "GA4's shopping sources."),
    ]
    return parts[0] + "\n" + "\n\n".join(parts[1:])


def _provenance(folder: Path) -> str:
    """Where the pinned inputs came from (``sources.json`` beside them), for the module's docstring."""
    sources = folder / "sources.json"
    if not sources.exists():
        return "Inputs given on the command line."
    found = json.loads(sources.read_text(encoding="utf-8"))
    return f"Matomo commit {found['matomo']['commit'][:7]}; GA4's list as copied at\n{found['ga4']['copied_from']}."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matomo", type=Path, default=PINNED / "matomo", help="folder with Matomo's three YAML files")
    parser.add_argument("--ga4", type=Path, default=PINNED / "ga4_source_categories.csv", help="GA4's list as CSV")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    text = generate(args.matomo, args.ga4, _provenance(args.ga4.parent))
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out} is {'up to date' if same else 'NOT what the inputs generate'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
