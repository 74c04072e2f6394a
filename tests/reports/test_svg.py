"""The chart module: inline SVG with no script and no other host, labelled bars, a pattern per series."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from attribution.reports.svg import Series, bar_chart

NS = {"svg": "http://www.w3.org/2000/svg"}


def chart(**options: object) -> str:
    series = [Series("last touch", {"paid_search": 300.0, "email": 75.0}), Series("first touch", {"email": 375.0})]
    return bar_chart(
        "Revenue by channel in USD",
        ["paid_search", "email"],
        series,
        label=lambda name, value: f"USD {value:,.2f}",
        **options,  # type: ignore[arg-type]
    )


def test_it_is_well_formed_svg_with_a_title_and_a_description() -> None:
    root = ET.fromstring(chart(description="Two models side by side"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    assert root.find("svg:title", NS).text == "Revenue by channel in USD"  # type: ignore[union-attr]
    assert root.find("svg:desc", NS).text == "Two models side by side"  # type: ignore[union-attr]


def test_no_script_and_no_other_host() -> None:
    text = chart()
    assert "<script" not in text
    assert "javascript:" not in text
    assert "href" not in text.replace("url(#", "")
    assert set(re.findall(r"https?://[^\"' )]+", text)) == {"http://www.w3.org/2000/svg"}  # the namespace only


def test_every_bar_has_its_label_and_each_series_its_own_pattern() -> None:
    root = ET.fromstring(chart(ident="c1"))
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts.count("USD 300.00") == 1
    assert texts.count("USD 375.00") == 1
    assert texts.count("USD 0.00") == 1
    assert "last touch" in texts
    assert "first touch" in texts
    fills = {r.get("fill") for r in root.iter("{http://www.w3.org/2000/svg}rect")}
    assert "url(#c1-p1)" in fills  # the second series is hatched, not only another colour
    assert root.find(".//svg:pattern[@id='c1-p1']", NS) is not None


def test_bars_are_as_long_as_their_values() -> None:
    root = ET.fromstring(chart())
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("height") == "15"]
    widths = [float(r.get("width", 0)) for r in bars]
    # paid_search: 300 and nothing; email: 75 and 375 (the longest)
    assert widths[3] == pytest.approx(320.0)
    assert widths[0] == pytest.approx(320.0 * 300 / 375)
    assert widths[2] == pytest.approx(320.0 * 75 / 375)


def test_text_is_escaped_and_long_labels_shortened_with_the_full_text_kept() -> None:
    name = "<script>alert(1)</script>-spring-campaign-with-a-long-name"
    text = bar_chart("T & <b>", [name], [Series("s", {name: 1.0})], label=lambda n, v: "x")
    assert "<script>" not in text
    assert "<b>" not in text
    root = ET.fromstring(text)
    shortened = [t for t in root.iter("{http://www.w3.org/2000/svg}text") if t.find("svg:title", NS) is not None]
    assert shortened[0].find("svg:title", NS).text == name  # type: ignore[union-attr]
    assert "".join(shortened[0].itertext()).endswith("…")


def test_an_empty_chart_says_so() -> None:
    assert "Nothing to show" in bar_chart("T", [], [Series("s", {})], label=lambda n, v: "")
