"""Masking free text for logs: personal data and credentials go, what an operator needs stays."""

from __future__ import annotations

from attribution.redact import redact


def test_emails_phones_and_secrets_are_masked() -> None:
    text = 'HTTP 400: {"email": "Jane.Doe@example.com", "phone": "+55 11 99999-8888"} key=sk-live-123'
    assert redact(text, secrets=["sk-live-123"]) == 'HTTP 400: {"email": "***@***", "phone": "***"} key=***'
    assert redact("call (415) 555-0100 or +14155550100") == "call *** or ***"


def test_versions_hosts_dates_and_ids_stay() -> None:
    text = "Chrome/131.0.0.0 at https://api.vendor.example/v2 on 2025-05-05, order 1746480000, HTTP 503"
    assert redact(text) == text
