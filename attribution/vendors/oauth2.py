"""OAuth 2.0 access tokens for vendors whose API takes a short-lived Bearer token, cached until shortly before
they expire. Two ways to get one from Google's token endpoint:

- ``RefreshTokenGrant``: a user's long-lived refresh token and the OAuth client it was made for (RFC 6749
  section 6). authlib builds the request (``grant_type=refresh_token``, client credentials in the form body, as
  Google's token endpoint expects).
- ``ServiceAccountGrant``: a service account's key file, exchanged with the JWT bearer grant (RFC 7523): an
  assertion signed with the key (RS256, built by authlib) is posted as ``grant_type=urn:ietf:params:oauth:
  grant-type:jwt-bearer``. No user, no consent screen, no refresh token to revoke.

The request goes through the worker's own ``httpx2.AsyncClient``. A token refused with a 401 is dropped and
fetched again once; if the fresh token is refused as well the credentials are wrong, and retrying would only
repeat the refusal.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
from authlib.integrations.httpx_client import OAuth2ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request
from authlib.oauth2.rfc7523 import JWTBearerGrant
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from ..errors import ConfigurationError, TokenRefreshError
from .base import Secret, as_secret, response_json

#: Google's token endpoint.
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a password
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: The longest life Google grants an assertion (``exp`` at most an hour after ``iat``).
ASSERTION_LIFETIME = 3600


@dataclass(slots=True)
class _Token:
    value: Secret
    expires_at: float
    after_rejection: bool = field(default=False)
    """Fetched because the previous token was refused: one more refusal means the credentials are wrong."""


class _CachedGrant:
    """The cache and the one-refresh-per-refusal rule shared by both grants; each says how to ask.

    Args:
        token_url: the token endpoint (configurable for tests on loopback).
        leeway: seconds before the announced expiry at which a token counts as expired, so that a request
            never leaves with a token that dies on its way.
        clock: monotonic seconds (tests pass their own).
    """

    hint = ""
    """What the operator should check when the endpoint refuses the credentials."""

    def __init__(self, *, token_url: str, leeway: float, clock: Callable[[], float]) -> None:
        self.token_url = token_url
        self.leeway = leeway
        self.clock = clock
        self._token: _Token | None = None
        self._rejected = False
        # One lock per event loop (a lock belongs to the loop it first waits in); gone with the loop.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token_url={self.token_url!r})"

    @property
    def access_token(self) -> str | None:
        """The cached access token while it is valid, else None."""
        token = self._token
        if token is None or self.clock() >= token.expires_at - self.leeway:
            return None
        return token.value.value

    def secret_values(self) -> list[str]:
        """Every credential this grant holds, the current access token included: for redacting error text."""
        token = self._token
        return [*self._secrets(), *([token.value.value] if token is not None else [])]

    def _secrets(self) -> list[str]:
        return []

    async def ensure(self, client: httpx2.AsyncClient) -> None:
        """Fetch a token unless a valid one is cached. Concurrent callers wait for one refresh."""
        if self.access_token is not None:
            return
        loop = asyncio.get_running_loop()
        lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            if self.access_token is None:
                self._token = await self._fetch(client)

    def rejected(self, access_token: str | None) -> bool:
        """A request carrying ``access_token`` was answered 401. True when a new token is worth fetching.

        A refusal of a token already replaced changes nothing (another request saw it first). A refusal of
        the token fetched right after a refusal means the credentials themselves are wrong: False.
        """
        token = self._token
        if token is None or access_token is None or token.value.value != access_token:
            return True
        self._token = None
        if token.after_rejection:
            return False
        self._rejected = True
        return True

    def accepted(self) -> None:
        """A request went through: the current token is good, a later refusal earns a refresh again."""
        if self._token is not None:
            self._token.after_rejection = False

    def _request(self) -> tuple[str, Any]:
        """The form body of the token request, and the client authentication to add to it."""
        raise NotImplementedError

    async def _fetch(self, client: httpx2.AsyncClient) -> _Token:
        body, auth = self._request()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        started = self.clock()
        try:
            if auth is None:
                response = await client.post(self.token_url, content=body, headers=headers)
            else:
                response = await client.post(self.token_url, content=body, headers=headers, auth=auth)
        except httpx2.TransportError as exc:
            raise TokenRefreshError(
                f"could not reach the OAuth token endpoint ({type(exc).__name__})", transient=True
            ) from None
        data = response_json(response)
        data = data if isinstance(data, dict) else {}
        value = data.get("access_token")
        if response.status_code != 200 or not isinstance(value, str) or not value:
            raise _refusal(response.status_code, data, self.hint)
        try:
            lifetime = float(data.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0  # Google's tokens last an hour; a 401 before then still earns a refresh
        after_rejection, self._rejected = self._rejected, False
        return _Token(Secret(value), started + lifetime, after_rejection)


class RefreshTokenGrant(_CachedGrant):
    """Hands out a valid access token, refreshing it with the user's refresh token when it is missing or
    about to expire.

    Args:
        token_url: the token endpoint.
        client_id, client_secret, refresh_token: the OAuth client and the user's long-lived grant.
        leeway, clock: as ``_CachedGrant``.
    """

    hint = "; check the client id and secret, or create a new refresh token"

    def __init__(
        self,
        *,
        token_url: str,
        client_id: Secret,
        client_secret: Secret,
        refresh_token: Secret,
        leeway: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(token_url=token_url, leeway=leeway, clock=clock)
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token

    def _secrets(self) -> list[str]:
        return [s.value for s in (self._client_secret, self._refresh_token) if s.value]

    def _request(self) -> tuple[str, Any]:
        body = prepare_token_request("refresh_token", refresh_token=self._refresh_token.value)
        auth = OAuth2ClientAuth(self._client_id.value, self._client_secret.value, "client_secret_post")
        return body, auth


class ServiceAccountGrant(_CachedGrant):
    """Hands out a valid access token for a service account, from its JSON key file's content.

    The assertion is a JWT with header ``{"alg": "RS256", "typ": "JWT", "kid": private_key_id}`` and claims
    ``iss`` = ``client_email``, ``scope``, ``aud`` = the key's ``token_uri``, ``iat`` = now and ``exp`` an hour
    later, signed with the key's ``private_key`` (Google's "OAuth 2.0 for server to server applications").

    Args:
        info: the key file as a dict (``type``, ``client_email``, ``private_key``, ``private_key_id``,
            ``token_uri``, ...). The private key never appears in a repr, a log or an error.
        scope: the scope the token is for (space-separated when several).
        token_url: where to post the assertion; None posts it to the key's ``token_uri``. The assertion's
            audience is always the key's ``token_uri``, the name the identity provider knows itself by.
        leeway, clock: as ``_CachedGrant``. wall_clock: seconds since the epoch, for ``iat`` and ``exp``.
    """

    hint = "; check that the service account and its key still exist and that the key file is complete"

    def __init__(
        self,
        *,
        info: Mapping[str, Any],
        scope: str,
        token_url: str | None = None,
        leeway: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(info, Mapping):
            raise ConfigurationError("service_account_info must be the key file's JSON content as a dict")
        fields = {name: info.get(name) for name in ("type", "client_email", "private_key", "token_uri")}
        if fields["type"] not in (None, "service_account"):
            raise ConfigurationError("service_account_info is not a service account key (type is not service_account)")
        missing = [
            name for name in ("client_email", "private_key") if not fields[name] or not isinstance(fields[name], str)
        ]
        if missing:
            raise ConfigurationError(f"service_account_info lacks {' and '.join(missing)}: give the whole key file")
        private_key = str(fields["private_key"])
        try:
            # joserfc is authlib's own JOSE library: the key is parsed once, and a bad one fails here, not an
            # hour into the worker's life. Its own text never goes into the message.
            key = RSAKey.import_key(private_key)
        except (JoseError, ValueError, TypeError):
            raise ConfigurationError("service_account_info private_key is not an unencrypted RSA PEM key") from None
        if not key.is_private:
            raise ConfigurationError("service_account_info private_key is a public key, not the private one")
        token_uri = fields["token_uri"]
        audience = token_uri if isinstance(token_uri, str) and token_uri else GOOGLE_TOKEN_URL
        super().__init__(token_url=token_url or audience, leeway=leeway, clock=clock)
        self.client_email = str(fields["client_email"])
        self.audience = audience
        self.scope = scope
        self.wall_clock = wall_clock
        self._key_id = str(info.get("private_key_id") or "")
        self._private_key = as_secret(private_key)
        self._key = key

    def __repr__(self) -> str:
        return f"ServiceAccountGrant(client_email={self.client_email!r}, token_url={self.token_url!r})"

    def _secrets(self) -> list[str]:
        return [self._private_key.value]

    def assertion(self) -> str:
        """A freshly signed JWT for the token request."""
        now = int(self.wall_clock())
        header = {"alg": "RS256", "typ": "JWT", **({"kid": self._key_id} if self._key_id else {})}
        signed = JWTBearerGrant.sign(
            self._key,
            issuer=self.client_email,
            audience=self.audience,
            issued_at=now,
            expires_at=now + ASSERTION_LIFETIME,
            claims={"scope": self.scope},
            header=header,
        )
        return signed.decode("ascii") if isinstance(signed, bytes) else str(signed)

    def _request(self) -> tuple[str, Any]:
        return prepare_token_request(JWT_BEARER, assertion=self.assertion()), None


def google_grant(
    client_id: str | Secret | None,
    client_secret: str | Secret | None,
    refresh_token: str | Secret | None,
    service_account_info: Mapping[str, Any] | None,
    *,
    scope: str,
    token_url: str | None,
    clock: Callable[[], float] = time.monotonic,
) -> RefreshTokenGrant | ServiceAccountGrant:
    """The grant for exactly one kind of Google credentials: an OAuth client with a refresh token made for
    ``scope``, or a service account's key (its JSON key file as a dict). Anything else is a configuration error
    that says what to give."""
    user = {"client_id": client_id, "client_secret": client_secret, "refresh_token": refresh_token}
    given = [name for name, value in user.items() if value]
    if service_account_info is not None:
        if given:
            found = ", ".join(given)
            raise ConfigurationError(
                f"give an OAuth client with its refresh token or service_account_info, not both (found {found})"
            )
        return ServiceAccountGrant(info=service_account_info, scope=scope, token_url=token_url, clock=clock)
    if len(given) != len(user):
        missing = ", ".join(name for name in user if name not in given)
        raise ConfigurationError(
            f"Google credentials: {missing} missing. Give client_id, client_secret and a refresh_token made for the "
            f"{scope} scope, or service_account_info (the service account's JSON key file as a dict)"
        )
    return RefreshTokenGrant(
        token_url=token_url or GOOGLE_TOKEN_URL,
        client_id=as_secret(client_id or ""),
        client_secret=as_secret(client_secret or ""),
        refresh_token=as_secret(refresh_token or ""),
        clock=clock,
    )


def _refusal(status: int, data: dict[str, object], hint: str) -> TokenRefreshError:
    """The token endpoint's ``{"error", "error_description"}`` as an exception (they hold no credentials)."""
    error, description = data.get("error"), data.get("error_description")
    detail = ": ".join(str(part)[:200] for part in (error, description) if isinstance(part, str) and part)
    transient = status == 429 or status >= 500
    return TokenRefreshError(
        f"the OAuth token endpoint answered HTTP {status}{': ' + detail if detail else ' without a token'}"
        + ("" if transient else hint),
        transient=transient,
    )
