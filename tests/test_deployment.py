"""The deployment commands of docs/delivery.md, run as written against ``examples/tracking.py``."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "attribution"  # the console script pyproject installs


def deployment_block() -> list[str]:
    delivery = (ROOT / "docs" / "delivery.md").read_text()
    section = delivery.split("\n## Deployment\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the deployment section has no sh block"
    return [line.split("  #")[0].strip() for line in block[1].splitlines() if line.strip()]


def test_the_documented_deployment_commands_run_as_written(tmp_path: Path) -> None:
    lines = deployment_block()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTRIBUTION_", "WHOP_", "RDSTATION_"))}
    env["HOME"] = str(tmp_path)
    exports = [line for line in lines if line.startswith("export ")]
    assert exports == ["export ATTRIBUTION_OUTBOX=$HOME/shop-outbox.sqlite3"]
    name, _, value = exports[0].removeprefix("export ").partition("=")
    env[name] = os.path.expandvars(value.replace("$HOME", env["HOME"]))
    commands = [shlex.split(line) for line in lines if line.startswith("attribution ")]
    assert [c[-1] for c in commands] == ["check", "worker", "status"]
    assert all(c[:3] == ["attribution", "--config", "examples.tracking:tracker"] for c in commands)

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(SCRIPT), *argv[1:]], capture_output=True, text=True, check=False, cwd=ROOT, env=env)

    check = run(commands[0])
    assert check.returncode == 0, check.stderr
    assert "== whop ==" in check.stdout
    assert "POST https://api.whop.com/api/v1/conversions" in check.stdout
    assert "POST https://api.rd.services/platform/conversions?api_key=***" in check.stdout
    assert "placeholder" not in check.stdout  # credentials, even made-up ones, are masked

    worker = subprocess.Popen(
        [str(SCRIPT), *commands[1][1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert worker.stdout is not None
    first = worker.stdout.readline()
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert (
        first
        == f"worker {first.split()[1]} sending to whop, rdstation from SQLiteOutbox('{tmp_path}/shop-outbox.sqlite3')\n"
    ), err
    assert worker.returncode == 0, err
    assert "stopping" in out

    status = run(commands[2])
    assert (status.returncode, status.stdout, status.stderr) == (0, "the outbox is empty\n", "")
    assert (tmp_path / "shop-outbox.sqlite3").is_file()
