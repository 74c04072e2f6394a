"""What the demo's pages say about a checkout and a delivery, in words a new user can follow.

* ``captured_values``: every value the visitor's attribution holds (parameters within their windows and
  browser identifiers), by name.
* ``fed_fields``: which of those values a vendor's request body carries, and under which field: found by
  looking for each value in the body, so it always matches what is actually sent.
* ``status_label``: a delivery's status as the demo shows it; under dry run nothing is ever "sending".
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from attribution import Attribution, Status

#: Values shorter than this are only matched whole: "cpc" inside some URL says nothing.
MIN_CONTAINED = 8


def captured_values(attr: Attribution) -> dict[str, str]:
    names = {name for touch in attr.touches for name in touch.params}
    found = {name: value for name in sorted(names) if (value := attr.get(name))}
    found.update(attr.identifiers)
    return found


def _leaves(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


def fed_fields(body: str, captured: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(captured name, body field)`` for every captured value found in a JSON request body."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    leaves = list(_leaves(parsed))
    pairs = []
    for name, value in captured.items():
        for path, leaf in leaves:
            if leaf == value or (len(value) >= MIN_CONTAINED and value in leaf):
                pairs.append((name, path))
    return pairs


def status_label(status: str, *, dry_run: bool) -> str:
    if status == Status.DRY_RUN:
        return "dry run: built, not sent"
    if dry_run and status == Status.SENDING:
        return "dry run in progress"
    if dry_run and status == Status.PENDING:
        return "queued for a dry run"
    return {Status.SENDING: "sending", Status.PENDING: "queued"}.get(Status(status), str(status))


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
