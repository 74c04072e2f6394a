"""`attribution ...`: status, list, show (PII masked), retry, purge, check, and the errors an operator sees."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attribution.cli import main, parse_age
from attribution.delivery.outbox.base import Finish, NewDelivery, NewOrder, Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from tests.support.cli_site import SECRETS, tracker
from tests.support.delivery_fakes import claim_one, customer_record


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An outbox with a delivered, a dead and a pending whop delivery and a pending xads one."""
    path = tmp_path / "outbox.sqlite3"
    monkeypatch.setenv("ATTRIBUTION_OUTBOX", str(path))
    monkeypatch.delenv("ATTRIBUTION_CONFIG", raising=False)

    async def fill() -> None:
        box = SQLiteOutbox(path)
        now = time.time()
        vendors = tracker().vendors
        await box.enqueue(
            [
                NewOrder(customer_record("A-1", vendors), (NewDelivery("whop", "purchase:A-1"),)),
                NewOrder(customer_record("A-2", vendors), (NewDelivery("whop", "purchase:A-2"),)),
                NewOrder(customer_record("A-3", vendors), (NewDelivery("whop", "purchase:A-3"),)),
                NewOrder(customer_record("A-1", vendors), (NewDelivery("xads", "purchase:A-1", batch_key="o8z6j"),)),
            ],
            now=now - 3600,
        )
        claimed = await claim_one(box, "w1", "whop", 2, now=now - 3600, lease=60)
        await box.finish(
            "w1",
            [
                Finish(claimed[0].id, Status.DELIVERED, now - 3600, answer='{"id":"conv_1"}'),
                Finish(claimed[1].id, Status.DEAD, now - 10, error="HTTP 400: ana@example.com is not valid"),
            ],
        )
        await box.close()

    asyncio.run(fill())
    return path


def test_status_counts_per_vendor_and_status(outbox: Path) -> None:
    code, text = run("status")
    assert code == 0
    lines = text.split("\n")
    assert re.fullmatch(r"  whop  #2 dead, \d+s ago: HTTP 400: \*\*\*@\*\*\* is not valid", lines[6])
    assert lines[:6] == [
        "vendor  pending  delivered  dead  oldest waiting",
        "whop    1        1          1     1h",
        "xads    1        0          0     1h",
        "total   2        1          1     1h",
        "",
        "last error (of deliveries not delivered):",
    ]


async def create(path: Path) -> None:
    box = SQLiteOutbox(path)
    await box.open()
    await box.close()


def test_status_of_an_empty_outbox(tmp_path: Path) -> None:
    asyncio.run(create(tmp_path / "empty.db"))
    assert run("--outbox", str(tmp_path / "empty.db"), "status") == (0, "the outbox is empty\n")


def test_list_filters_by_status_and_vendor_and_masks_errors(outbox: Path) -> None:
    code, text = run("list", "--status", "dead")
    lines = text.splitlines()
    assert code == 0
    assert lines[0].split() == ["id", "vendor", "status", "attempts", "order", "event", "updated", "last", "error"]
    assert len(lines) == 2
    assert lines[1].split()[:6] == ["2", "whop", "dead", "1", "A-2", "purchase"]
    assert "HTTP 400: ***@*** is not valid" in lines[1]
    assert len(run("list", "--vendor", "xads")[1].splitlines()) == 2
    assert len(run("list")[1].splitlines()) == 5
    assert run("list", "--vendor", "nobody")[1] == "no deliveries\n"


def test_show_masks_personal_data_unless_revealed(outbox: Path) -> None:
    code, text = run("show", "2")
    assert code == 0
    assert "delivery 2: whop dead" in text
    assert "ana@example.com" not in text
    assert "198.51.100.7" not in text
    assert "+5511999998888" not in text
    assert '"utm_source": "google"' in text  # what is not personal stays readable
    assert "#1" in text
    assert "dead" in text
    code, revealed = run("show", "2", "--reveal")
    assert "ana@example.com" in revealed
    assert "198.51.100.7" in revealed


def test_show_with_the_site_config_adds_the_request_with_credentials_masked(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, text = run("--config", "tests.support.cli_site:tracker", "--outbox", str(outbox), "show", "1")
    assert code == 0
    assert "request (credentials masked):" in text
    assert "authorization: ***" in text
    assert all(secret not in text for secret in SECRETS)
    assert "ana@example.com" not in text


def test_show_an_unknown_delivery(outbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("show", "999") == (1, "")
    assert capsys.readouterr().err == "attribution: no delivery 999\n"


def test_retry_one_or_every_dead_delivery(outbox: Path) -> None:
    assert run("retry", "1") == (0, "0 deliveries will be sent again\n")  # delivered stays delivered
    assert run("retry", "--dead") == (0, "1 delivery will be sent again\n")
    assert "pending  delivered" in run("status")[1]
    assert "dead" not in run("status")[1]
    assert run("retry")[0] == 2


def test_purge_older_than_keeps_recent_and_unfinished(outbox: Path) -> None:
    code, text = run("purge", "--older-than", "30m")
    assert code == 0
    assert text.startswith("purged 1 delivery (cancelled, dead, delivered, dry_run)")
    assert run("list", "--status", "dead")[1].count("\n") == 2  # the dead one is only 10 s old
    code, text = run("purge", "--older-than", "1s", "--status", "dead")
    assert text.startswith("purged 1 delivery (dead)")
    assert [line.split()[2] for line in run("list")[1].splitlines()[1:]] == ["pending", "pending"]


def test_check_shows_each_vendors_request_for_a_sample_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTRIBUTION_CONFIG", "tests.support.cli_site:tracker")
    code, text = run("check")
    assert code == 0
    for name in ("whop", "rdstation", "connectly", "convertloop", "xads"):
        assert f"== {name} ==" in text
    assert "POST http://127.0.0.1:9/whop/conversions" in text
    assert '"conversion_id": "CHECK-0001"' in text  # X's dedup key, as X's pixel would send it
    assert all(secret not in text for secret in SECRETS)


def test_worker_and_check_need_a_config(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ATTRIBUTION_CONFIG", raising=False)
    assert run("check")[0] == 2
    assert "needs the site's tracker" in capsys.readouterr().err
    assert run("--config", "tests.nowhere:tracker", "check")[0] == 2
    assert "No module named" in capsys.readouterr().err
    assert run("--config", "tests.support.cli_site:SECRETS", "check")[0] == 2
    assert "is not a Tracker" in capsys.readouterr().err


def test_parse_age() -> None:
    assert parse_age("30d").days == 30
    assert parse_age("12h").total_seconds() == 43200
    with pytest.raises(Exception, match="use a number and a unit"):
        parse_age("soon")


def test_the_module_runs_as_a_command(outbox: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "attribution.cli", "--outbox", str(outbox), "status"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("vendor")
