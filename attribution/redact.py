"""Masking personal data and credentials in free text before it reaches a log line.

    redact("HTTP 400: jane@example.com is invalid", secrets=["sk-123"])  ->  "HTTP 400: ***@*** is invalid"

Emails, phone numbers (international ``+`` form, or the grouped ``(415) 555-0100`` form) and the given secret
values are masked; versions, hosts, dates and ids are left alone, so the text stays useful to an operator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_EMAIL = re.compile(r"[^\s@\"',;:<>()\[\]{}]+@[^\s@\"',;:<>()\[\]{}]+\.[A-Za-z]{2,}")
_PHONE = re.compile(
    r"(?<![\w.+])\+\d[\d\s().-]{6,}\d(?![\w.])"  # +55 11 99999-8888, +14155550100
    r"|(?<![\w.])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?![\w.])"  # (415) 555-0100, 415-555-0100
)


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with emails, phone numbers and each of ``secrets`` masked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _PHONE.sub("***", _EMAIL.sub("***@***", text))
