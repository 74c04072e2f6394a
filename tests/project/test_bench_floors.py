"""The benches' ``--floor`` modes, which the README's speed section rests on, run to the end on small inputs: every
delivery claimed and finished by the outbox alone (the bench exits non-zero otherwise), and every measured part
printed as a number. They check the measurement's wiring, not its speed: figures come from full runs (bench/)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"(\d+(?:\.\d+)?)"


def bench(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_throughput_floor_drains_every_delivery_through_the_outbox_alone() -> None:
    out = bench("bench/bench_throughput.py", "--floor", "--n", "300", "--rounds", "1", "--vendors", "fake,meta")
    for vendor in ("fake", "meta"):
        line = re.search(rf"^{vendor} +round 1: .*outbox alone \(claim \+ finish\) +{NUMBER}/s", out, re.MULTILINE)
        assert line is not None, out
        assert float(line.group(1)) > 0
        summary = re.search(rf"^  {vendor} +min {NUMBER} +median {NUMBER} +max {NUMBER}", out, re.MULTILINE)
        assert summary is not None, out


def test_the_checkout_floor_times_each_vendors_check_and_row() -> None:
    out = bench("bench/bench_checkout_cpu.py", "--floor", "--runs", "1", "--at-once", "20")
    assert re.search(r"first adapter +\( 1 vendors\)", out), out
    assert re.search(r"all adapters +\(14 vendors\)", out), out
    rows = {
        label: float(found.group(1))
        for label in ("first adapter", "all adapters")
        if (found := re.search(rf"^  rows +{label} +{NUMBER} /", out, re.MULTILINE))
    }
    assert set(rows) == {"first adapter", "all adapters"}, out
    assert all(value > 0 for value in rows.values()), rows  # the rows' INSERT was timed, not skipped
    # differences of medians over 20 checkouts: on a busy machine one may come out below zero
    per_vendor = re.search(
        rf"checks -?{NUMBER} µs, delivery rows -?{NUMBER} µs, the whole record\(\) -?{NUMBER} µs", out
    )
    assert per_vendor is not None, out


def test_the_throughput_floor_runs_on_the_postgresql_outbox_too() -> None:
    out = bench(
        "bench/bench_throughput.py",
        "--floor",
        "--backend",
        "postgres",
        "--n",
        "300",
        "--rounds",
        "1",
        "--vendors",
        "meta",
    )
    line = re.search(rf"^meta +round 1: .*outbox alone \(claim \+ finish\) +{NUMBER}/s", out, re.MULTILINE)
    assert line is not None, out
    assert float(line.group(1)) > 0
