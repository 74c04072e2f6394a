"""A strict fake of Google's OAuth token endpoint for both grants a server uses, and service-account keys made
for the test that runs (never a key committed to the repository).

- ``grant_type=refresh_token``: exactly the fields of RFC 6749 section 6, client credentials in the body; the
  refresh token carries the scopes it was granted (one made for ``adwords`` does not open Data Manager).
- ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` (RFC 7523, Google's service accounts): exactly
  ``grant_type`` and ``assertion``; the JWT's RS256 signature is checked against the public half of a key made
  in the test (with ``cryptography``, not with the library that signed it), the ``kid`` must name that key,
  ``iss`` a known service account, ``aud`` Google's token URI, ``iat``/``exp`` an hour at most around now,
  and ``scope`` a non-empty list. Each refusal is Google's ``{"error", "error_description"}``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
DATAMANAGER = "https://www.googleapis.com/auth/datamanager"
ADWORDS = "https://www.googleapis.com/auth/adwords"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: The token endpoint hands out ``ACCESS_TOKEN1``, ``ACCESS_TOKEN2``... in turn.
ACCESS_TOKEN = "ya29.c.dm-access-token-"
USER = {
    "client_id": "1234567890-app.apps.googleusercontent.com",
    "client_secret": "GOCSPX-dm-client-secret",
    "refresh_token": "1//0dm-refresh-token-value",
}
#: A refresh token made for the Google Ads API scope only.
ADWORDS_ONLY_REFRESH_TOKEN = "1//0adwords-only-refresh-token"


@dataclass(frozen=True)
class ServiceAccountKey:
    """A service account's key, made for one test: the key file's content and the public half."""

    info: dict[str, str]
    public_key: rsa.RSAPublicKey

    @property
    def email(self) -> str:
        return self.info["client_email"]

    @property
    def private_key(self) -> str:
        return self.info["private_key"]


def service_account_key(
    email: str = "conversions@shop-project.iam.gserviceaccount.com", key_id: str = "8f2a0c9e41d7"
) -> ServiceAccountKey:
    """A key file as Google's console downloads it, with a fresh 2048-bit RSA key (PKCS#8 PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    info = {
        "type": "service_account",
        "project_id": "shop-project",
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": email,
        "client_id": "104857600000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": GOOGLE_TOKEN_URI,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
        "universe_domain": "googleapis.com",
    }
    return ServiceAccountKey(info, key.public_key())


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _refused(status: int, error: str, description: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": description}


@dataclass
class TokenEndpoint:
    """The token endpoint's state: the grants it knows, and every access token it issued with its scopes."""

    refresh_tokens: dict[str, str] = field(
        default_factory=lambda: {USER["refresh_token"]: DATAMANAGER, ADWORDS_ONLY_REFRESH_TOKEN: ADWORDS}
    )
    service_accounts: dict[str, ServiceAccountKey] = field(default_factory=dict)
    wall_clock: Callable[[], float] = time.time
    expires_in: int = 3599
    issued: dict[str, str] = field(default_factory=dict)
    """Access token → the scopes it was issued for."""
    grants: list[str] = field(default_factory=list)
    """The grant type of each token handed out, in order."""
    assertions: list[dict[str, Any]] = field(default_factory=list)
    """The header and claims of every JWT accepted."""
    outage: list[int] = field(default_factory=list)
    """HTTP statuses to answer before anything else, one per request (429, 503...)."""

    def answer(self, method: str, content_type: str, authorization: str | None, body: bytes) -> tuple[int, Any]:
        if self.outage:
            status = self.outage.pop(0)
            return _refused(status, "internal_failure", "Backend Error")
        if method != "POST" or content_type.split(";")[0].strip() != "application/x-www-form-urlencoded":
            return _refused(400, "invalid_request", "Bad Request")
        try:
            pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        except (ValueError, UnicodeDecodeError):
            return _refused(400, "invalid_request", "Bad Request")
        form = dict(pairs)
        if len(form) != len(pairs) or authorization is not None:
            return _refused(400, "invalid_request", "Bad Request")
        grant = form.get("grant_type")
        if grant == "refresh_token":
            status, scopes = self._refresh(form)
        elif grant == JWT_BEARER:
            status, scopes = self._jwt(form)
        else:
            return _refused(400, "unsupported_grant_type", f"Invalid grant_type: {grant or ''}")
        if status != 200:
            return status, scopes
        value = f"{ACCESS_TOKEN}{len(self.issued) + 1}"
        self.issued[value] = scopes
        self.grants.append(str(grant))
        return 200, {"access_token": value, "expires_in": self.expires_in, "token_type": "Bearer"}

    def _refresh(self, form: dict[str, str]) -> tuple[int, Any]:
        if set(form) != {"grant_type", "refresh_token", "client_id", "client_secret"}:
            return _refused(400, "invalid_request", "Bad Request")
        if (form["client_id"], form["client_secret"]) != (USER["client_id"], USER["client_secret"]):
            return _refused(401, "invalid_client", "Unauthorized")
        scopes = self.refresh_tokens.get(form["refresh_token"])
        if scopes is None:
            return _refused(400, "invalid_grant", "Token has been expired or revoked.")
        return 200, scopes

    def _jwt(self, form: dict[str, str]) -> tuple[int, Any]:
        if set(form) != {"grant_type", "assertion"}:
            return _refused(400, "invalid_request", "Bad Request")
        parts = form["assertion"].split(".")
        try:
            header, claims = json.loads(_b64(parts[0])), json.loads(_b64(parts[1]))
            signature = _b64(parts[2])
        except (ValueError, IndexError):
            return _refused(400, "invalid_grant", "Invalid JWT: malformed.")
        if len(parts) != 3 or not isinstance(header, dict) or not isinstance(claims, dict):
            return _refused(400, "invalid_grant", "Invalid JWT: malformed.")
        account = self.service_accounts.get(str(claims.get("iss")))
        if account is None:
            return _refused(400, "invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256" or header.get("kid") not in (None, account.info["private_key_id"]):
            return _refused(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            signed = f"{parts[0]}.{parts[1]}".encode("ascii")
            account.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return _refused(400, "invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != GOOGLE_TOKEN_URI:
            return _refused(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        iat, exp, now = claims.get("iat"), claims.get("exp"), self.wall_clock()
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or not iat - 300 <= now <= exp
            or not 0 < exp - iat <= 3600
        ):
            return _refused(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.",
            )
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            return _refused(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        self.assertions.append({"header": header, "claims": claims})
        return 200, scope
