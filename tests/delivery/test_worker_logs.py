"""What the worker tells the operator: a line per attempt outcome and a summary, with the root logger at DEBUG
and vendors that echo personal data and credentials in their errors."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import httpx2
import pytest

from attribution.delivery.activity import Activity
from attribution.delivery.outbox.base import Finish, Outbox, Status
from attribution.delivery.worker import Worker
from attribution.vendors.base import JSON, Secret
from tests.support.delivery_fakes import FAST, FakeClock, FakeVendor, drain, items

EMAIL, PHONE, KEY = "jane.doe@example.com", "+5511999998888", "key-SECRET-4242"


class KeyedVendor(FakeVendor):
    def __init__(self) -> None:
        super().__init__()
        self.api_key = Secret(KEY)

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        request = super().build_request(payloads)
        request.headers["x-api-key"] = self.api_key.value
        return request


async def test_one_line_per_attempt_and_a_summary_with_nothing_personal_or_secret(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    tries: dict[str, int] = {}

    async def vendor(request: httpx2.Request) -> httpx2.Response:
        event = json.loads(request.content)["event_id"]
        tries[event] = tries.get(event, 0) + 1
        echo = f"contact {EMAIL} / {PHONE} rejected for api key {KEY}"
        if event == "o0" and tries[event] == 1:
            return httpx2.Response(500, json={"error": echo})
        if event == "o1":
            return httpx2.Response(400, json={"error": echo})
        return httpx2.Response(200, json={"ok": True})

    clock = FakeClock()
    ids = [e.id for e in await outbox.enqueue(items(3), now=clock())]
    worker = Worker(
        outbox,
        [KeyedVendor()],
        transport=httpx2.MockTransport(vendor),
        policy=FAST,
        lease=5.0,
        timeout=1.0,
        clock=clock,
    )
    with caplog.at_level(logging.DEBUG):
        await drain(worker, clock)
    assert await outbox.counts() == {("fake", Status.DELIVERED): 2, ("fake", Status.DEAD): 1}

    lines = [r.getMessage() for r in caplog.records if r.name == "attribution.worker"]
    retry = next(line for line in lines if line.startswith(f"fake delivery {ids[0]}: retry at "))
    assert re.fullmatch(
        rf"fake delivery {ids[0]}: retry at \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in [0-9.e-]+s\): HTTP 500: .*", retry
    )
    assert "contact ***@*** / *** rejected for api key ***" in retry
    assert f"fake delivery {ids[0]}: delivered" in lines
    assert f"fake delivery {ids[2]}: delivered" in lines
    [dead] = [r for r in caplog.records if r.getMessage().startswith(f"fake delivery {ids[1]}: dead: HTTP 400")]
    assert dead.levelno == logging.WARNING
    summaries = [line for line in lines if line.startswith("last ")]
    # At each stop: the first round left o0 waiting for its retry, the second delivered it.
    assert [line.split(": ", 1)[1] for line in summaries] == [
        "1 delivered, 1 retrying, 1 dead; 1 waiting",
        "1 delivered, 0 retrying, 0 dead; 0 waiting",
    ]

    everything: list[Any] = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    for secret in (EMAIL, PHONE, KEY):
        assert not [text for text in everything if secret in text], secret


def test_the_summary_gives_the_rate_and_stays_quiet_when_nothing_happens(caplog: pytest.LogCaptureFixture) -> None:
    activity = Activity([], interval=60.0, now=1000.0)
    assert not activity.due(1059.0)
    assert activity.due(1060.0)
    with caplog.at_level(logging.INFO, logger="attribution.worker"):
        for n in range(120):
            activity.attempt("fake", Finish(n, Status.DELIVERED, 1001.0))
        activity.attempt("fake", Finish(500, Status.DEAD, 1002.0, error="HTTP 400"))
        caplog.clear()
        activity.summarize(1060.0, waiting=5)
        activity.summarize(1120.0, waiting=0)  # nothing sent, nothing waiting: no line
    assert [r.getMessage() for r in caplog.records] == [
        "last 60s: 120 delivered (2.0/s), 0 retrying, 1 dead; 5 waiting"
    ]
