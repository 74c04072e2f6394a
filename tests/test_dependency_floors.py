"""No version the declared dependency ranges allow has a published advisory the project knows of.

``make audit`` checks what is installed against the live advisory database before a release; this checks,
offline, that the floors in ``pyproject.toml`` stay past every advisory listed here, so an install that
resolves to the oldest allowed versions is not a vulnerable one.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
#: (package, the newest version an advisory affects, the advisories)
ADVISORIES = [
    ("starlette", "0.47.1", "CVE-2025-54121: a large multipart file blocks the event loop"),
    ("starlette", "0.49.0", "CVE-2025-62727: O(n^2) Range header parsing in FileResponse"),
    ("starlette", "1.0.0", "CVE-2026-48710: a malformed Host header poisons request.url.path"),
    ("starlette", "1.0.1", "CVE-2026-48818: UNC paths in StaticFiles on Windows"),
    ("starlette", "1.3.0", "CVE-2026-54282, CVE-2026-54283: form parser limits ignored"),
    ("authlib", "1.6.4", "CVE-2025-61920, CVE-2025-62706: unbounded JWS header, JWE zip bomb"),
    ("authlib", "1.6.8", "CVE-2026-27962, CVE-2026-28802: JWK header injection, alg none accepted"),
    ("authlib", "1.7.0", "CVE-2026-41425, CVE-2026-44681"),
    ("jinja2", "3.1.5", "CVE-2025-27516: sandbox breakout through the attr filter"),
    ("jinja2", "3.1.4", "CVE-2024-56201, CVE-2024-56326: sandbox breakouts (filenames, format)"),
]


def declared() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *(r for group in project["optional-dependencies"].values() for r in group)]
    found: dict[str, list[Requirement]] = {}
    for line in lines:
        requirement = Requirement(line)
        found.setdefault(requirement.name.lower(), []).append(requirement)
    return found


@pytest.mark.parametrize(("package", "vulnerable", "advisory"), ADVISORIES)
def test_no_declared_range_allows_a_version_with_a_known_advisory(package: str, vulnerable: str, advisory: str) -> None:
    requirements = declared()[package]
    assert requirements, package
    for requirement in requirements:  # the dependency itself, and every extra that names it again
        assert not requirement.specifier.contains(vulnerable, prereleases=True), (str(requirement), advisory)
