"""The middleware is typed as users call it: ``app.add_middleware(AttributionMiddleware, ...)`` passes
``mypy --strict`` against Starlette's middleware-factory protocol, and a wrong option is a type error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOOD = """
from datetime import timedelta

from starlette.applications import Starlette

from attribution import AttributionMiddleware, Tracker

app = Starlette()
tracker = Tracker(vendors=[], outbox="orders.sqlite3")
app.add_middleware(
    AttributionMiddleware,
    secret_key="a-long-enough-secret-key-0123456789",
    max_age=timedelta(days=30),
    tracker=tracker,
    excluded_paths=["/static/"],
    click_id_windows={"fbclid": 7},
    consent=lambda scope: True,
    debug=True,
)
app.add_middleware(AttributionMiddleware, secret_key=["new-key-0123456789abcdef", "old-key-0123456789abcdef"])
"""

BAD = """
from starlette.applications import Starlette

from attribution import AttributionMiddleware

app = Starlette()
app.add_middleware(AttributionMiddleware, secret_key="a-long-enough-secret-key-0123456789", max_age="90 days")
app.add_middleware(AttributionMiddleware, secret_keys="a-long-enough-secret-key-0123456789")
"""


def test_add_middleware_type_checks_and_a_wrong_option_does_not(tmp_path: Path) -> None:
    (tmp_path / "good_site.py").write_text(GOOD)
    (tmp_path / "bad_site.py").write_text(BAD)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "good_site.py", "bad_site.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line for line in errors if line.startswith("good_site.py")] == [], result.stdout
    bad_lines = {line.split(":")[1] for line in errors if line.startswith("bad_site.py")}
    assert bad_lines == {"7", "8"}, result.stdout  # the wrong-typed max_age, the misspelt secret_keys
    assert result.returncode == 1
