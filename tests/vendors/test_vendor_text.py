"""A vendor's answer read as text: by the charset its Content-Type declares, else as UTF-8 with undecodable
bytes replaced; error bodies are redacted after decoding. Vendors are faked with httpx2.MockTransport."""

from __future__ import annotations

import httpx2
import pytest

from attribution.delivery.sending import Sender
from attribution.vendors.base import Delivered, Failed, Retry
from tests.support.delivery_fakes import FakeVendor


async def answer(status: int, body: bytes, content_type: str | None) -> object:
    headers = {"content-type": content_type} if content_type is not None else {}
    transport = httpx2.MockTransport(lambda request: httpx2.Response(status, content=body, headers=headers))
    async with httpx2.AsyncClient(transport=transport) as client:
        [outcome] = await Sender(client)(FakeVendor(), [{"event_id": "o1"}])
    return outcome


@pytest.mark.parametrize(
    ("body", "content_type", "text"),
    [
        ("reçu".encode("iso-8859-1"), "text/plain; charset=ISO-8859-1", "reçu"),
        ("reçu".encode("iso-8859-1"), 'text/plain; format=flowed; Charset="latin-1"', "reçu"),
        ("受信".encode("shift_jis"), "text/plain;charset=shift_jis", "受信"),
        ("reçu".encode(), "application/json", "reçu"),
        ("reçu".encode(), None, "reçu"),
        ("reçu".encode(), "text/plain; charset=no-such-charset", "reçu"),
        (b"ok \xff", "application/json; charset=utf-8", "ok \ufffd"),
        (b"", "application/json", ""),
    ],
)
async def test_a_delivered_answer_is_decoded_by_its_declared_charset_else_utf8(
    body: bytes, content_type: str | None, text: str
) -> None:
    assert await answer(200, body, content_type) == Delivered(answer=text)


async def test_an_error_body_in_a_declared_charset_is_decoded_then_redacted() -> None:
    body = "adresse refusée: jérôme@example.com".encode("iso-8859-1")
    outcome = await answer(400, body, "text/plain; charset=iso-8859-1")
    assert outcome == Failed("HTTP 400: adresse refusée: ***@***")


async def test_an_undecodable_error_body_is_still_read_and_redacted() -> None:
    outcome = await answer(503, b"down \xfe for jane@example.com", None)
    assert outcome == Retry("HTTP 503: down \ufffd for ***@***")
