"""The Litestar and Quart examples, each started as a reader starts it (``python -m examples.X --port 0``):
a real uvicorn on 127.0.0.1 with the framework's lifespan, capture through the framework's own middleware
convention, a handler reading the attribution, and a checkout the worker (started by that lifespan) records."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from attribution.delivery.outbox.base import Status
from examples.serve import DEFAULT_PORT, port_from
from tests.support.delivery_fakes import dry_run_body, rows_when_sent
from tests.support.helpers import BROWSER_UA

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {"litestar": "litestar-example-outbox.sqlite3", "quart": "quart-example-outbox.sqlite3"}


@pytest.fixture(params=list(EXAMPLES))
def example(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The example's process, its URL and the outbox file it writes in its working directory."""
    name = request.param
    proc = subprocess.Popen(
        [sys.executable, "-m", f"examples.{name}_app", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    found = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", first)
    assert found, first + proc.stderr.read()
    for line in proc.stderr:  # the app's lifespan has run once uvicorn says so
        if "Application startup complete" in line:
            break
        assert "Traceback" not in line
    yield name, found.group(1), tmp_path / EXAMPLES[name]
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=20)
    assert "Application shutdown complete" in rest
    assert "Traceback" not in rest


async def test_example_captures_reads_and_checks_out_through_a_real_server(example: tuple[str, str, Path]) -> None:
    name, url, outbox = example
    async with httpx2.AsyncClient(base_url=url, headers={"user-agent": BROWSER_UA}) as browser:
        landing = await browser.get("/", params={"utm_source": "google", "utm_medium": "cpc", "gclid": f"G-{name}"})
        assert landing.status_code == 200
        assert "attribution=" in landing.headers["set-cookie"]
        later = (await browser.get("/")).json()  # no parameters: read back from the cookie
        order = {"order_id": f"{name}-1", "sku": "mug", "price": "12.50", "quantity": 2, "email": "ana@example.com"}
        checkout = await browser.post("/checkout", json=order)
        again = await browser.post("/checkout", json=order)
    assert later == {
        "channel": "paid_search",
        "utm": {"utm_source": "google", "utm_medium": "cpc"},
        "click_ids": {"gclid": f"G-{name}"},
    }
    assert checkout.status_code == 200
    assert checkout.json() == {v: {"status": "queued", "reason": None} for v in ("whop", "rdstation")}
    assert {answer["status"] for answer in again.json().values()} == {"duplicate"}
    # The worker runs only if the framework's lifespan started it: the dry runs are its doing.
    rows = await rows_when_sent(str(outbox), 2)
    assert sorted((r.vendor, r.status) for r in rows) == [("rdstation", Status.DRY_RUN), ("whop", Status.DRY_RUN)]
    whop = dry_run_body(next(r for r in rows if r.vendor == "whop"))
    assert whop["value"] == 25.0
    assert whop["context"]["utm_source"] == "google"
    assert f"G-{name}" in str(whop)


def test_the_port_comes_from_the_option_then_the_environment_then_8000() -> None:
    assert port_from(["--port", "9123"], {"PORT": "9000"}) == 9123
    assert port_from([], {"PORT": "9000"}) == 9000
    assert port_from([], {}) == DEFAULT_PORT
    assert port_from(["--port", "0"], {}) == 0


def test_an_impossible_port_is_refused_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        port_from(["--port", "70000"], {})
    assert "between 0 and 65535" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["examples.starlette_app", "examples.demo"])
def test_ctrl_c_stops_an_example_quietly(module: str, tmp_path: Path) -> None:
    """Ctrl-C is how a reader stops an example: a clean shutdown, exit status 0, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DEMO_OUTBOX": str(tmp_path / "demo.sqlite3")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "Application startup complete" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=20)
    assert "Application shutdown complete" in rest
    assert "Traceback" not in rest
    assert "KeyboardInterrupt" not in rest
    assert proc.returncode == 0
