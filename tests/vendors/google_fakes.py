"""Credentials, a strict OAuth token endpoint and Google's answer shapes, shared by the Google Ads tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import httpx2

from attribution.vendors.google_ads import GoogleAds

from .google_tokens import USER

CREDENTIALS = {
    "developer_token": "DEVTOKEN-abcdef123456",
    "client_id": "1234567890-app.apps.googleusercontent.com",
    "client_secret": "GOCSPX-client-secret-value",
    "refresh_token": "1//0refresh-token-value",
}
#: The token endpoint hands out ``ACCESS_TOKEN1``, ``ACCESS_TOKEN2``... in turn.
ACCESS_TOKEN = "ya29.a0-access-token-"
SCOPE = "https://www.googleapis.com/auth/adwords"


def google_ads(**options: Any) -> GoogleAds:
    """``GoogleAds`` on the Google Ads API (``api="google_ads"``), with the credentials above."""
    settings: dict[str, Any] = {
        "api": "google_ads",
        **CREDENTIALS,
        "customer_id": "123-456-7890",
        "conversion_actions": {"purchase": "987654321"},
        "token_url": "https://oauth2.test/token",
    }
    settings.update(options)
    return GoogleAds(**settings)


def data_manager(**options: Any) -> GoogleAds:
    """``GoogleAds`` as a new user sets it up: the Data Manager API (the default), an OAuth client and a refresh
    token for the datamanager scope (``google_tokens.USER``), no developer token."""
    settings: dict[str, Any] = {
        **USER,
        "customer_id": "123-456-7890",
        "conversion_actions": {"purchase": "987654321"},
        "token_url": "https://oauth2.test/token",
    }
    settings.update(options)
    return GoogleAds(**settings)


def token_answer(method: str, content_type: str, authorization: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
    """Google's token endpoint, strictly: a form POST whose fields are exactly the refresh grant's, the client
    credentials in the body (as Google's client libraries send them). Answers Google's error shapes."""
    if method != "POST" or content_type.split(";")[0].strip() != "application/x-www-form-urlencoded":
        return 400, {"error": "invalid_request", "error_description": "Bad Request"}
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (ValueError, UnicodeDecodeError):
        return 400, {"error": "invalid_request", "error_description": "Bad Request"}
    form = dict(pairs)
    if len(form) != len(pairs) or set(form) != {"grant_type", "refresh_token", "client_id", "client_secret"}:
        return 400, {"error": "invalid_request", "error_description": "Bad Request"}
    if authorization is not None:  # credentials twice: ambiguous client authentication
        return 400, {"error": "invalid_request", "error_description": "Bad Request"}
    if form["grant_type"] != "refresh_token":
        return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "}
    if (form["client_id"], form["client_secret"]) != (CREDENTIALS["client_id"], CREDENTIALS["client_secret"]):
        return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
    if form["refresh_token"] != CREDENTIALS["refresh_token"]:
        return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    return 200, {}


class TokenEndpoint:
    """``token_answer`` as an ``httpx2.MockTransport`` handler that numbers the tokens it hands out."""

    def __init__(self, expires_in: int = 3599) -> None:
        self.issued = 0
        self.expires_in = expires_in

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        status, body = token_answer(
            request.method,
            request.headers.get("content-type", ""),
            request.headers.get("authorization"),
            request.read(),
        )
        if status == 200:
            self.issued += 1
            body = {
                "access_token": f"{ACCESS_TOKEN}{self.issued}",
                "expires_in": self.expires_in,
                "scope": SCOPE,
                "token_type": "Bearer",
            }
        return httpx2.Response(status, json=body)


def row_error(index: int, family: str, code: str, message: str, field: str = "gclid") -> dict[str, Any]:
    """One ``GoogleAdsError`` located at ``conversions[index].field``."""
    return {
        "errorCode": {family: code},
        "message": message,
        "location": {"fieldPathElements": [{"fieldName": "conversions", "index": index}, {"fieldName": field}]},
    }


def partial_failure(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], version: str = "v26"
) -> dict[str, Any]:
    """An ``UploadClickConversionsResponse`` with row errors in ``partialFailureError``."""
    body: dict[str, Any] = {"results": results, "jobId": "2147483650"}
    if errors:
        body["partialFailureError"] = {
            "code": 3,
            "message": errors[0]["message"],
            "details": [
                {
                    "@type": f"type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure",
                    "errors": errors,
                    "requestId": "rq-partial",
                }
            ],
        }
    return body
