"""``scripts/generate_referrers.py`` against the upstream files it reads (pinned copies in ``tests/data/channels``):
the checked-in ``attribution/capture/referrers.py`` is exactly what they generate, and every host the upstream lists
name is in it, unless one of the script's written rules leaves it out."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from attribution.capture import referrers

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "channels"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_referrers", ROOT / "scripts" / "generate_referrers.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate_referrers", module)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()


def upstream(name: str) -> Any:
    return yaml.safe_load((DATA / "matomo" / name).read_text(encoding="utf-8"))


def engine_urls() -> list[tuple[str, str]]:
    return [
        (str(engine), str(url))
        for engine, configs in upstream("SearchEngines.yml").items()
        for config in configs
        for url in config["urls"]
    ]


def test_the_checked_in_module_is_what_the_pinned_upstream_files_generate() -> None:
    text = GENERATOR.generate(DATA / "matomo", DATA / "ga4_source_categories.csv", GENERATOR._provenance(DATA))
    assert (ROOT / "attribution" / "capture" / "referrers.py").read_text(encoding="utf-8") == text
    assert GENERATOR.main(["--check"]) == 0


def test_check_fails_when_the_module_differs(tmp_path: Path) -> None:
    stale = tmp_path / "referrers.py"
    stale.write_text("# edited by hand\n", encoding="utf-8")
    assert GENERATOR.main(["--check", "--out", str(stale)]) == 1
    assert GENERATOR.main(["--out", str(stale)]) == 0
    assert GENERATOR.main(["--check", "--out", str(stale)]) == 0


def test_every_host_matomo_names_for_an_engine_is_kept_unless_a_written_rule_leaves_it_out() -> None:
    excluded = {host.removeprefix("www.") for host in GENERATOR.EXCLUDED}
    elsewhere = referrers.SOCIAL_HOSTS | referrers.AI_ASSISTANT_HOSTS
    for engine, url in engine_urls():
        host = url.lower().removeprefix("www.")
        if "/" in host:  # rule 1a: a path, which an origin never shows
            continue
        assert host in referrers.SEARCH_HOSTS or host in elsewhere or host in excluded, (engine, url)
        assert not (host in referrers.SEARCH_HOSTS and host in excluded), (engine, url)


@pytest.mark.parametrize(
    "host",
    # hosts the generator lost when it kept only hosts that named their engine
    ["images.yandex.ru", "{}.search-results.com", "dogpile.com", "so.com", "m.so.com", "meta.ua", "maps.google.{}"],
)
def test_hosts_that_do_not_name_their_engine_are_kept(host: str) -> None:
    assert host in referrers.SEARCH_HOSTS


def test_every_written_exclusion_names_an_upstream_host_and_says_why() -> None:
    hosts = {url.lower() for _, url in engine_urls()}
    hosts |= {url.lower() for urls in upstream("Socials.yml").values() for url in urls}
    for host, reason in GENERATOR.EXCLUDED.items():
        assert host in hosts, host
        assert len(reason) > 20, host


def test_every_social_and_assistant_host_is_kept() -> None:
    for name, kept in (("Socials.yml", referrers.SOCIAL_HOSTS), ("AIAssistants.yml", referrers.AI_ASSISTANT_HOSTS)):
        for site, urls in upstream(name).items():
            for url in urls:
                host = url.lower().removeprefix("www.")
                if "/" not in host and host not in GENERATOR.EXCLUDED:
                    assert host in kept, (site, url)


def test_every_ga4_source_is_kept_with_its_category() -> None:
    kept = {
        "SOURCE_CATEGORY_SEARCH": referrers.GA4_SEARCH,
        "SOURCE_CATEGORY_SOCIAL": referrers.GA4_SOCIAL,
        "SOURCE_CATEGORY_VIDEO": referrers.GA4_VIDEO,
        "SOURCE_CATEGORY_SHOPPING": referrers.GA4_SHOPPING,
    }
    with (DATA / "ga4_source_categories.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 800
    for row in rows:
        assert row["source"].lower() in kept[row["source_category"]], row
