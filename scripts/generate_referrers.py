"""Regenerate ``attribution/capture/referrers.py`` from Matomo's search-engine, social-network and AI-assistant lists.

Matomo's community-maintained lists (github.com/matomo-org/searchengine-and-social-list, CC0-1.0) are the
data; this script turns them into host sets the channel rules can look up without YAML at run time.

    git clone https://github.com/matomo-org/searchengine-and-social-list /tmp/matomo-lists
    python scripts/generate_referrers.py /tmp/matomo-lists     # needs PyYAML: pip install pyyaml

Browsers send only the origin as ``Referer`` across sites, so a referrer is judged by its host alone.
Matomo confirms many search engines by the keyword parameter in the referring URL; without it, a host is
taken as a search engine only when Matomo expects its keyword to be hidden (``hiddenkeyword``), when the
host names the engine, or when it is a search subdomain (``search.``, ``suche.`` ...). That keeps, say,
``www.cnn.com`` (listed for its Google-powered search page) a referral.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent.parent / "attribution" / "capture" / "referrers.py"
SEARCH_LABELS = frozenset(
    {"search", "suche", "find", "busca", "buscar", "recherche", "szukaj", "isearch", "sok", "zoek"}
)
HOST = re.compile(r"[a-z0-9{}][a-z0-9.{}-]*")


def _name(engine: str) -> str:
    return re.sub(r"[^a-z0-9]", "", engine.lower())


def _hosts(urls: list[Any]) -> list[str]:
    """Plain hostnames and ``{}`` patterns; app ids and paths (``x.com/i/grok``) cannot match a host."""
    return [u.lower() for u in urls if isinstance(u, str) and HOST.fullmatch(u.lower()) and "." in u]


def _search_hosts(data: dict[str, Any]) -> tuple[set[str], set[str]]:
    hosts: set[str] = set()
    names: set[str] = set()
    for engine, configs in data.items():
        name = _name(str(engine))
        if len(name) >= 3:
            names.add(name)
        for config in configs:
            hidden = bool(config.get("hiddenkeyword"))
            for host in _hosts(config.get("urls", [])):
                labels = host.split(".")
                named = bool(name) and any(name in label for label in labels)
                if hidden or named or labels[0] in SEARCH_LABELS:
                    hosts.add(host.removeprefix("www."))
    return hosts, names


def _simple(data: dict[str, Any]) -> tuple[set[str], set[str]]:
    hosts = {host.removeprefix("www.") for urls in data.values() for host in _hosts(urls)}
    names = {n for n in (_name(str(k)) for k in data) if len(n) >= 3}
    return hosts, names


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def _literal(name: str, values: set[str], doc: str) -> str:
    body = "".join(f"        {json.dumps(v)},\n" for v in sorted(values))
    return f"#: {doc}\n{name}: Final = frozenset(\n    (\n{body}    )\n)\n"


def main(source: str) -> None:
    folder = Path(source)
    search, search_names = _search_hosts(_load(folder / "SearchEngines.yml"))
    social, social_names = _simple(_load(folder / "Socials.yml"))
    ai, ai_names = _simple(_load(folder / "AIAssistants.yml"))
    # An assistant or a network that Matomo also lists as an engine (chatgpt.com, facebook.com) is that first.
    search -= ai | social
    # A fixed git command on the folder the maintainer named.
    git = ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
    parts = [
        '"""Referrer hosts by kind, generated from Matomo\'s searchengine-and-social-list (CC0-1.0).\n\n'
        f"Do not edit: run ``scripts/generate_referrers.py`` (source commit {commit or 'unknown'}).\n"
        "Hosts are lowercase without a leading ``www.``; ``{}`` stands for any country code or TLD.\n"
        '"""\n\nfrom __future__ import annotations\n\nfrom typing import Final\n',
        _literal("SEARCH_HOSTS", search, "Search engines (hosts and ``{}`` patterns)."),
        _literal("SEARCH_NAMES", search_names, "Search engine names, for ``utm_source=google``."),
        _literal("SOCIAL_HOSTS", social, "Social networks."),
        _literal("SOCIAL_NAMES", social_names, "Social network names, for ``utm_source=facebook``."),
        _literal("AI_ASSISTANT_HOSTS", ai, "AI assistants (ChatGPT, Claude, Perplexity, ...)."),
        _literal("AI_ASSISTANT_NAMES", ai_names, "AI assistant names, for ``utm_source=chatgpt``."),
    ]
    OUT.write_text(parts[0] + "\n" + "\n\n".join(parts[1:]), encoding="utf-8")
    print(f"wrote {OUT}: {len(search)} search, {len(social)} social, {len(ai)} AI assistant hosts")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
