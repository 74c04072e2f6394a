"""`attribution` as an operator runs it: a subprocess against a real outbox file, errors included."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from attribution import Customer, Whop
from attribution.delivery.outbox.base import Finish, NewDelivery, NewOrder, Status
from attribution.delivery.outbox.sqlite import SQLiteOutbox
from tests.support.delivery_fakes import claim_one, customer_record
from tests.support.processes import cli

EMAIL = "ana.souza@example.com"
PHONE = "+5511999998888"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
WHOP = Whop(api_key="whop-key", company_id="biz_test")


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    """Three whop deliveries: 1 pending, 2 dead with an error quoting the customer, 3 retrying likewise."""
    path = tmp_path / "outbox.sqlite3"

    async def fill() -> None:
        box = SQLiteOutbox(path)
        now = time.time()
        customer = Customer(email=EMAIL, phone=PHONE, first_name="Ana", last_name="Souza")
        await box.enqueue(
            [
                NewOrder(
                    customer_record(f"A-{n}", [WHOP], customer=customer, user_agent=UA),
                    (NewDelivery("whop", f"purchase:A-{n}"),),
                )
                for n in (1, 2, 3)
            ],
            now=now - 3600,
        )
        claimed = await claim_one(box, "w1", "whop", 3, now=now - 3600, lease=60)
        echo = f"HTTP 400: Ana Souza <{EMAIL}>, {PHONE}: phone taken (sent with {UA} to api.whop.com)"
        await box.finish(
            "w1",
            [
                Finish(claimed[0].id, Status.PENDING, now - 3500, next_attempt_at=now - 3500, released=True),
                Finish(claimed[1].id, Status.DEAD, now - 60, error=echo),
                Finish(claimed[2].id, Status.PENDING, now - 30, next_attempt_at=now + 60, error=echo),
            ],
        )
        await box.close()

    asyncio.run(fill())
    return path


@pytest.mark.parametrize("command", [["status"], ["list"], ["show", "1"], ["retry", "1"]])
def test_a_missing_outbox_is_an_error_naming_the_path_and_is_not_created(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    done = cli("--outbox", str(missing), *command)
    assert done.returncode == 2
    assert done.stderr == f"attribution: no outbox at {missing} (--outbox or ATTRIBUTION_OUTBOX)\n"
    assert not missing.exists()
    # without any option: the default file, in the working directory, named in full
    done = cli(*command, cwd=tmp_path)
    assert done.returncode == 2
    assert f"no outbox at {tmp_path / 'attribution-outbox.sqlite3'} (the default; pass --outbox" in done.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "where",
    [
        lambda path: ["status", "--outbox", path],
        lambda path: ["list", "--limit", "2", "--outbox=" + path],
        lambda path: ["--outbox", path, "status"],
    ],
)
def test_the_global_options_may_come_after_the_command(outbox: Path, where: Any) -> None:
    done = cli(*where(str(outbox)))
    assert (done.returncode, done.stderr) == (0, "")
    assert "whop" in done.stdout


def test_unknown_ids_are_errors_and_nothing_is_retried(outbox: Path) -> None:
    done = cli("--outbox", str(outbox), "retry", "2", "999")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "attribution: no delivery 999: nothing retried\n")
    assert "dead" in cli("--outbox", str(outbox), "show", "2").stdout.splitlines()[0]
    done = cli("--outbox", str(outbox), "show", "999")
    assert (done.returncode, done.stderr) == (1, "attribution: no delivery 999\n")
    done = cli("--outbox", str(outbox), "retry", "2")
    assert (done.returncode, done.stdout) == (0, "1 delivery will be sent again\n")


def test_a_config_that_is_not_a_tracker_is_a_one_line_error(outbox: Path, tmp_path: Path) -> None:
    (tmp_path / "broken_site.py").write_text("raise RuntimeError('settings.py is missing DATABASE_URL')\n")
    (tmp_path / "needs_args.py").write_text("def tracker(env):\n    return None\n")
    (tmp_path / "other_thing.py").write_text("tracker = {'vendors': []}\n")
    expected = {
        "tests.support.cli_site:SECRETS": "attribution: --config 'tests.support.cli_site:SECRETS' is not a Tracker "
        "(got tuple)\n",
        "broken_site:tracker": "attribution: --config 'broken_site:tracker': importing failed: RuntimeError: "
        "settings.py is missing DATABASE_URL\n",
        "needs_args:tracker": "attribution: --config 'needs_args:tracker': calling it failed: TypeError: "
        "tracker() missing 1 required positional argument: 'env'\n",
        "other_thing:tracker": "attribution: --config 'other_thing:tracker' is not a Tracker (got dict)\n",
        "no_colon": "attribution: --config 'no_colon': use module:attribute, e.g. mysite.settings:tracker\n",
    }
    for spec, message in expected.items():
        done = cli("--config", spec, "--outbox", str(outbox), "check", cwd=tmp_path)
        assert (done.returncode, done.stderr) == (2, message), spec
        assert "Traceback" not in done.stderr


def test_worker_refuses_an_outbox_that_is_not_its_trackers(outbox: Path, tmp_path: Path) -> None:
    done = cli("--config", "tests.support.cli_site:tracker", "--outbox", str(outbox), "worker")
    assert done.returncode == 2
    assert done.stderr.startswith(f"attribution: --outbox (or ATTRIBUTION_OUTBOX) {outbox} is not the outbox of")
    assert "drop --outbox" in done.stderr
    assert done.stdout == ""  # it never started


def test_show_into_a_closed_pipe_exits_quietly(outbox: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before a byte is written, as `| head -1` is after its line
    try:
        done = cli("--outbox", str(outbox), "show", "2", stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, "")


def test_status_shows_counts_the_oldest_waiting_and_the_last_error_redacted(outbox: Path) -> None:
    done = cli("--outbox", str(outbox), "status")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[:3] == [
        "vendor  pending  dead  oldest waiting",
        "whop    2        1     1h",
        "total   2        1     1h",
    ]
    assert lines[4] == "last error (of deliveries not delivered):"
    # delivery 3 was updated after 2: its error is the last one
    assert lines[5].startswith("  whop  #3 pending, ")
    assert lines[5].endswith(f"ago: HTTP 400: *** <***@***>, ***: phone taken (sent with {UA} to api.whop.com)")


def test_list_and_show_print_no_personal_data_from_errors_or_history_unless_revealed(outbox: Path) -> None:
    listed = cli("--outbox", str(outbox), "list").stdout
    shown = cli("--outbox", str(outbox), "show", "3").stdout
    for text in (listed, shown):
        assert not [value for value in (EMAIL, PHONE, "Souza", "198.51.100.7") if value in text]
        assert "HTTP 400: *** <***@***>, ***" in text
    assert re.search(r"#1  .* retry +HTTP 400: \*\*\* <\*\*\*@\*\*\*>, \*\*\*: phone taken", shown)  # the history
    assert f"(sent with {UA} to api.whop.com)" in shown  # user agents and hosts stay readable
    assert f'"user_agent": "{UA}"' in shown
    assert '"url": "https://shop.example.com/checkout"' in shown
    revealed = cli("--outbox", str(outbox), "show", "3", "--reveal").stdout
    assert EMAIL in revealed
    assert '"last_name": "Souza"' in revealed
