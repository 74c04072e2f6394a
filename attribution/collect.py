"""The snippet route and the collect endpoint (served under ``settings.endpoint_prefix``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from .middleware import AttributionMiddleware


class CollectEndpoints:
    """ASGI app for ``{prefix}attribution.js`` and ``{prefix}collect``."""

    def __init__(self, middleware: AttributionMiddleware) -> None:
        self.middleware = middleware

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        response = JSONResponse({"error": "not_found"}, status_code=404)
        await response(scope, receive, send)
