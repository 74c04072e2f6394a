"""What a site reports: an order or event, the customer, the visitor's attribution and the request.

Every model validates at construction and raises ``InvalidConversionError``: a negative value, an unknown
currency or an empty order id is an error at the call in the checkout code, not a vendor's 400 in the
worker hours later. Error messages name the field and the rule, never the personal data that broke it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self
from uuid import uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..capture.consent import Consent
from ..capture.models import Attribution, trusted
from ..errors import InvalidConversionError
from . import pii
from .identifiers import Identifier

_ISO_4217_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
    KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN
    NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL
    SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
    VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
"""
#: ISO 4217 active codes (2025), without XTS (testing) and XXX (no currency).
ISO_4217: frozenset[str] = frozenset(_ISO_4217_CODES.split())


def _utcnow() -> datetime:
    return datetime.now(UTC)


#: Longest order, item or event id accepted: it becomes a dedup key at every vendor, so it must fit theirs.
MAX_ID_LENGTH = 255


def _id(value: str) -> str:
    """An order, item or event id: printable text without control characters, at most ``MAX_ID_LENGTH``."""
    if len(value) > MAX_ID_LENGTH:
        raise InvalidConversionError(f"an id is at most {MAX_ID_LENGTH} characters long")
    if not value.isprintable():
        raise InvalidConversionError("an id must be printable text (no control or invisible characters)")
    return value


def _currency(value: str) -> str:
    code = value.strip().upper()
    if code not in ISO_4217:
        raise InvalidConversionError(f"unknown currency {value[:8]!r}: use an ISO 4217 code such as 'USD'")
    return code


class EventName(StrEnum):
    """Canonical events; each vendor maps them to its own names or ids."""

    PURCHASE = "purchase"
    LEAD = "lead"
    COMPLETE_REGISTRATION = "complete_registration"
    CONTACT = "contact"
    SCHEDULE = "schedule"
    SUBMIT_APPLICATION = "submit_application"
    VIEW_CONTENT = "view_content"
    CUSTOM = "custom"


class _Model(BaseModel):
    """Frozen, strict about unknown keys, raising ``InvalidConversionError`` rather than pydantic's error."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    if not TYPE_CHECKING:  # keep the typed __init__ that pydantic's dataclass_transform gives type checkers

        def __init__(self, **data: Any) -> None:
            try:
                super().__init__(**data)
            except ValidationError as exc:
                # ``from None``: pydantic's own error repeats the input values, which may be personal data.
                raise InvalidConversionError(_describe(type(self).__name__, exc)) from None

        @classmethod
        def model_validate(cls, obj, **kwargs):
            try:
                return super().model_validate(obj, **kwargs)
            except ValidationError as exc:
                # pydantic wraps the error our __init__ raised; hand that one over unwrapped.
                inner = exc.errors()[0].get("ctx", {}).get("error") if exc.error_count() == 1 else None
                if isinstance(inner, InvalidConversionError):
                    raise inner from None
                raise InvalidConversionError(_describe(cls.__name__, exc)) from None


def _describe(model: str, exc: ValidationError) -> str:
    """``invalid Order: value: Input should be greater than or equal to 0`` without the input values."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return f"invalid {model}: " + "; ".join(parts)


class LineItem(_Model):
    """One line of an order: ``quantity`` units at unit ``price``."""

    id: str = Field(min_length=1)
    name: str | None = None
    quantity: int = Field(default=1, ge=1)
    price: Decimal = Field(ge=0, allow_inf_nan=False)
    category: str | None = None

    _check_id = field_validator("id")(_id)


class Order(_Model):
    """A completed order. ``value`` is what the vendor should credit (usually the total paid)."""

    id: str = Field(min_length=1)
    value: Decimal = Field(ge=0, allow_inf_nan=False)
    currency: str
    items: list[LineItem] = Field(default_factory=list)
    time: AwareDatetime = Field(default_factory=_utcnow)
    """When the order was placed. Pass your shop's own timestamp when reporting later (webhooks)."""

    _check_id = field_validator("id")(_id)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        return _currency(value)

    @property
    def num_items(self) -> int:
        return sum(item.quantity for item in self.items)


