"""Geometry of the dashboard's stacked bar chart, drawn as inline SVG by the template (no JavaScript).

Colours are SVG attributes, not `style`, so the page's Content-Security-Policy needs no inline styles.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from triage.rules import TIERS

TIER_COLOURS = {
    "emergency": "#b3261e",
    "urgent": "#e8710a",
    "soon": "#c99a06",
    "routine": "#1a73e8",
    "self_care": "#188038",
}
WIDTH = 720
HEIGHT = 240
LEFT = 36  # room for the y axis labels
BOTTOM = 28  # room for the day labels
TOP = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    x_labels: list[Label]
    y_labels: list[Label]
    gridlines: list[float]
    baseline: float


def _nice_max(value: int) -> int:
    """A round axis maximum at or above `value` (at least 4, so small counts still have gridlines)."""
    if value <= 4:
        return 4
    magnitude = 10 ** int(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = int(math.ceil(value / (magnitude * step)) * magnitude * step)
        if top / (magnitude * step) <= 5:
            return top
    return value


def stacked_bars(days: list[dt.date], per_day: dict[dt.date, dict[str, int]]) -> Chart:
    """One bar per day, stacked by tier from emergency at the bottom up to self-care."""
    plot_w = WIDTH - LEFT - 8
    plot_h = HEIGHT - TOP - BOTTOM
    peak = max((sum(per_day[d].values()) for d in days), default=0)
    top = _nice_max(peak)
    slot = plot_w / max(1, len(days))
    bar_w = max(2.0, slot * 0.7)
    baseline = TOP + plot_h
    bars: list[Bar] = []
    x_labels: list[Label] = []
    every = max(1, math.ceil(len(days) / 12))
    for i, day in enumerate(days):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y = float(baseline)
        for tier in TIERS:
            n = per_day[day].get(tier, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            title = f"{day.isoformat()}: {n} {tier.replace('_', '-')}"
            bars.append(Bar(round(x, 1), round(y, 1), round(bar_w, 1), round(h, 1), TIER_COLOURS[tier], title))
        if i % every == 0:
            x_labels.append(Label(round(x + bar_w / 2, 1), HEIGHT - 8, day.strftime("%d %b")))
    steps = 4
    y_labels = [
        Label(LEFT - 6, round(baseline - plot_h * k / steps + 4, 1), f"{top * k / steps:g}") for k in range(steps + 1)
    ]
    gridlines = [round(baseline - plot_h * k / steps, 1) for k in range(1, steps + 1)]
    return Chart(WIDTH, HEIGHT, bars, x_labels, y_labels, gridlines, baseline)
