"""A horizontal bar chart as inline SVG: no script, no font or image from anywhere, readable without colour.

Every bar carries its own label (the amount and the share), each series has its own fill pattern (solid,
hatched, dotted) shown in the legend beside its name, and the chart has a ``<title>`` and ``<desc>`` that say
what it shows, for screen readers. A label too long for its column is shortened with an ellipsis, its full text
kept in a ``<title>`` (a tooltip).

Written here rather than taken from a charting library: matplotlib, plotly, bokeh and altair are large or draw
with a browser runtime; pygal puts a script in its SVG and weighs over a megabyte with its dependency; leather
(small, no dependencies) draws bars without value labels or fill patterns, so its charts read by colour alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

ROW: Final = 18
"""Height of one bar, in pixels."""
GAP: Final = 10
LABEL_CHARS: Final = 28
CHAR: Final = 7.2
"""About the width of one character at the chart's font size, to size the label column."""
PLOT: Final = 320
VALUE_SPACE: Final = 170
FONT: Final = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:12px"

#: Per series: its pattern's drawing (inside a <pattern>), or None for a solid fill.
PATTERNS: Final[Sequence[tuple[str, str | None]]] = (
    ("#1d3f66", None),
    ("#8a4b00", '<path d="M0,8 L8,0 M-2,2 L2,-2 M6,10 L10,6" stroke="{color}" stroke-width="2"/>'),
    ("#2f5d2f", '<circle cx="4" cy="4" r="1.8" fill="{color}"/>'),
    ("#5b2a6e", '<path d="M0,4 H8" stroke="{color}" stroke-width="2"/>'),
)


@dataclass(frozen=True, slots=True)
class Series:
    """One set of bars: its name in the legend and a value per category (missing: nothing)."""

    name: str
    values: Mapping[str, float]


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    label: Callable[[str, float], str],
    description: str = "",
    ident: str = "chart",
) -> str:
    """The chart as an ``<svg>`` element. ``label(series name, value)`` is the text at the end of each bar;
    ``ident`` prefixes the patterns' ids, unique per chart on one page."""
    if len(series) > len(PATTERNS):
        raise ValueError(f"at most {len(PATTERNS)} series, each with its own pattern")
    label_width = int(min(max((len(c) for c in categories), default=0), LABEL_CHARS) * CHAR) + 12
    group = len(series) * ROW + GAP
    legend = 24 if len(series) > 1 else 0
    width = label_width + PLOT + VALUE_SPACE
    height = 28 + legend + max(len(categories), 1) * group + 8
    top = max((v for s in series for v in s.values.values()), default=0.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{ident}-title {ident}-desc" style="{FONT}">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description or title)}</desc>',
        _patterns(ident, len(series)),
        f'<text x="0" y="16" font-weight="600">{escape(title)}</text>',
    ]
    if legend:
        parts.append(_legend(ident, series, y=30))
    y = 28 + legend
    if not categories:
        parts.append(f'<text x="0" y="{y + 14}">Nothing to show for this window.</text>')
    for category in categories:
        parts.append(_category(category, label_width, y + (len(series) * ROW) / 2))
        for i, s in enumerate(series):
            value = s.values.get(category, 0.0)
            length = 0.0 if top <= 0 else PLOT * max(value, 0.0) / top
            x, bar_y = label_width, y + i * ROW + 1
            parts.append(
                f'<rect x="{x}" y="{bar_y}" width="{max(length, 1.0):.1f}" height="{ROW - 3}" '
                f'fill="{_fill(ident, i)}" stroke="{PATTERNS[i][0]}" stroke-width="1"/>'
            )
            text = label(s.name, value)
            parts.append(f'<text x="{x + length + 6:.1f}" y="{bar_y + ROW - 6}">{escape(text)}</text>')
        y += group
    parts.append("</svg>")
    return "".join(parts)


def _patterns(ident: str, count: int) -> str:
    defs = []
    for i in range(count):
        color, drawing = PATTERNS[i]
        if drawing is None:
            continue
        defs.append(
            f'<pattern id="{ident}-p{i}" patternUnits="userSpaceOnUse" width="8" height="8">'
            f'<rect width="8" height="8" fill="#ffffff"/>{drawing.format(color=color)}</pattern>'
        )
    return f"<defs>{''.join(defs)}</defs>" if defs else ""


def _fill(ident: str, i: int) -> str:
    color, drawing = PATTERNS[i]
    return color if drawing is None else f"url(#{ident}-p{i})"


def _legend(ident: str, series: Sequence[Series], *, y: int) -> str:
    parts, x = [], 0
    for i, s in enumerate(series):
        parts.append(
            f'<rect x="{x}" y="{y}" width="14" height="14" fill="{_fill(ident, i)}" '
            f'stroke="{PATTERNS[i][0]}" stroke-width="1"/>'
            f'<text x="{x + 20}" y="{y + 11}">{escape(s.name)}</text>'
        )
        x += 20 + int(len(s.name) * CHAR) + 24
    return "".join(parts)


def _category(text: str, width: int, middle: float) -> str:
    shown = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
    full = f"<title>{escape(text)}</title>" if shown != text else ""
    return f'<text x="{width - 8}" y="{middle + 4:.1f}" text-anchor="end">{full}{escape(shown)}</text>'