class Customer(_Model):
    """Who converted. Everything is optional; vendors use what they can match on.

    ``email`` is trimmed and lowercased, ``phone`` becomes E.164 using ``phone_region`` (or ``country``
    when it is a two-letter code) for numbers written without ``+<country code>``. Either may be given as
    a SHA-256 hex digest instead, which passes through; vendors that need plain text then skip it.
    Personal fields are left out of ``repr``.
    """

    email: str | None = Field(default=None, repr=False)
    phone: str | None = Field(default=None, repr=False)
    phone_region: str | None = None
    first_name: str | None = Field(default=None, repr=False)
    last_name: str | None = Field(default=None, repr=False)
    name: str | None = Field(default=None, repr=False)
    city: str | None = Field(default=None, repr=False)
    state: str | None = Field(default=None, repr=False)
    postal_code: str | None = Field(default=None, repr=False)
    country: str | None = None
    external_id: str | None = Field(default=None, repr=False)
    """Your own customer id."""
    user_id: str | None = Field(default=None, repr=False)
    """Your own user (login) id, when it differs from ``external_id``."""
    birthdate: date | None = Field(default=None, repr=False)
    gender: str | None = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if isinstance(data.get("email"), str):
            data["email"] = pii.normalize_email(data["email"]) if data["email"].strip() else None
        if isinstance(data.get("phone"), str):
            region = data.get("phone_region")
            country = data.get("country")
            if not region and isinstance(country, str) and len(country.strip()) == 2:
                region = country.strip()
            data["phone"] = pii.normalize_phone(data["phone"], region) if data["phone"].strip() else None
        if isinstance(data.get("gender"), str):
            gender = data["gender"].strip().lower()
            data["gender"] = {"m": "male", "f": "female"}.get(gender, gender) or None
        return data

    @property
    def plain_email(self) -> str | None:
        """The email in clear text, or None when absent or given only as a hash."""
        return self.email if self.email and not pii.is_sha256(self.email) else None

    @property
    def plain_phone(self) -> str | None:
        """The E.164 phone in clear text, or None when absent or given only as a hash."""
        return self.phone if self.phone and not pii.is_sha256(self.phone) else None

    # The stored email and phone are already normalised (or digests): hash them as they are, without parsing
    # the phone number again for every vendor of every checkout.
    @property
    def email_sha256(self) -> str | None:
        return _digest(self.email)

    @property
    def phone_sha256(self) -> str | None:
        return _digest(self.phone)

    @property
    def full_name(self) -> str | None:
        joined = " ".join(p for p in (self.first_name, self.last_name) if p)
        return self.name or joined or None


def _digest(value: str | None) -> str | None:
    """SHA-256 hex of a normalised value, or the value itself when it already is a digest."""
    if not value:
        return None
    return value if pii.is_sha256(value) else pii.sha256(value)


class RequestContext(_Model):
    """The browser request the conversion happened in (absent for server-side events such as webhooks)."""

    ip: str | None = Field(default=None, repr=False)
    user_agent: str | None = None
    url: str | None = None
    referrer: str | None = None

    @field_validator("ip")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise InvalidConversionError("context ip is not an IPv4 or IPv6 address") from None


