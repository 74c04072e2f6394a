"""The README's and the docs' tables and lists say what the code does: options and defaults, what is captured
(docs/capture.md), the vendors (the README and docs/vendors.md), and every public name documented somewhere a user
reads."""

from __future__ import annotations

import inspect
import re
from datetime import timedelta
from pathlib import Path

import pytest

import attribution
from attribution import VENDORS, AttributionMiddleware
from attribution.capture.params import (
    AD_ID_PARAMS,
    CAMPAIGN_PARAMS,
    CLICK_IDS,
    CONNECTLY_PARAMS,
    DEFAULT_CLICK_ID_WINDOWS,
    IDENTIFIER_COOKIES,
    UTM_PARAMS,
)
from attribution.capture.settings import DEFAULT_COOKIE_AGE, DEFAULT_EXCLUDED_PATHS, DEFAULTS, CaptureOptions

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = "\n".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md")))
CAPTURE = (ROOT / "docs" / "capture.md").read_text(encoding="utf-8")
VENDORS_DOC = (ROOT / "docs" / "vendors.md").read_text(encoding="utf-8")


def section(title: str, text: str = README, where: str = "the README") -> str:
    """The text under ``## title`` (of the README unless ``text`` is given), up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.MULTILINE | re.DOTALL)
    assert match is not None, f"{where} has no '## {title}' section"
    return match.group(1)


def capture_section(title: str) -> str:
    return section(title, CAPTURE, "docs/capture.md")


def table_rows(text: str) -> list[list[str]]:
    """The cells of each table row in ``text`` (the header row left out)."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]


def names_in(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def configuration() -> dict[str, tuple[str, str]]:
    return {names_in(row[0])[0]: (row[1], row[2]) for row in table_rows(capture_section("Configuration"))}


def middleware_options() -> dict[str, object]:
    """Each option of the middleware with its default (``inspect.Parameter.empty``: required): its own keywords
    and the capture options of its ``**options`` (``CaptureOptions``, their defaults in ``DEFAULTS``)."""
    parameters = inspect.signature(AttributionMiddleware.__init__).parameters
    own = {name: p.default for name, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    captured = {name: DEFAULTS.get(name, inspect.Parameter.empty) for name in CaptureOptions.__annotations__}
    return {**own, **captured}


def test_the_configuration_table_lists_exactly_the_middlewares_options() -> None:
    assert set(configuration()) == set(middleware_options())


def test_the_configuration_tables_defaults_are_the_codes() -> None:
    defaults = middleware_options()
    table = configuration()
    assert table["secret_key"][0] == "required"
    assert defaults["secret_key"] is inspect.Parameter.empty
    literal = {"`None`": None, "`False`": False, "`()`": (), '`"attribution"`': "attribution"}
    for name, (default, _) in table.items():
        if default in literal:
            assert defaults[name] == literal[default], name
        elif re.fullmatch(r"\d+", default):
            assert defaults[name] == int(default), name
    assert table["max_age"][0] == f"{DEFAULT_COOKIE_AGE.days} days"
    assert defaults["max_age"] == DEFAULT_COOKIE_AGE
    assert table["endpoint_prefix"][0] == f'`"{defaults["endpoint_prefix"]}"`'
    assert tuple(names_in(table["excluded_paths"][0])) == DEFAULT_EXCLUDED_PATHS
    assert defaults["excluded_paths"] == DEFAULT_EXCLUDED_PATHS


def test_the_capture_table_is_params_py() -> None:
    rows = table_rows(capture_section("What is captured"))
    query = [name for row in rows if not row[0].startswith("first-party") for name in names_in(row[1])]
    listed = [name.strip() for entry in query for name in entry.split(",")]
    assert sorted(listed) == sorted({*UTM_PARAMS, *CLICK_IDS, *CONNECTLY_PARAMS, *AD_ID_PARAMS, *CAMPAIGN_PARAMS})
    (cookies,) = [names_in(row[1]) for row in rows if row[0].startswith("first-party")]
    assert cookies == list(IDENTIFIER_COOKIES)


def test_the_click_id_windows_sentence_is_params_py() -> None:
    match = re.search(r"\*\*Click-id windows\*\*.*?—", capture_section("What is captured"), re.DOTALL)
    assert match is not None
    said: dict[str, timedelta] = {}
    for names, days in re.findall(r"((?:`\w+`,?\s*)+)(\d+) days", match.group(0)):
        for name in re.findall(r"`(\w+)`", names):
            said[name] = timedelta(days=int(days))
    assert said == dict(DEFAULT_CLICK_ID_WINDOWS)


def test_the_vendor_table_and_the_opening_name_every_registered_vendor() -> None:
    rows = table_rows(section("Vendors"))
    assert sorted(names_in(row[0])[0] for row in rows) == sorted(cls.__name__ for cls in VENDORS.values())
    sends = {names_in(row[0])[0]: row[1] for row in rows}  # the "what it sends" column says how it batches
    for cls in VENDORS.values():
        if cls.max_batch > 1:
            assert f"batched {cls.max_batch:,} per request" in sends[cls.__name__], cls.__name__
        else:
            assert "batched" not in sends[cls.__name__], cls.__name__
    opening = README.split("\n## ", 1)[0]
    labels = ("Whop", "RD Station", "Connectly", "ConvertLoop", "X Ads", "Meta", "Google Ads", "TikTok", "LinkedIn")
    for label in (*labels, "Reddit", "Microsoft Advertising"):
        assert label in opening, label


def test_the_vendors_at_a_glance_table_says_each_adapters_dedup_key_and_batch() -> None:
    rows = table_rows(section("At a glance", VENDORS_DOC, "docs/vendors.md"))
    by_name = {names_in(row[0])[0]: row for row in rows}
    assert sorted(by_name) == sorted(cls.__name__ for cls in VENDORS.values())
    for cls in VENDORS.values():
        row = by_name[cls.__name__]
        assert names_in(row[0])[1] == cls.name, cls.__name__
        dedup, batch = row[4], row[5]
        # "none", or "none (...)" for a vendor that batches without a dedup key of its own (LinkedIn)
        assert dedup.startswith("none") is (not cls.has_dedup_key), cls.__name__
        if cls.max_batch > 1:
            assert batch.startswith(f"{cls.max_batch:,} "), cls.__name__
        else:
            assert batch == "1", cls.__name__


API = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", attribution.__all__)
def test_every_public_name_is_importable_and_in_the_api_reference(name: str) -> None:
    assert getattr(attribution, name) is not None
    rows = [line for line in API.splitlines() if line.startswith("| ")]
    assert any(f"`{name}`" in row.split(" | ")[0] for row in rows), f"docs/api.md has no row for {name}"


def test_the_api_reference_names_nothing_that_is_not_public_and_the_readme_links_it() -> None:
    named = {name for line in API.splitlines() if line.startswith("| `") for name in names_in(line.split(" | ")[0])}
    assert named == set(attribution.__all__)
    assert "(docs/api.md)" in README


def test_the_version_is_set() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", attribution.__version__)


def test_the_architecture_map_names_every_part_of_the_tree() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = table_rows(section("The parts", text, "docs/architecture.md"))
    folders = {row[1].strip("`") for row in rows if row[1] != "top level"}
    package = ROOT / "attribution"
    subpackages = {
        str(path.parent.relative_to(package)) + "/" for path in package.rglob("__init__.py") if path.parent != package
    }
    assert folders == subpackages
    top_level = {name for row in rows if row[1] == "top level" for name in names_in(row[2])}
    modules = {path.stem for path in package.glob("*.py")}
    assert top_level == modules
