"""The CLI, run as a subprocess, prints no database password: in its own refusals, nor in the site's errors."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli_process import cli

PASSWORD = "S3cret-Passw0rd"
URL = f"postgresql://shop:{PASSWORD}@db.internal.example:5432/orders"


def test_the_worker_refusing_another_outbox_names_it_without_its_password(tmp_path: Path) -> None:
    done = cli("--config", "tests.cli_site:tracker", "--outbox", URL, "worker", cwd=tmp_path)
    assert done.returncode == 2
    assert "is not the outbox of the tracker" in done.stderr
    assert "db.internal.example:5432/orders" in done.stderr  # still says which outbox was meant
    assert PASSWORD not in done.stderr + done.stdout


def test_a_config_that_fails_to_import_is_reported_without_the_password_it_quotes(tmp_path: Path) -> None:
    (tmp_path / "brokensite.py").write_text(
        f"raise RuntimeError('could not connect to {URL}: connection refused')\n", encoding="utf-8"
    )
    done = cli("--config", "brokensite:tracker", "status", cwd=tmp_path)
    assert done.returncode == 2
    assert "importing failed: RuntimeError: could not connect to postgresql://shop:***@db.internal.example" in (
        done.stderr
    )
    assert PASSWORD not in done.stderr + done.stdout


def test_a_config_that_fails_when_called_is_reported_without_the_password(tmp_path: Path) -> None:
    (tmp_path / "lazysite.py").write_text(
        f"def tracker():\n    raise ValueError('DATABASE_URL={URL} is unreachable')\n", encoding="utf-8"
    )
    done = cli("--config", "lazysite:tracker", "status", cwd=tmp_path)
    assert done.returncode == 2
    assert "calling it failed" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout
