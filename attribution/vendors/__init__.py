"""Vendor adapters: one module per conversion API, all fulfilling ``attribution.vendors.base.Vendor``.

Adding a vendor means one module here and one line in ``VENDORS``. This package's names are public
(``from attribution.vendors import VENDORS``); the modules behind them are not.

May use: checkout's conversion model (``conversion``, ``identifiers``, ``pii``), capture's models and the
ground. Never delivery, the web edge or reports: an adapter decides, builds and reads; the worker sends.
"""

from __future__ import annotations

from .base import Delivered, Failed, Outcome, Resend, Retry, Secret, Split, Vendor
from .connectly import Connectly
from .convertloop import ConvertLoop
from .google_ads import GoogleAds
from .meta import MetaConversions
from .rdstation import RDStation
from .tiktok import TikTok
from .whop import Whop
from .xads import XAds

#: Registry name (``Vendor.name``, also the outbox's ``vendor`` column) → adapter class.
VENDORS: dict[str, type[Vendor]] = {
    vendor.name: vendor
    for vendor in (
        Whop,
        RDStation,
        Connectly,
        ConvertLoop,
        XAds,
        GoogleAds,
        TikTok,
        MetaConversions,
    )
}

__all__ = [
    "VENDORS",
    "Connectly",
    "ConvertLoop",
    "Delivered",
    "Failed",
    "GoogleAds",
    "MetaConversions",
    "Outcome",
    "RDStation",
    "Resend",
    "Retry",
    "Secret",
    "Split",
    "TikTok",
    "Vendor",
    "Whop",
    "XAds",
]
