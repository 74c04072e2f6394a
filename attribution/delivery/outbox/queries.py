"""The outbox backends' SQL, kept in files beside them (``postgres.sql``, ``sqlite.sql``) rather than in strings.

A file holds every statement of one backend, each under a ``-- name: NAME`` line, its comments first. ``load``
returns the statements by name; the comments that open a statement document it in the file and are not sent.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", flags=re.MULTILINE)


@functools.cache
def load(filename: str) -> dict[str, str]:
    """The statements of ``filename`` (in this package) by name, read once per process."""
    text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    parts = _NAME.split(text)
    return {name: _statement(body) for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def _statement(body: str) -> str:
    lines = body.strip().splitlines()
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    return "\n".join(lines).strip()
