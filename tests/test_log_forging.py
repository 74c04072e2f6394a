"""A request cannot write a line of its own into the logs: control characters in logged values are escaped.

In debug mode every request logs its method and path. ``%0A`` in a path decodes to a newline, so
``/a%0Aattribution debug: GET /admin: captured`` logged a second, forged line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx2
import pytest

from attribution.delivery.sending import Sender
from attribution.vendors.base import JSON, Failed, Outcome, Split, Vendor
from tests.helpers import client


def debug_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "attribution"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("/a%0Aattribution%20debug:%20GET%20/admin:%20captured", "/a\\nattribution debug: GET /admin: captured"),
        ("/a%0D%0Ab", "/a\\r\\nb"),
        ("/a%1B%5B2J%1B%5B31mred", "/a\\x1b[2J\\x1b[31mred"),  # clear the screen, recolour
        ("/a%E2%80%AEcod.exe", "/a\\u202ecod.exe"),  # right-to-left override
        ("/a%E2%80%A8b", "/a\\u2028b"),  # a line separator
    ],
)
def test_control_characters_in_a_logged_path_are_escaped(
    raw: str, shown: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="attribution")
    response = client(debug=True).get(raw)
    assert response.status_code == 404
    (line,) = debug_lines(caplog)
    assert line == f"attribution debug: GET {shown}: skipped=no-tracked-parameter"
    formatted = logging.Formatter("%(levelname)s %(message)s").format(caplog.records[-1])
    assert "\n" not in formatted
    assert "\r" not in formatted
    assert "\x1b" not in formatted


class Verbatim(Vendor):
    """An adapter that keeps a refusal's body as it came, line breaks and all."""

    name: ClassVar[str] = "verbatim"
    base_url = "https://api.verbatim.test"

    def check(self, conversion: Any) -> str | None:
        return None

    def payload(self, conversion: Any) -> JSON:
        return {}

    def build_request(self, payloads: Sequence[JSON]) -> httpx2.Request:
        return httpx2.Request("POST", self.base_url, json=list(payloads))

    def read_batch(self, response: httpx2.Response, payloads: Sequence[JSON]) -> Sequence[Outcome] | Split:
        return [Failed(response.text)] * len(payloads)


def test_a_vendors_answer_cannot_add_a_line_to_the_workers_log() -> None:
    forged = "bad\nWARNING attribution.worker whop delivery 9: delivered"

    async def send() -> list[Any]:
        transport = httpx2.MockTransport(lambda request: httpx2.Response(400, text=forged))
        async with httpx2.AsyncClient(transport=transport) as http:
            return await Sender(http)(Verbatim(), [{"event_id": "1"}])

    (outcome,) = asyncio.run(send())
    assert isinstance(outcome, Failed)
    assert outcome.reason == "bad\\nWARNING attribution.worker whop delivery 9: delivered"
