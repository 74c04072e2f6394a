"""Google's normal form of the customer's email and phone, cross-checked with Google's own formatting utility
(``google-ads-datamanager-util``'s ``Formatter``, a development dependency only): for any address the library
accepts, the digest ``GoogleAds`` sends on the Data Manager API is the one Google's code computes."""

from __future__ import annotations

import string

import pytest
from google.ads.datamanager_util.format import Encoding, Formatter
from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.errors import InvalidConversionError
from attribution.orders.conversion import Customer
from attribution.orders.identifiers import PHONE_SHA256
from attribution.vendors.google_data_manager import EMAIL_SHA256 as GOOGLE_EMAIL_SHA256

GOOGLE = Formatter()
LOCAL = st.text(alphabet=string.ascii_letters + string.digits + ".+_-", min_size=1, max_size=24)
DOMAINS = st.sampled_from(["gmail.com", "GMail.com", "googlemail.com", "example.com", "Shop.Example.ORG", "gmail.co"])


def googles(email: str) -> str | None:
    try:
        return GOOGLE.process_email_address(email, Encoding.HEX)
    except ValueError:  # Google's formatter refuses it: there is nothing to match on
        return None


@settings(max_examples=300, deadline=None)
@given(local=LOCAL, domain=DOMAINS, pad=st.sampled_from(["", " ", "\t "]))
def test_every_email_hashes_as_googles_formatter_hashes_it(local: str, domain: str, pad: str) -> None:
    email = f"{pad}{local}@{domain}{pad}"
    try:
        customer = Customer(email=email)
    except InvalidConversionError:
        return  # refused at checkout: it never reaches a vendor
    assert GOOGLE_EMAIL_SHA256.derive(customer) == googles(email)


@pytest.mark.parametrize(
    "email",
    [
        "Cloudy.SanFrancisco+shopping@gmail.com",
        "user.name+NYC@Example.com",
        "+only-a-tag@gmail.com",
        "a.b@googlemail.com",
    ],
)
def test_the_references_examples_agree_with_googles_formatter(email: str) -> None:
    assert GOOGLE_EMAIL_SHA256.derive(Customer(email=email)) == googles(email)


@pytest.mark.parametrize(
    "phone",
    ["+1 (800) 555-0100", "+55 11 91234-5678", "+44 20 7946 0958", "+81 3-1234-5678", "+5511912345678"],
)
def test_phones_hash_as_googles_formatter_hashes_their_e164_form(phone: str) -> None:
    customer = Customer(phone=phone)
    assert customer.phone is not None
    assert PHONE_SHA256.derive(customer) == GOOGLE.process_phone_number(customer.phone, Encoding.HEX)
    assert PHONE_SHA256.derive(customer) == GOOGLE.process_phone_number(phone, Encoding.HEX)


def test_a_national_number_becomes_e164_before_hashing() -> None:
    """Google's formatter only keeps the digits; the library reads the number in its country first."""
    customer = Customer(phone="(800) 555-0100", country="US")
    assert PHONE_SHA256.derive(customer) == GOOGLE.process_phone_number("+18005550100", Encoding.HEX)
