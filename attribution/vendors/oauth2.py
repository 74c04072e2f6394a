"""OAuth 2.0 access tokens from a refresh token (RFC 6749 section 6), cached until shortly before they expire.

For vendors whose API takes a short-lived Bearer token (Google Ads: one hour). authlib builds the token
request (``grant_type=refresh_token`` and the refresh token, client credentials in the form body as
Google's token endpoint expects); the request goes through the worker's own ``httpx2.AsyncClient``.

A token refused with a 401 is dropped and fetched again once; if the fresh token is refused as well the
credentials are wrong, and retrying would only repeat the refusal.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2
from authlib.integrations.httpx_client import OAuth2ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from ..errors import TokenRefreshError
from .base import Secret, response_json

#: Google's token endpoint.
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a password


@dataclass(slots=True)
class _Token:
    value: Secret
    expires_at: float
    after_rejection: bool = field(default=False)
    """Fetched because the previous token was refused: one more refusal means the credentials are wrong."""


class RefreshTokenGrant:
    """Hands out a valid access token, refreshing it with ``client`` when it is missing or about to expire.

    Args:
        token_url: the token endpoint (configurable for tests on loopback).
        client_id, client_secret, refresh_token: the OAuth client and the user's long-lived grant.
        leeway: seconds before the announced expiry at which a token counts as expired, so that a request
            never leaves with a token that dies on its way.
        clock: monotonic seconds (tests pass their own).
    """

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
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.leeway = leeway
        self.clock = clock
        self._token: _Token | None = None
        self._rejected = False
        # One lock per event loop (a lock belongs to the loop it first waits in); gone with the loop.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"RefreshTokenGrant(token_url={self.token_url!r})"

    @property
    def access_token(self) -> str | None:
        """The cached access token while it is valid, else None."""
        token = self._token
        if token is None or self.clock() >= token.expires_at - self.leeway:
            return None
        return token.value.value

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

    async def _fetch(self, client: httpx2.AsyncClient) -> _Token:
        body = prepare_token_request("refresh_token", refresh_token=self._refresh_token.value)
        auth = OAuth2ClientAuth(self._client_id.value, self._client_secret.value, "client_secret_post")
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        started = self.clock()
        try:
            response = await client.post(self.token_url, content=body, headers=headers, auth=auth)
        except httpx2.TransportError as exc:
            raise TokenRefreshError(
                f"could not reach the OAuth token endpoint ({type(exc).__name__})", transient=True
            ) from None
        data = response_json(response)
        data = data if isinstance(data, dict) else {}
        value = data.get("access_token")
        if response.status_code != 200 or not isinstance(value, str) or not value:
            raise _refusal(response.status_code, data)
        try:
            lifetime = float(data.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0  # Google's tokens last an hour; a 401 before then still earns a refresh
        after_rejection, self._rejected = self._rejected, False
        return _Token(Secret(value), started + lifetime, after_rejection)


def _refusal(status: int, data: dict[str, object]) -> TokenRefreshError:
    """The token endpoint's ``{"error", "error_description"}`` as an exception (they hold no credentials)."""
    error, description = data.get("error"), data.get("error_description")
    detail = ": ".join(str(part)[:200] for part in (error, description) if isinstance(part, str) and part)
    transient = status == 429 or status >= 500
    hint = "" if transient else "; check the client id and secret, or create a new refresh token"
    return TokenRefreshError(
        f"the OAuth token endpoint answered HTTP {status}{': ' + detail if detail else ' without a token'}{hint}",
        transient=transient,
    )
