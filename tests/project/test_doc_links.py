"""Every link between the README and the docs leads somewhere: the file exists, and a ``#section`` names one of its
headings as GitHub writes their anchors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"`|\*\*", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {anchor(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def links(page: Path) -> list[str]:
    return [target for target in LINK.findall(FENCE.sub("", page.read_text())) if "://" not in target]


def test_the_anchor_rule_matches_githubs() -> None:
    assert anchor("What a checkout costs per vendor") == "what-a-checkout-costs-per-vendor"
    assert anchor("PostgreSQL: many machines, and the order's own transaction") == (
        "postgresql-many-machines-and-the-orders-own-transaction"
    )
    assert anchor("Counts, and what `attribution status` reads") == "counts-and-what-attribution-status-reads"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_a_heading(page: Path) -> None:
    broken = []
    for target in links(page):
        if target.startswith("mailto:"):
            continue
        path, _, section = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file.relative_to(ROOT) if file.is_relative_to(ROOT) else file}")
        elif section and file.suffix == ".md" and section not in anchors(file):
            broken.append(f"{target}: no heading with this anchor in {file.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)
