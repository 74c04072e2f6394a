"""What ships with the package: its version, its licence, its changelog."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import metadata
from pathlib import Path

import attribution
from attribution._version import UNKNOWN, package_version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_version_is_the_installed_distributions() -> None:
    assert attribution.__version__ == PYPROJECT["version"]
    assert attribution.__version__ == metadata("asgi-attribution")["Version"]


def test_version_of_a_source_tree_never_installed_says_unknown() -> None:
    assert package_version("asgi-attribution-not-installed") == UNKNOWN


def test_licence_is_the_mit_text_pyproject_declares() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert PYPROJECT["license"] == "MIT"
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} the asgi-attribution authors$", text, re.MULTILINE)
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_changelog_has_an_unreleased_section_then_the_current_version() -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert re.fullmatch(rf"{re.escape(PYPROJECT['version'])} - \d{{4}}-\d{{2}}-\d{{2}}", headings[1])
