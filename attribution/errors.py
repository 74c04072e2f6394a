"""Every exception the library raises on purpose, in one place.

    AttributionError                    the root: ``except AttributionError`` catches them all
    ├── ConfigurationError              (also a ValueError) set up wrongly: raised when the object is built
    ├── MiddlewareNotInstalledError     (also a RuntimeError) attribution read where no middleware ran
    ├── InvalidConversionError          (also a ValueError) an order or event that cannot be reported
    ├── TokenError                      (also a ValueError) a webhook token tampered with, malformed or expired
    ├── UnknownOrderError               (also a KeyError) a correction for an order never checked out
    ├── OutboxError                     the outbox could not be read or written
    └── DeliveryError                   a step of sending; the worker records it, never raises it
        └── TokenRefreshError           a vendor's OAuth token could not be had (``transient`` or not)

Messages say what went wrong and what to do about it; they never contain cookie values, credentials or
personal data.
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
    (``dead`` or retried, its ``last_error`` says why; ``attribution list --status dead`` shows them)."""


class TokenRefreshError(DeliveryError):
    """A vendor's token endpoint did not hand out an access token (raised by ``Vendor.authorize``).

    ``transient`` is True for what may pass on its own (the endpoint unreachable, a 5xx, a 429): the worker
    retries the delivery. It is False for what needs the operator (``invalid_grant``: the refresh token was
    revoked or expired; ``invalid_client``): the delivery fails. The message names the error, never a credential.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class UnknownOrderError(AttributionError, KeyError):
    """``Tracker.adjust`` or ``cancel`` named an order (and event) that was never checked out, or whose record
    the retention purge already removed. Nothing was changed."""

    def __str__(self) -> str:  # KeyError's own str() would quote the message
        return str(self.args[0]) if self.args else ""


class OutboxError(AttributionError):
    """The outbox could not be read or written."""
