"""PII normalisation: emails trimmed and lowercased, phones to E.164, SHA-256 digests passed through."""

from __future__ import annotations

import pytest

from attribution.errors import InvalidConversionError
from attribution.orders.pii import hash_email, hash_phone, is_sha256, normalize_email, normalize_phone, sha256

DIGEST = "D360D510A224510F373931CE2D6215A799F5A9C1CEF221B0149B6B6B50CCED62"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  John.Smith@Example.COM ", "john.smith@example.com"),
        ("ana+news@exemplo.com.br", "ana+news@exemplo.com.br"),
        (DIGEST, DIGEST.lower()),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "not-an-email",
        "a@b",
        "@example.com",
        "a b@example.com",
        "a@b@c.com",
        "",
        "ana@example.com\x00",  # a control character: hashed, it would match nobody
        "an\u200ba@example.com",
        "a" * 65 + "@example.com",  # longer than an address can be (64 before the @, 254 in all)
        "ana@" + "b" * 250 + ".com",
    ],
)
def test_malformed_email_is_refused_without_repeating_it(raw: str) -> None:
    with pytest.raises(InvalidConversionError) as caught:
        normalize_email(raw)
    assert raw not in str(caught.value) or raw == ""


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (415) 555-0100", None, "+14155550100"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("(415) 555-0100", "us", "+14155550100"),
        ("11 91234-5678", "BR", "+5511912345678"),
        ("+44 20 7946 0958", "BR", "+442079460958"),  # an explicit country code wins over the region
        ("020 7946 0958", "GB", "+442079460958"),
        ("+1 123-456-7890", None, "+11234567890"),  # X's own example number: possible, if not assigned
    ],
)
def test_normalize_phone_to_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


def test_phone_without_country_code_needs_a_region() -> None:
    with pytest.raises(InvalidConversionError, match="phone_region") as caught:
        normalize_phone("415 555 0100")
    assert "415" not in str(caught.value)


@pytest.mark.parametrize("raw", ["abc", "123", "+1 555"])
def test_impossible_phone_is_refused(raw: str) -> None:
    with pytest.raises(InvalidConversionError):
        normalize_phone(raw, "US")


def test_hashes_are_sha256_of_the_normalised_form() -> None:
    # Values computed independently (sha256sum) from the normalised strings.
    assert hash_email(" John.Smith@Example.COM") == "8e621e3d0368631d263d07a351fa8d34fba0d17c15fbcdec11a5f58008d022a0"
    # X's documented hashed_phone_number is the digest of "+11234567890": with the plus sign.
    assert hash_phone("+1 123-456-7890") == "1fa6b8d986d9b9cd01bf36951815158bbde9f520c0567c835dfe34783d0a4231"
    assert hash_phone("(415) 555-0100", "US") == sha256("+14155550100")


def test_digests_pass_through() -> None:
    assert hash_email(DIGEST) == DIGEST.lower()
    assert hash_phone(DIGEST) == DIGEST.lower()
    assert is_sha256(DIGEST)
    assert not is_sha256(DIGEST[:-1])
    assert not is_sha256("g" * 64)