class Conversion(_Model):
    """An order or event, the customer, the visitor's ``Attribution`` and the request context.

    A purchase needs an ``order``; its value, currency, time and id come from the order. Other events may
    carry ``value``/``currency`` themselves. ``event_id`` identifies an event without an order: pass your
    own (form submission id, lead id) so that reporting the same event twice is deduplicated; otherwise a
    random one is made. ``dedup_id`` is stable per (order or event id, event name).
    """

    event: EventName = EventName.PURCHASE
    custom_name: str | None = None
    """The event's own name when ``event`` is ``custom``."""
    order: Order | None = None
    event_id: str = Field(default_factory=lambda: uuid4().hex, min_length=1)
    value: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = None
    event_time: AwareDatetime = Field(default_factory=_utcnow)
    customer: Customer = Field(default_factory=Customer)
    attribution: Attribution = Field(default_factory=Attribution)
    context: RequestContext = Field(default_factory=RequestContext)
    consent: Consent = Field(default_factory=Consent)
    """What the visitor allowed, per purpose and vendor (everything, when the site has no consent hook)."""

    @model_validator(mode="before")
    @classmethod
    def _from_order(cls, data: Any) -> Any:
        """Take id, time, value and currency from the order unless given (a conflict is checked after)."""
        if not isinstance(data, Mapping) or data.get("order") is None:
            return data
        data, order = dict(data), data["order"]
        for key, source in (
            ("event_id", "id"),
            ("event_time", "time"),
            ("value", "value"),
            ("currency", "currency"),
        ):
            found = getattr(order, source, None) if isinstance(order, Order) else order.get(source)
            if data.get(key) is None and found is not None:
                data[key] = found
        return data

    _check_event_id = field_validator("event_id")(_id)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str | None) -> str | None:
        return None if value is None else _currency(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.event is EventName.PURCHASE and self.order is None:
            raise InvalidConversionError("a purchase needs an order")
        if self.event is EventName.CUSTOM and not self.custom_name:
            raise InvalidConversionError("a custom event needs custom_name")
        if (self.value is None) != (self.currency is None):
            raise InvalidConversionError("value and currency go together: give both or neither")
        order = self.order
        if order is not None and (self.value != order.value or self.currency != order.currency):
            raise InvalidConversionError("value and currency differ from the order's: give them once")
        return self

    _stored: Mapping[str, str] | None = PrivateAttr(default=None)
    """The customer's forms kept by an order record (``with_identifiers``); None: derive from ``customer``."""
    _derived: dict[str, str | None] | None = PrivateAttr(default=None)

    def identifier(self, form: Identifier) -> str | None:
        """``form`` of the customer: as an order record stored it, else derived from ``customer`` (once per
        form and conversion, since several vendors read the same one)."""
        private = self.__pydantic_private__ or {}  # the dict itself: pydantic's __getattr__ costs microseconds
        stored: Mapping[str, str] | None = private.get("_stored")
        if stored is not None:
            return stored.get(form.name)
        derived: dict[str, str | None] | None = private.get("_derived")
        if derived is None:
            derived = self._derived = {}
        try:
            return derived[form.name]
        except KeyError:
            value = derived[form.name] = form.derive(self.customer) or None
            return value

    def with_identifiers(self, stored: Mapping[str, str]) -> Conversion:
        """This conversion as the worker sees it: no ``Customer``, only the forms an order record kept. A vendor
        builds the same request from it as from the full conversion, for the forms it declared."""
        copy = self.model_copy(update={"customer": Customer()})
        copy._stored = dict(stored)
        copy._derived = None
        return copy

    @property
    def dedup_id(self) -> str:
        """``purchase:ORD-7821``: the same for every attempt and every report of this order and event."""
        return f"{self.event._value_}:{self.event_id}"

    @property
    def items(self) -> list[LineItem]:
        return self.order.items if self.order is not None else []


_EVENTS: Mapping[str, EventName] = {e.value: e for e in EventName}


def of_order(
    event: object, order: Order, customer: Customer, attribution: Attribution, context: RequestContext, consent: Consent
) -> Conversion | None:
    """The ``Conversion`` that ``Conversion(event=..., order=..., ...)`` makes from these validated models, without
    validating them again; None when something needs the full validation (which then raises what it raises)."""
    kind = _EVENTS.get(event) if isinstance(event, str) else None
    if (
        kind is None
        or kind is EventName.CUSTOM
        or type(order) is not Order
        or type(customer) is not Customer
        or type(context) is not RequestContext
        or type(consent) is not Consent
        or not isinstance(attribution, Attribution)
        or not _valid_order(order)
    ):
        return None
    conversion = trusted(
        Conversion,
        {
            "event": kind,
            "custom_name": None,
            "order": order,
            "event_id": order.id,
            "value": order.value,
            "currency": order.currency,
            "event_time": order.time,
            "customer": customer,
            "attribution": attribution,
            "context": context,
            "consent": consent,
        },
    )
    object.__setattr__(conversion, "__pydantic_fields_set__", set(_FROM_ORDER))
    return conversion


#: The fields a conversion built from an order was given (``custom_name`` is left to its default).
_FROM_ORDER = (
    "event",
    "order",
    "customer",
    "attribution",
    "context",
    "consent",
    "event_id",
    "event_time",
    "value",
    "currency",
)


def _valid_order(order: Order) -> bool:
    """Whether the order's id, value, currency and time pass ``Conversion``'s own rules for those fields."""
    id_, value, currency, time = order.id, order.value, order.currency, order.time
    return (
        type(id_) is str
        and 0 < len(id_) <= MAX_ID_LENGTH
        and id_.isprintable()
        and id_ == id_.strip()
        and type(value) is Decimal
        and value.is_finite()
        and value >= 0
        and type(currency) is str
        and currency in ISO_4217
        and type(time) is datetime
        and time.utcoffset() is not None
    )
