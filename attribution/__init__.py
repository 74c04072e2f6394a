"""asgi-attribution: browser-to-server ad attribution for any ASGI site.

Capture (``AttributionMiddleware``), read (``get_attribution``), check out (``Tracker``), deliver
durably (the outbox and ``Worker``), to the vendors in ``VENDORS`` (``Whop``, ``RDStation``, ``Connectly``,
``ConvertLoop``, ``XAds``, ``MetaConversions``, ``GoogleAds``, ``TikTok``, ``LinkedIn``, ``Reddit``,
``MicrosoftAds``, ``PinterestConversions``, ``SnapchatConversions``, ``OpenAIAds``). Jinja2 helpers live in
``attribution.templating`` (the ``jinja2`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import package_version
from .capture.consent import Consent
from .capture.models import Attribution, Channel, GA4Channel, Touch
from .capture.settings import CaptureOptions
from .checkout.corrections import CorrectionResult
from .checkout.dedup import event_id
from .checkout.tracker import CheckoutResult, Tracker, VendorResult
from .delivery.outbox.base import Delivery, Outbox, Status, VendorCorrection
from .delivery.outbox.sqlite import SQLiteOutbox
from .delivery.policy import RetryPolicy
from .delivery.worker import Worker
from .errors import (
    AttributionError,
    ConfigurationError,
    DeliveryError,
    InvalidConversionError,
    MiddlewareNotInstalledError,
    OutboxError,
    TokenError,
    TokenRefreshError,
    UnknownOrderError,
)
from .forms import hidden_fields
from .orders.conversion import Conversion, Customer, EventName, LineItem, Order, RequestContext
from .redact import redact, redact_json
from .vendors import (
    VENDORS,
    Connectly,
    ConvertLoop,
    GoogleAds,
    LinkedIn,
    MetaConversions,
    MicrosoftAds,
    OpenAIAds,
    PinterestConversions,
    RDStation,
    Reddit,
    Secret,
    SnapchatConversions,
    TikTok,
    Vendor,
    Whop,
    XAds,
)
from .web.meta_cookies import MetaCookies
from .web.middleware import AttributionMiddleware
from .web.snippet import script_tag
from .web.state import get_attribution, get_consent

__version__ = package_version()

if TYPE_CHECKING:
    from .delivery.outbox.postgres import PostgresOutbox
    from .templating import install_jinja2

__all__ = [
    "VENDORS",
    "Attribution",
    "AttributionError",
    "AttributionMiddleware",
    "CaptureOptions",
    "Channel",
    "CheckoutResult",
    "ConfigurationError",
    "Connectly",
    "Consent",
    "Conversion",
    "ConvertLoop",
    "CorrectionResult",
    "Customer",
    "Delivery",
    "DeliveryError",
    "EventName",
    "GA4Channel",
    "GoogleAds",
    "InvalidConversionError",
    "LineItem",
    "LinkedIn",
    "MetaConversions",
    "MetaCookies",
    "MicrosoftAds",
    "MiddlewareNotInstalledError",
    "OpenAIAds",
    "Order",
    "Outbox",
    "OutboxError",
    "PinterestConversions",
    "PostgresOutbox",
    "RDStation",
    "Reddit",
    "RequestContext",
    "RetryPolicy",
    "SQLiteOutbox",
    "Secret",
    "SnapchatConversions",
    "Status",
    "TikTok",
    "TokenError",
    "TokenRefreshError",
    "Touch",
    "Tracker",
    "UnknownOrderError",
    "Vendor",
    "VendorCorrection",
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
    "redact_json",
    "script_tag",
]


def __getattr__(name: str) -> Any:
    # install_jinja2 needs the optional jinja2 extra: import it only when asked for.
    if name == "install_jinja2":
        from .templating import install_jinja2

        return install_jinja2
    if name == "PostgresOutbox":  # needs the optional postgres extra (psycopg)
        from .delivery.outbox.postgres import PostgresOutbox

        return PostgresOutbox
    raise AttributeError(f"module 'attribution' has no attribute {name!r}")
