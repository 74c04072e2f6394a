"""The demo's vendors: real credentials from environment variables, placeholders in dry-run otherwise.

Dry run is a property of the whole tracker (its worker either sends or records), so the demo picks one of
two honest set-ups:

* no credentials at all (the default): every vendor with placeholder credentials, dry run. Every request
  is built, masked and recorded in the outbox; nothing leaves the machine.
* credentials for some vendors: only those vendors, sending for real. Vendors without credentials are left
  out (the home page lists them). ``DEMO_DRY_RUN=1`` keeps dry run on and keeps them all.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from attribution import (
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
    SnapchatConversions,
    TikTok,
    Vendor,
    Whop,
    XAds,
)
from examples.keys import secret

#: Per vendor, the environment variables it needs (all of them) and the placeholder used in dry run.
CREDENTIALS: dict[str, dict[str, str]] = {
    "whop": {"WHOP_API_KEY": "demo-whop-api-key-SECRET", "WHOP_COMPANY_ID": "biz_demo123"},
    "rdstation": {"RDSTATION_API_KEY": "demo-rdstation-api-key-SECRET"},
    "connectly": {"CONNECTLY_API_KEY": "demo-connectly-api-key-SECRET", "CONNECTLY_BUSINESS_ID": "demo-business"},
    "convertloop": {"CONVERTLOOP_APP_ID": "demo-app-id", "CONVERTLOOP_API_KEY": "demo-convertloop-api-key-SECRET"},
    "xads": {
        "X_CONSUMER_KEY": "demo-x-consumer-key-SECRET",
        "X_CONSUMER_SECRET": "demo-x-consumer-secret-SECRET",
        "X_ACCESS_TOKEN": "demo-x-access-token-SECRET",
        "X_ACCESS_TOKEN_SECRET": "demo-x-access-token-secret-SECRET",
        "X_PIXEL_ID": "o8z6j",
        "X_PURCHASE_EVENT_ID": "tw-o8z6j-o8z6k",
    },
    "meta": {"META_ACCESS_TOKEN": "demo-meta-access-token-SECRET", "META_PIXEL_ID": "1234567890123456"},
    "google_ads": {
        "GOOGLE_ADS_CUSTOMER_ID": "123-456-7890",
        "GOOGLE_ADS_CLIENT_ID": "demo-client.apps.googleusercontent.com",
        "GOOGLE_ADS_CLIENT_SECRET": "demo-google-client-secret-SECRET",
        "GOOGLE_ADS_REFRESH_TOKEN": "demo-google-refresh-token-SECRET",
        "GOOGLE_ADS_PURCHASE_ACTION_ID": "987654321",
    },
    "tiktok": {"TIKTOK_ACCESS_TOKEN": "demo-tiktok-access-token-SECRET", "TIKTOK_PIXEL_CODE": "COQDA8RC77U2TMR44LI0"},
    "linkedin": {"LINKEDIN_ACCESS_TOKEN": "demo-linkedin-access-token-SECRET", "LINKEDIN_PURCHASE_RULE_ID": "12345678"},
    "reddit": {"REDDIT_ACCESS_TOKEN": "demo-reddit-conversion-token-SECRET", "REDDIT_PIXEL_ID": "a2_demo1234"},
    "microsoft_ads": {"MICROSOFT_ADS_API_TOKEN": "demo-uet-capi-token-SECRET", "MICROSOFT_ADS_TAG_ID": "343123456"},
    "pinterest": {"PINTEREST_ACCESS_TOKEN": "demo-pinterest-token-SECRET", "PINTEREST_AD_ACCOUNT_ID": "549755885175"},
    "snapchat": {
        "SNAPCHAT_ACCESS_TOKEN": "demo-snapchat-token-SECRET",
        "SNAPCHAT_PIXEL_ID": "7b4f6d1e-9a2c-4c1b-8f3e-5d6a7b8c9d0e",
    },
    "openai_ads": {"OPENAI_ADS_API_KEY": "demo-openai-ads-key-SECRET", "OPENAI_ADS_PIXEL_ID": "px_demo"},
}

#: Placeholder values that are credentials (the ids are not secret): none may ever appear on a page.
PLACEHOLDER_SECRETS: tuple[str, ...] = tuple(
    value for needed in CREDENTIALS.values() for value in needed.values() if value.endswith("-SECRET")
)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs with, and why."""

    vendors: list[Vendor]
    dry_run: bool
    configured: list[str] = field(default_factory=list)
    """Vendors whose credentials came from the environment."""
    left_out: list[str] = field(default_factory=list)
    """Vendors without credentials, left out because other vendors send for real."""
    outbox: Path = Path()
    secret_key: str = ""


