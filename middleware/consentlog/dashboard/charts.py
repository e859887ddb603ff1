"""Charts as server-rendered inline SVG: line charts, bar charts and stacked bars.

No JavaScript and no CDN: a chart is markup in the page, drawn here and handed to the
templates as ``markupsafe.Markup``. Colours come from CSS classes (``c0`` … ``c5``,
defined in the stylesheet for light and dark schemes). Each chart is drawn twice — wide
for a laptop, narrow for a phone — and the stylesheet shows the one that fits, because
text in a scaled-down SVG becomes unreadable. Every chart carries a title and a
description for screen readers, and its numbers in a table under a disclosure
(``templates/figure.html``). The y axis always counts things (views, decisions), from zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from markupsafe import Markup

from consentlog.dashboard import templates

# viewBox sizes, each close to the CSS pixels the chart gets, so its 11 px text stays ~11 px:
# a full-width and a half-width chart on a laptop, and any chart on a phone
WIDE = {"full": (1040, 280), "half": (540, 250)}
NARROW = (340, 220)
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 18, 26  # plot margins: y labels, -, bar labels, x labels
PALETTE = 6  # colour classes c0 … c5 in the stylesheet

Kind = Literal["line", "bars"]
Width = Literal["full", "half"]
_X = Callable[[int], float]  # label index → x
_Y = Callable[[float], float]  # value → y


@dataclass(frozen=True, slots=True)
class Series:
    """One named row of numbers, one per label."""

    name: str
    values: tuple[float, ...]
    colour: int | None = None  # palette index; default: the series' position


def compact(value: float) -> str:
    """A count for an axis or a bar label: 950, 1.2k, 3.4M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return f"{scaled:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def nice_scale(largest: float, ticks: int = 4) -> tuple[float, float]:
    """The top of the y axis and its step: round numbers (1, 2, 2.5, 5 × 10ⁿ) covering
    ``largest`` in about ``ticks`` steps."""
    if largest <= 0:  # nothing to show: an empty grid of whole numbers
        return float(ticks), 1.0
    raw = largest / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    # counts: whole-number steps only (no 2.5 below 10, nothing below 1)
    steps = [m * magnitude for m in (1, 2, 2.5, 5, 10) if (m * magnitude) % 1 == 0]
    step = max(1.0, next(s for s in steps if s >= raw))
    return step * math.ceil(largest / step), step


def _colour(series: Series, index: int) -> str:
    return f"c{(index if series.colour is None else series.colour) % PALETTE}"


def _svg(
    kind: Kind,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    size: tuple[int, int],
    chart_id: str,
    title: str,
    description: str,
) -> Markup:
    width, height = size
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    if kind == "bars" and len(series) > 1:
        largest = max((sum(s.values[i] for s in series) for i in range(len(labels))), default=0)
    else:
        largest = max((v for s in series for v in s.values), default=0)
    top, step = nice_scale(largest)
    n = max(len(labels), 1)
    slot = plot_w / n  # horizontal room per label

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / top

    def x(index: int) -> float:
        return LEFT + slot * (index + 0.5)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description)}</desc>',
        '<g class="grid">',
    ]
    ticks = round(top / step)
    for k in range(ticks + 1):
        value = step * k
        ty = y(value)
        parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        parts.append(
            f'<text class="ylabel" x="{LEFT - 6}" y="{ty + 4:.1f}">{compact(value)}</text>'
        )
    parts.append("</g>")
    # as many x labels as fit (11 px text: ~6.5 px a character), counted back from the
    # last one: the latest day is the one people look for
    room = max((len(label) for label in labels), default=1) * 6.5 + 10
    every = max(1, math.ceil(len(labels) * room / plot_w))
    parts.append('<g class="xlabels">')
    for i, label in enumerate(labels):
        if (len(labels) - 1 - i) % every == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{height - 8}">{escape(label)}</text>')
    parts.append("</g>")
    if kind == "line":
        parts += _lines(labels, series, x, y, slot)
    else:
        parts += _bars(labels, series, x, y, slot)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - drawn here, every text in it escaped


def _lines(labels: Sequence[str], series: Sequence[Series], x: _X, y: _Y, slot: float) -> list[str]:
    parts: list[str] = []
    for index, s in enumerate(series):
        colour = _colour(s, index)
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        parts.append(f'<g class="{colour}"><polyline class="line" points="{points}"/>')
        radius = 3 if slot >= 8 else 2
        for i, v in enumerate(s.values):
            parts.append(
                f'<circle class="dot" cx="{x(i):.1f}" cy="{y(v):.1f}" r="{radius}">'
                f"<title>{escape(labels[i])} · {escape(s.name)}: {compact(v)}</title></circle>"
            )
        parts.append("</g>")
    return parts


def _bars(labels: Sequence[str], series: Sequence[Series], x: _X, y: _Y, slot: float) -> list[str]:
    parts: list[str] = []
    bar_w = max(1.0, min(slot * 0.72, 56))
    stacked = len(series) > 1
    for i, label in enumerate(labels):
        base = 0.0
        for index, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            top, bottom = y(base + value), y(base)
            parts.append(
                f'<rect class="bar {_colour(s, index)}" x="{x(i) - bar_w / 2:.1f}" '
                f'y="{top:.1f}" width="{bar_w:.1f}" height="{max(bottom - top, 0.5):.1f}">'
                f"<title>{escape(label)}"
                f"{' · ' + escape(s.name) if stacked else ''}: {compact(value)}</title></rect>"
            )
            base += value
        if not stacked and slot >= 26:  # the count above each bar, when it fits
            parts.append(
                f'<text class="barlabel" x="{x(i):.1f}" y="{y(base) - 5:.1f}">'
                f"{compact(base)}</text>"
            )
    return parts


def figure(
    kind: Kind,
    *,
    chart_id: str,
    title: str,
    description: str,
    label_name: str,
    labels: Sequence[str],
    series: Sequence[Series],
    width: Width = "full",
) -> Markup:
    """A chart as a ``<figure>`` (``templates/figure.html``): caption, wide and narrow
    SVG, legend, and the numbers.

    ``width`` is the room the figure gets on a laptop: the page's width, or half of it.
    """
    drawings = [
        (
            name,
            _svg(
                kind,
                labels,
                series,
                size=size,
                chart_id=f"{chart_id}-{name}",
                title=title,
                description=description,
            ),
        )
        for name, size in (("wide", WIDE[width]), ("narrow", NARROW))
    ]
    return templates.fragment(
        "figure.html",
        title=title,
        drawings=drawings,
        series=series,
        colours=[_colour(s, i) for i, s in enumerate(series)],
        label_name=label_name,
        labels=labels,
    )
