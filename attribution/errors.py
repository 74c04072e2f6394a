"""Every exception the library raises on purpose, in one place.

``AttributionError`` is the root, so ``except AttributionError`` catches them all. Messages say what
went wrong and what to do about it; they never contain cookie values, credentials or personal data.
"""

from __future__ import annotations


class AttributionError(Exception):
    """Base class for every error raised by asgi-attribution."""


class ConfigurationError(AttributionError, ValueError):
    """The library was set up wrongly: a missing secret key, an impossible option, an unknown vendor."""


class MiddlewareNotInstalledError(AttributionError, RuntimeError):
    """Attribution was read from a request that did not pass through ``AttributionMiddleware``."""


class InvalidConversionError(AttributionError, ValueError):
    """An order, customer or event cannot become a conversion (negative value, unknown currency, ...)."""


class TokenError(AttributionError, ValueError):
    """An exported attribution token was tampered with, is malformed, or has expired."""


class DeliveryError(AttributionError):
    """Never raised: a failed delivery is not an exception but a row in the outbox (``dead`` or retried, its
    ``last_error`` says why; ``attribution list --status dead`` shows them). Kept so existing imports work."""


class OutboxError(AttributionError):
    """The outbox could not be read or written."""
