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
    """A step of sending failed. The worker never lets it out: a failed delivery is a row in the outbox
    (``dead`` or retried, its ``last_error`` says why; ``attribution list --status dead`` shows them). Its
    subclass ``vendors.oauth2.TokenRefreshError`` is raised by a vendor's ``authorize`` when an OAuth token
    cannot be had; the worker retries the delivery when that is ``transient`` and fails it otherwise."""


class OutboxError(AttributionError):
    """The outbox could not be read or written."""
