"""asgi-attribution: browser-to-server ad attribution for any ASGI site.

Capture (``AttributionMiddleware``), read (``get_attribution``), check out (``Tracker``), deliver
durably (the outbox and ``Worker``), to the vendors in ``VENDORS`` (``Whop``, ``RDStation``, ``Connectly``,
``ConvertLoop``, ``XAds``, ``MetaConversions``, ``GoogleAds``, ``TikTok``). Jinja2 helpers live in
``attribution.templating`` (the ``jinja2`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import package_version
from .consent import Consent
from .conversion import Conversion, Customer, EventName, LineItem, Order, RequestContext
from .dedup import event_id
from .errors import (
    AttributionError,
    ConfigurationError,
    DeliveryError,
    InvalidConversionError,
    MiddlewareNotInstalledError,
    OutboxError,
    TokenError,
)
from .forms import hidden_fields
from .meta_cookies import MetaCookies
from .middleware import AttributionMiddleware
from .models import Attribution, Channel, GA4Channel, Touch
from .outbox import Delivery, Outbox, SQLiteOutbox, Status
from .redact import redact
from .retry import RetryPolicy
from .snippet import script_tag
from .state import get_attribution, get_consent
from .tracker import CheckoutResult, Tracker, VendorResult
from .vendors import (
    VENDORS,
    Connectly,
    ConvertLoop,
    GoogleAds,
    MetaConversions,
    RDStation,
    Secret,
    TikTok,
    Vendor,
    Whop,
    XAds,
)
from .worker import Worker

__version__ = package_version()

if TYPE_CHECKING:
    from .outbox.postgres import PostgresOutbox
    from .templating import install_jinja2

__all__ = [
    "VENDORS",
    "Attribution",
    "AttributionError",
    "AttributionMiddleware",
    "Channel",
    "CheckoutResult",
    "ConfigurationError",
    "Connectly",
    "Consent",
    "Conversion",
    "ConvertLoop",
    "Customer",
    "Delivery",
    "DeliveryError",
    "EventName",
    "GA4Channel",
    "GoogleAds",
    "InvalidConversionError",
    "LineItem",
    "MetaConversions",
    "MetaCookies",
    "MiddlewareNotInstalledError",
    "Order",
    "Outbox",
    "OutboxError",
    "PostgresOutbox",
    "RDStation",
    "RequestContext",
    "RetryPolicy",
    "SQLiteOutbox",
    "Secret",
    "Status",
    "TikTok",
    "TokenError",
    "Touch",
    "Tracker",
    "Vendor",
    "VendorResult",
    "Whop",
    "Worker",
    "XAds",
    "event_id",
    "get_attribution",
    "get_consent",
    "hidden_fields",
    "install_jinja2",
    "redact",
    "script_tag",
]


def __getattr__(name: str) -> Any:
    # install_jinja2 needs the optional jinja2 extra: import it only when asked for.
    if name == "install_jinja2":
        from .templating import install_jinja2

        return install_jinja2
    if name == "PostgresOutbox":  # needs the optional postgres extra (psycopg)
        from .outbox.postgres import PostgresOutbox

        return PostgresOutbox
    raise AttributeError(f"module 'attribution' has no attribute {name!r}")
