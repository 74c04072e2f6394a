"""asgi-attribution: browser-to-server ad attribution for any ASGI site."""

from __future__ import annotations

from .errors import (
    AttributionError,
    ConfigurationError,
    DeliveryError,
    InvalidConversionError,
    MiddlewareNotInstalledError,
    OutboxError,
    TokenError,
)
from .models import Attribution, Channel, Touch

__all__ = [
    "Attribution",
    "AttributionError",
    "Channel",
    "ConfigurationError",
    "DeliveryError",
    "InvalidConversionError",
    "MiddlewareNotInstalledError",
    "OutboxError",
    "TokenError",
    "Touch",
]
