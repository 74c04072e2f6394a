"""The design's import rules hold, and each one bites: the same contracts run on a copy of the package with one
rule broken on purpose must fail, naming the rule."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

#: (module file, import that breaks a rule, words from the broken contract's name)
BREAKS = [
    ("capture/rules.py", "from ..web import middleware", "capture: pure rules"),
    ("capture/models.py", "from ..orders import conversion", "capture: pure rules"),
    ("web/state.py", "from ..checkout import tracker", "web: the ASGI edge uses capture only"),
    ("orders/conversion.py", "from ..vendors import base", "orders: the conversion model"),
    ("vendors/whop.py", "from ..delivery import worker", "vendors: never delivery"),
    ("delivery/worker.py", "from ..checkout import token", "delivery: never the web edge"),
    ("checkout/tracker.py", "from ..web import middleware", "checkout: reaches the web edge only"),
    ("checkout/tracker.py", "from ..reports import page", "checkout: reaches the web edge only"),
    ("reports/revenue.py", "from ..checkout import tracker", "reports: read the outbox, never send"),
    ("reports/page.py", "from ..delivery import worker", "reports: read the outbox, never send"),
    ("redact.py", "from .capture import params", "ground: errors and redact"),
    ("vendors/base.py", "from .. import cli", "face: nothing imports the CLI"),
    ("web/debug.py", "import attribution", "face: no module of the library imports the package"),
]


def lint(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(project / "pyproject.toml")],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_package_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("scratch")
    shutil.copytree(ROOT / "attribution", copy / "attribution", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


@pytest.mark.parametrize(("module", "statement", "contract"), BREAKS, ids=[b[0] for b in BREAKS])
def test_a_rule_broken_on_purpose_fails_the_lint(scratch: Path, module: str, statement: str, contract: str) -> None:
    path = scratch / "attribution" / module
    original = path.read_text(encoding="utf-8")
    # after the module docstring and ``from __future__``, where an import of any kind may stand
    head, marker, rest = original.partition("from __future__ import annotations\n")
    path.write_text(head + marker + statement + "  # noqa\n" + rest, encoding="utf-8")
    try:
        result = lint(scratch)
    finally:
        path.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    summary = " ".join(result.stdout.split()).split("Broken contracts")[0]  # lint-imports wraps long names
    verdicts = re.findall(r"\b(KEPT|BROKEN)\b", summary.split(contract, 1)[1])
    assert verdicts[0] == "BROKEN"  # the first verdict after the contract's name is its own
