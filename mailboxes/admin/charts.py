"""Small bar charts rendered on the server as inline SVG: no JavaScript, nothing fetched.

A chart is a row of time buckets, each with one or more stacked values; every bar carries a
`<title>` so that hovering it (or a screen reader) tells the exact figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 600, 170
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 24
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    values: Sequence[float]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times 10^n not below `value`, so the axis reads well."""
    if value <= 0:
        return 1
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover  (the loop always returns)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def stacked_bar_chart(
    title: str,
    buckets: Sequence[datetime],
    series: Sequence[Series],
    *,
    unit: str = "",
    notes: Sequence[str] | None = None,
) -> SafeString:
    """An SVG bar chart, one bar per bucket, the series stacked from the bottom up.

    Each bar's tooltip lists the series' values, or says `notes[i]` when given.
    """
    count = max(len(buckets), 1)
    totals = [sum(s.values[i] for s in series) for i in range(len(buckets))]
    top = nice_ceiling(max(totals, default=0))
    slot = PLOT_WIDTH / count
    bar_width = max(slot * 0.8, 1)
    parts: list[SafeString] = []
    # Axis: zero, half and top, with faint grid lines.
    for fraction in (0, 0.5, 1):
        y = TOP + PLOT_HEIGHT * (1 - fraction)
        parts.append(
            format_html(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" class="grid"/>'
                '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
                LEFT,
                f"{y:.1f}",
                WIDTH - RIGHT,
                f"{y:.1f}",
                LEFT - 4,
                f"{y + 4:.1f}",
                _number(top * fraction),
            )
        )
    for index, bucket in enumerate(buckets):
        x = LEFT + index * slot + (slot - bar_width) / 2
        base = 0.0
        figures = (
            notes[index]
            if notes is not None
            else ", ".join(f"{s.label} {_number(s.values[index])}{unit}" for s in series)
        )
        for s in series:
            value = s.values[index]
            if value <= 0:
                continue
            height = PLOT_HEIGHT * value / top
            y = TOP + PLOT_HEIGHT * (1 - (base + value) / top)
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {}</title></rect>",
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{bar_width:.1f}",
                    f"{height:.1f}",
                    s.colour,
                    f"{bucket:%H:%M}",
                    figures,
                )
            )
            base += value
        if index % 6 == 0 or index == len(buckets) - 1:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>',
                    f"{x + bar_width / 2:.1f}",
                    HEIGHT - 6,
                    f"{bucket:%H:%M}",
                )
            )
    legend = format_html_join(
        "",
        '<tspan fill="{}">■</tspan> {} ',
        ((s.colour, s.label) for s in series),
    )
    return format_html(
        '<svg class="crmsync-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>'
        '<text x="{}" y="{}" class="legend">{}</text>{}</svg>',
        WIDTH,
        HEIGHT + 16,
        title,
        title,
        LEFT,
        HEIGHT + 12,
        legend,
        mark_safe("".join(parts)),  # noqa: S308  (each part was built by format_html)
    )
