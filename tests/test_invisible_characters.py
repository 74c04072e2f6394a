"""Captured free text keeps no character that reorders or hides what is shown after it.

``utm_campaign=invoice%E2%80%AEfdp.exe`` would show as ``invoiceexe.pdf`` in any page or report that prints it;
bidirectional overrides and isolates, zero-width spaces, line separators and C1 controls are dropped from UTM
values and landing paths, as control characters always were.
"""

from __future__ import annotations

import pytest

from tests.helpers import client


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("spring%E2%80%AEtxt.exe", "springtxt.exe"),  # U+202E right-to-left override
        ("a%E2%81%A6b%E2%81%A9c", "abc"),  # U+2066 / U+2069 isolates
        ("news%E2%80%8Bletter", "newsletter"),  # zero-width space
        ("line%E2%80%A8break", "linebreak"),  # U+2028 line separator
        ("c1%C2%85x", "c1x"),  # U+0085, a C1 control
        ("%EF%BB%BFbom", "bom"),
        ("caf%C3%A9%20%F0%9F%91%A9%E2%80%8D%F0%9F%92%BB", "café 👩\u200d💻"),  # letters, emoji and ZWJ stay
    ],
)
def test_utm_values_lose_invisible_reordering_characters(sent: str, kept: str) -> None:
    c = client()
    c.get(f"/show?utm_source=google&utm_campaign={sent}")
    assert c.get("/show").json()["utm"]["utm_campaign"] == kept


def test_a_landing_path_is_stored_without_them_either() -> None:
    c = client()
    c.get("/show%E2%80%AEfdp.exe?utm_source=google")
    assert c.get("/show").json()["last"]["path"] == "/showfdp.exe"
