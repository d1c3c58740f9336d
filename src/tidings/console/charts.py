"""Inline SVG charts, rendered by the server from numbers (pure).

No chart library and no script: a chart is a string of SVG the page embeds, styled by
``console.css`` (its colours follow the light or dark theme), readable with JavaScript
off, and each bar or point carries a ``<title>`` that the browser shows on hover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 10, 22  # room for the axis labels


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]  # None: no data at that point (a gap in the line)
    css: str = ""


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (1 for nothing),
    so the axis reads 0 / 50 / 100 rather than 0 / 43.5 / 87."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power  # pragma: no cover - the loop always returns


def minute_keys(now: datetime, minutes: int) -> list[str]:
    """The last ``minutes`` minutes up to ``now``'s, oldest first, as ``YYYY-MM-DD HH:MM``
    (the prefix of how both databases print a timestamp)."""
    start = now.replace(second=0, microsecond=0)
    return [
        (start - timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M")
        for n in range(minutes - 1, -1, -1)
    ]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _frame(title: str, top: float, unit: str, x_labels: Sequence[str]) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        css = "axis" if fraction == 0 else "grid-line"
        parts.append(f'<line class="{css}" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" '
                     f'y2="{y:.1f}"/>')  # fmt: skip
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{escape(_fmt(top * fraction, unit))}</text>")  # fmt: skip
    anchors = ("start", "middle", "end")
    for i, label in enumerate(x_labels[:3]):
        x = LEFT + plot_w * (i / 2 if len(x_labels) == 3 else i)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchors[i]}">'
                     f"{escape(label)}</text>")  # fmt: skip
    return parts


def bar_chart(
    values: Sequence[float],
    *,
    title: str,
    labels: Sequence[str],
    unit: str = "",
    x_labels: Sequence[str] = ("-60 min", "-30 min", "now"),
) -> Markup:
    """One bar per value; ``labels[i]`` names bar ``i`` in its hover title."""
    top = nice_ceiling(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, top, unit, x_labels)
    slot = plot_w / max(1, len(values))
    width = max(1.0, slot * 0.8)
    for i, value in enumerate(values):
        h = plot_h * value / top
        x = LEFT + slot * i + (slot - width) / 2
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{width:.1f}" '
            f'height="{h:.1f}"><title>{escape(labels[i])}: {escape(_fmt(value, unit))}'
            "</title></rect>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    labels: Sequence[str],
    unit: str = "",
    x_labels: Sequence[str] = ("-60 min", "-30 min", "now"),
) -> Markup:
    """One polyline per series, broken where a value is None; a dot on each point."""
    known = [v for s in series for v in s.values if v is not None]
    top = nice_ceiling(max(known, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, top, unit, x_labels)
    for s in series:
        slot = plot_w / max(1, len(s.values))
        runs: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            x, y = LEFT + slot * (i + 0.5), TOP + plot_h * (1 - value / top)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle class="dot {s.css}" cx="{x:.1f}" cy="{y:.1f}" r="2">'
                f"<title>{escape(labels[i])} {escape(s.name)}: {escape(_fmt(value, unit))}"
                "</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline class="line {s.css}" points="{" ".join(run)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
