"""A service account's key exchanged for an access token with the JWT bearer grant (RFC 7523), checked by a strict
token endpoint that verifies the RS256 signature with ``cryptography`` against a key made for this test, and the
rules shared with the refresh-token grant: cached until shortly before expiry, one new token after a refusal,
refusals that name Google's error but never the key."""

from __future__ import annotations

import json
import logging

import httpx2
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from attribution.errors import ConfigurationError
from attribution.vendors.oauth2 import ServiceAccountGrant, TokenRefreshError

from .google_tokens import ACCESS_TOKEN, DATAMANAGER, GOOGLE_TOKEN_URI, TokenEndpoint, service_account_key

NOW = 1_796_600_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def endpoint_and_client(endpoint: TokenEndpoint) -> tuple[list[httpx2.Request], httpx2.AsyncClient]:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        status, body = endpoint.answer(
            request.method,
            request.headers.get("content-type", ""),
            request.headers.get("authorization"),
            request.read(),
        )
        return httpx2.Response(status, json=body)

    return seen, httpx2.AsyncClient(transport=httpx2.MockTransport(handler))


async def test_the_assertion_is_signed_with_the_key_and_names_the_account_scope_and_audience() -> None:
    key = service_account_key()
    endpoint = TokenEndpoint(service_accounts={key.email: key}, wall_clock=lambda: NOW)
    grant = ServiceAccountGrant(
        info=key.info, scope=DATAMANAGER, token_url="https://oauth2.test/token", wall_clock=lambda: NOW
    )
    seen, client = endpoint_and_client(endpoint)
    async with client:
        await grant.ensure(client)
    (sent,) = seen
    assert str(sent.url) == "https://oauth2.test/token"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in sent.headers
    assert grant.access_token == f"{ACCESS_TOKEN}1"
    assert endpoint.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    (accepted,) = endpoint.assertions
    assert accepted["header"] == {"alg": "RS256", "typ": "JWT", "kid": key.info["private_key_id"]}
    claims = accepted["claims"]
    assert {k: claims[k] for k in ("iss", "scope", "aud", "iat", "exp")} == {
        "iss": key.email,
        "scope": DATAMANAGER,
        "aud": GOOGLE_TOKEN_URI,
        "iat": int(NOW),
        "exp": int(NOW) + 3600,
    }
    assert set(claims) <= {"iss", "scope", "aud", "iat", "exp", "jti"}


async def test_without_token_url_the_assertion_goes_to_the_keys_token_uri() -> None:
    key = service_account_key()
    grant = ServiceAccountGrant(info=key.info, scope=DATAMANAGER)
    assert grant.token_url == GOOGLE_TOKEN_URI == grant.audience
    info = {**key.info, "token_uri": "https://oauth2.example.test/token"}
    assert ServiceAccountGrant(info=info, scope=DATAMANAGER).token_url == "https://oauth2.example.test/token"


async def test_the_token_is_cached_then_fetched_again_once_after_a_refusal() -> None:
    key, clock = service_account_key(), Clock()
    endpoint = TokenEndpoint(service_accounts={key.email: key}, wall_clock=lambda: NOW)
    grant = ServiceAccountGrant(info=key.info, scope=DATAMANAGER, clock=clock, wall_clock=lambda: NOW)
    seen, client = endpoint_and_client(endpoint)
    async with client:
        await grant.ensure(client)
        await grant.ensure(client)
        assert len(seen) == 1
        clock.now += 3599 - 119  # within two minutes of the announced expiry: fetched again
        await grant.ensure(client)
        assert len(seen) == 2
        assert grant.rejected(f"{ACCESS_TOKEN}2") is True  # the live token refused: one more
        await grant.ensure(client)
        assert grant.rejected(f"{ACCESS_TOKEN}3") is False  # the fresh one refused too: the credentials are wrong
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("other key", "invalid_grant: Invalid JWT Signature."),
        ("unknown account", "invalid_grant: Invalid grant: account not found"),
        ("clock an hour and a half ahead", "invalid_grant: Invalid JWT: Token must be a short-lived token"),
        ("wrong audience", "invalid_grant: Invalid JWT: Failed audience check."),
    ],
)
async def test_refusals_are_permanent_name_googles_error_and_never_the_key(
    tamper: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = service_account_key()
    other = service_account_key(key_id=key.info["private_key_id"])  # same key id, another key: the signature fails
    known = {key.email: other if tamper == "other key" else key}
    endpoint = TokenEndpoint(service_accounts={} if tamper == "unknown account" else known, wall_clock=lambda: NOW)
    info = {**key.info, "token_uri": "https://evil.test/token"} if tamper == "wrong audience" else key.info
    ahead = 5400 if "ahead" in tamper else 0
    grant = ServiceAccountGrant(
        info=info, scope=DATAMANAGER, token_url="https://oauth2.test/token", wall_clock=lambda: NOW + ahead
    )
    caplog.set_level(logging.DEBUG)
    _, client = endpoint_and_client(endpoint)
    async with client:
        with pytest.raises(TokenRefreshError) as raised:
            await grant.ensure(client)
    assert raised.value.transient is False
    assert expected in str(raised.value)
    assert "service account and its key" in str(raised.value)
    body_of_key = key.private_key.split("-----")[2].strip().splitlines()[1]
    assert body_of_key not in str(raised.value) + caplog.text + repr(grant)
    assert key.email in repr(grant)


async def test_an_outage_of_the_token_endpoint_is_transient() -> None:
    key = service_account_key()
    endpoint = TokenEndpoint(service_accounts={key.email: key}, outage=[503])
    _, client = endpoint_and_client(endpoint)
    async with client:
        with pytest.raises(TokenRefreshError) as raised:
            await ServiceAccountGrant(info=key.info, scope=DATAMANAGER).ensure(client)
    assert raised.value.transient is True
    assert str(raised.value).startswith("the OAuth token endpoint answered HTTP 503: internal_failure")


def test_a_key_file_that_cannot_sign_is_refused_at_configuration_without_quoting_it() -> None:
    key = service_account_key()
    public = key.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    cases = [
        ({**key.info, "private_key": public}, "public key"),
        ({**key.info, "private_key": key.private_key[:200]}, "not an unencrypted RSA PEM key"),
        ({k: v for k, v in key.info.items() if k != "client_email"}, "lacks client_email"),
        ({**key.info, "type": "authorized_user"}, "not a service account key"),
    ]
    for info, expected in cases:
        with pytest.raises(ConfigurationError, match=expected) as raised:
            ServiceAccountGrant(info=info, scope=DATAMANAGER)
        assert "PRIVATE KEY" not in str(raised.value)
    with pytest.raises(ConfigurationError, match="as a dict"):
        ServiceAccountGrant(info=json.dumps(key.info), scope=DATAMANAGER)  # type: ignore[arg-type]
