"""Examples and the docs' snippets use only what the library makes public, so a user copying them writes code
that survives a reorganisation of the modules behind those names."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

import attribution

ROOT = Path(__file__).resolve().parents[2]
#: Public modules besides ``attribution`` itself, each with the names it offers.
PUBLIC_MODULES = {
    "attribution": set(attribution.__all__),
    "attribution.vendors": None,  # its own __all__, read below
    "attribution.templating": None,
    "attribution.reports": None,
}
SNIPPET = re.compile(r"```python\n(.*?)```", re.DOTALL)


def public_names(module: str) -> set[str]:
    found = PUBLIC_MODULES[module]
    if found is None:
        imported = __import__(module, fromlist=["__all__"])
        found = set(getattr(imported, "__all__", ()))
    return found


def private_imports(source: str) -> list[str]:
    """Each import of the library that names a module or a name users may not rely on."""
    wrong: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            wrong += [a.name for a in node.names if a.name.startswith("attribution.") and a.name not in PUBLIC_MODULES]
            continue
        module = node.module if isinstance(node, ast.ImportFrom) and node.level == 0 else None
        if module is None or not (module == "attribution" or module.startswith("attribution.")):
            continue
        if module not in PUBLIC_MODULES:
            wrong.append(module)
        else:
            offered = public_names(module)
            wrong += [f"{module}.{a.name}" for a in node.names if a.name not in offered]  # type: ignore[union-attr]
    return wrong


def sources() -> list[tuple[str, str]]:
    examples = sorted((ROOT / "examples").rglob("*.py"))
    files = [(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")) for path in examples]
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for n, block in enumerate(SNIPPET.findall(doc.read_text(encoding="utf-8"))):
            files.append((f"{doc.relative_to(ROOT)} snippet {n + 1}", textwrap.dedent(block)))
    return files


@pytest.mark.parametrize(("where", "source"), sources(), ids=[where for where, _ in sources()])
def test_examples_and_snippets_import_only_public_names(where: str, source: str) -> None:
    assert private_imports(source) == []


def test_the_check_sees_a_private_import() -> None:
    assert private_imports("from attribution.web.middleware import AttributionMiddleware") == [
        "attribution.web.middleware"
    ]
    assert private_imports("from attribution import AttributionMiddleware, wire") == ["attribution.wire"]
    assert private_imports("import attribution.capture.cookie") == ["attribution.capture.cookie"]
    assert private_imports("from attribution.vendors import Whop, base") == ["attribution.vendors.base"]
    assert private_imports("from attribution import Tracker\nfrom attribution.vendors import Whop") == []