def default_outbox() -> Path:
    return Path(tempfile.gettempdir()) / "asgi-attribution-demo" / "outbox.sqlite3"


def _vendor(name: str, values: Mapping[str, str]) -> Vendor:
    if name == "whop":
        return Whop(api_key=values["WHOP_API_KEY"], company_id=values["WHOP_COMPANY_ID"])
    if name == "rdstation":
        return RDStation(api_key=values["RDSTATION_API_KEY"])
    if name == "connectly":
        return Connectly(api_key=values["CONNECTLY_API_KEY"], business_id=values["CONNECTLY_BUSINESS_ID"])
    if name == "convertloop":
        return ConvertLoop(app_id=values["CONVERTLOOP_APP_ID"], api_key=values["CONVERTLOOP_API_KEY"])
    if name == "xads":
        return XAds(
            consumer_key=values["X_CONSUMER_KEY"],
            consumer_secret=values["X_CONSUMER_SECRET"],
            access_token=values["X_ACCESS_TOKEN"],
            access_token_secret=values["X_ACCESS_TOKEN_SECRET"],
            pixel_id=values["X_PIXEL_ID"],
            events={"purchase": values["X_PURCHASE_EVENT_ID"]},
        )
    if name == "meta":
        return MetaConversions(access_token=values["META_ACCESS_TOKEN"], pixel_id=values["META_PIXEL_ID"])
    if name == "google_ads":
        return GoogleAds(
            customer_id=values["GOOGLE_ADS_CUSTOMER_ID"],
            client_id=values["GOOGLE_ADS_CLIENT_ID"],
            client_secret=values["GOOGLE_ADS_CLIENT_SECRET"],
            refresh_token=values["GOOGLE_ADS_REFRESH_TOKEN"],
            conversion_actions={"purchase": values["GOOGLE_ADS_PURCHASE_ACTION_ID"]},
        )
    if name == "tiktok":
        return TikTok(access_token=values["TIKTOK_ACCESS_TOKEN"], pixel_code=values["TIKTOK_PIXEL_CODE"])
    if name == "linkedin":
        return LinkedIn(
            access_token=values["LINKEDIN_ACCESS_TOKEN"], events={"purchase": values["LINKEDIN_PURCHASE_RULE_ID"]}
        )
    if name == "reddit":
        return Reddit(access_token=values["REDDIT_ACCESS_TOKEN"], pixel_id=values["REDDIT_PIXEL_ID"])
    if name == "microsoft_ads":
        return MicrosoftAds(api_token=values["MICROSOFT_ADS_API_TOKEN"], tag_id=values["MICROSOFT_ADS_TAG_ID"])
    if name == "pinterest":
        return PinterestConversions(
            access_token=values["PINTEREST_ACCESS_TOKEN"], ad_account_id=values["PINTEREST_AD_ACCOUNT_ID"]
        )
    if name == "snapchat":
        return SnapchatConversions(access_token=values["SNAPCHAT_ACCESS_TOKEN"], pixel_id=values["SNAPCHAT_PIXEL_ID"])
    if name == "openai_ads":
        return OpenAIAds(api_key=values["OPENAI_ADS_API_KEY"], pixel_id=values["OPENAI_ADS_PIXEL_ID"])
    raise ValueError(f"unknown vendor {name!r}")


def load_config(env: Mapping[str, str] | None = None) -> DemoConfig:
    """Read the environment (``os.environ`` by default) into the demo's vendors and settings."""
    env = os.environ if env is None else env
    configured = [name for name, needed in CREDENTIALS.items() if all(env.get(var) for var in needed)]
    force_dry_run = env.get("DEMO_DRY_RUN", "").lower() in ("1", "true", "yes")
    dry_run = force_dry_run or not configured
    names = list(CREDENTIALS) if dry_run else configured
    vendors = [
        _vendor(name, {var: env[var] if name in configured else placeholder for var, placeholder in needed.items()})
        for name, needed in CREDENTIALS.items()
        if name in names
    ]
    return DemoConfig(
        vendors=vendors,
        dry_run=dry_run,
        configured=configured,
        left_out=[name for name in CREDENTIALS if name not in names],
        outbox=Path(env.get("DEMO_OUTBOX") or default_outbox()),
        secret_key=secret("DEMO_SECRET_KEY", "the demo's cookie and checkout tokens", env),
    )
