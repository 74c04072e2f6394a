"""Consent per purpose: what a visitor allowed, for every vendor or for one.

A site's consent hook (``AttributionMiddleware(consent=...)``) answers per request with

* ``True`` / ``False``: every purpose granted / refused (``False`` captures nothing and clears the cookie);
* a ``Consent``, or a mapping of the same fields: ``{"ad_measurement": True, "ad_personalization": False,
  "vendors": {"xads": False}}``. A purpose left out is granted, as when no hook is configured; each value
  is a bool or the consent-mode words ``"granted"`` / ``"denied"``.

Two purposes, as the ad platforms split them (Google's ``ad_user_data`` / ``ad_personalization``,
Meta's Limited Data Use, TikTok's ``limited_data_use``):

``ad_measurement``
    may conversions of this visitor be sent at all. Refused: nothing is captured (unless a vendor
    override grants it), and checkout skips every vendor it is refused for.
``ad_personalization``
    may the platforms use them for targeting (audiences, remarketing). Refused: the conversion is still
    sent, marked for limited use where the vendor has a way to say so.

``vendors`` overrides either purpose for one vendor, by its registry name (``Vendor.name``): ``False``
refuses both, ``True`` grants both, a mapping names the purposes it changes.

The decision is made once per request (the hook is never asked twice), kept on the request's
attribution state, carried by exported checkout tokens and by ``Conversion.consent``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from ..errors import ConfigurationError

log = logging.getLogger("attribution")

_WORDS: Final = {"granted": True, "denied": False}


def _word(value: Any) -> Any:
    """``"granted"`` / ``"denied"`` (any case) as bools; anything else is left to the strict check."""
    if isinstance(value, str) and value.strip().lower() in _WORDS:
        return _WORDS[value.strip().lower()]
    return value


class VendorConsent(BaseModel):
    """One vendor's override: each purpose granted, refused, or ``None`` to follow the visitor's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ad_measurement: StrictBool | None = None
    ad_personalization: StrictBool | None = None

    @field_validator("ad_measurement", "ad_personalization", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        return _word(value)


class Consent(BaseModel):
    """What one visitor allowed. ``Consent()`` grants everything (no hook configured).

    ``decided`` is True when a consent hook answered for this visitor: vendors with a consent field
    (Google Ads) fill it only then, and say nothing when the site never asked.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ad_measurement: StrictBool = True
    ad_personalization: StrictBool = True
    vendors: Mapping[str, VendorConsent] = Field(default_factory=dict)
    decided: StrictBool = False

    @field_validator("ad_measurement", "ad_personalization", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        return _word(value)

    @field_validator("vendors", mode="before")
    @classmethod
    def _overrides(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        return {
            name: {"ad_measurement": _word(v), "ad_personalization": _word(v)} if isinstance(_word(v), bool) else v
            for name, v in value.items()
        }

    @classmethod
    def of(cls, answer: Any) -> Consent:
        """A hook's answer (``bool``, ``"granted"``/``"denied"``, ``Consent`` or mapping) as a decided
        ``Consent``; ``None`` (no answer) refuses. Raises ``ConfigurationError`` for anything else, and for a
        mapping with unknown keys or values."""
        if isinstance(answer, Consent):
            return answer if answer.decided else answer.model_copy(update={"decided": True})
        if isinstance(answer, Mapping):
            try:
                return cls.model_validate({**answer, "decided": True})
            except ValidationError as exc:
                fields = sorted({str(e["loc"][0]) for e in exc.errors(include_input=False)})
                raise ConfigurationError(
                    f"consent answer not understood ({', '.join(fields)}): use ad_measurement, "
                    "ad_personalization and vendors, with True/False or 'granted'/'denied'"
                ) from None
        # Only a bool or a word: "denied" (a banner's cookie returned as is) is truthy, and must not grant.
        granted = _word(answer) if answer is not None else False
        if not isinstance(granted, bool):
            raise ConfigurationError(
                f"consent answer not understood (a {type(answer).__name__}): answer True/False, "
                "'granted'/'denied', a Consent or a mapping of its purposes"
            )
        return cls(ad_measurement=granted, ad_personalization=granted, decided=True)

    def for_vendor(self, name: str) -> Consent:
        """The consent that applies to one vendor: the visitor's, with that vendor's override applied."""
        if not self.vendors:
            return self
        override = self.vendors.get(name) or VendorConsent()
        measurement, personalization = override.ad_measurement, override.ad_personalization
        return Consent(
            ad_measurement=self.ad_measurement if measurement is None else measurement,
            ad_personalization=self.ad_personalization if personalization is None else personalization,
            decided=self.decided,
        )

    def refusal(self, vendor: str) -> str | None:
        """None when conversions may go to this vendor, else the reason (naming the purpose)."""
        if self.for_vendor(vendor).ad_measurement:
            return None
        return "consent for ad_measurement was not granted"

    @property
    def captures(self) -> bool:
        """Whether anything may be captured: measurement granted for every vendor or for one."""
        return self.ad_measurement or any(v.ad_measurement for v in self.vendors.values())

    # -- the compact form in exported checkout tokens ----------------------------------------------------

    def compact(self) -> dict[str, Any] | None:
        """What a token carries: None for the default (everything granted, undecided)."""
        data = self.model_dump(exclude_defaults=True)
        if "vendors" in data:
            data["vendors"] = {k: {p: v for p, v in o.items() if v is not None} for k, o in data["vendors"].items()}
        return data or None

    @classmethod
    def from_compact(cls, data: Any) -> Consent:
        """The inverse of ``compact``; a token without consent (older tokens) is the default."""
        return cls() if data is None else cls.model_validate(data)


GRANTED: Final = Consent()
REFUSED: Final = Consent(ad_measurement=False, ad_personalization=False, decided=True)


def decide(hook: Callable[[Any], Any] | None, scope: Any) -> Consent:
    """Ask the site's hook about this request: everything granted when there is no hook, everything
    refused when it fails or answers what cannot be understood."""
    if hook is None:
        return GRANTED
    try:
        return Consent.of(hook(scope))
    except Exception as exc:
        # The type, not the message: a hook's error may quote the cookie or the visitor it read.
        log.error("attribution consent hook failed (%s); treating the visitor as not consenting", type(exc).__name__)
        return REFUSED
