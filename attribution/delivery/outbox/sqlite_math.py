"""SQLite's math functions for builds that lack them.

The reports' time decay needs ``pow``. SQLite has it since 3.35 when built with ``SQLITE_ENABLE_MATH_FUNCTIONS``
(Python's own builds are; some distributions' are not): without it, ``pow`` and ``exp`` are registered on the
connection in Python, slower but the same numbers.
"""

from __future__ import annotations

import math
import sqlite3


def _pow(base: float | None, exponent: float | None) -> float | None:
    if base is None or exponent is None:
        return None  # SQL's NULL in, NULL out, as the built-in does
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return math.inf
    except ValueError:  # a negative base to a fractional power: the built-in answers NULL
        return None


def _exp(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def ensure_math(conn: sqlite3.Connection, *, force: bool = False) -> bool:
    """Register ``pow`` and ``exp`` when this SQLite has no math functions (or ``force``); True when it did."""
    if not force:
        try:
            conn.execute("SELECT pow(2.0, 0.5), exp(0.0)").fetchone()
            return False
        except sqlite3.OperationalError:
            pass
    conn.create_function("pow", 2, _pow, deterministic=True)
    conn.create_function("exp", 1, _exp, deterministic=True)
    return True
