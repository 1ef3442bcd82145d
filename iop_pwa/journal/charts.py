"""Mood over time as an SVG drawn on the server: no chart library in the browser.

The SVG is decorative for screen readers (the page has a table of the same data); its colours come
from CSS classes so that dark mode and contrast are handled by the stylesheet.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from iop_pwa import dates
from iop_pwa.journal.models import MOODS
from iop_pwa.journal.services import MoodDay

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 112, 36, 16, 44  # room for the words and dates at phone sizes


def _x(i: int, n: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * i / (n - 1) if n > 1 else span / 2)


def _y(mood: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (5 - mood) / 4


def _labelled(n: int) -> list[int]:
    """The days that get a date under the chart: today and every week before it (every three
    weeks over 90 days), ending on the first day. Five labels at most, so that they stay apart
    when the chart is shrunk to a 320 px phone."""
    step = 7 if n <= 31 else 21
    marks = list(range(n - 1, -1, -step))
    if marks[-1] < step / 2 and len(marks) > 1:
        marks[-1] = 0  # too close to the first day to label both: label the first
    elif marks[-1]:
        marks.append(0)
    return sorted(set(marks))


def mood_chart(days: list[MoodDay]) -> Markup:
    n = len(days)
    parts = [
        f'<svg class="mood-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="mood-chart-title" preserveAspectRatio="xMidYMid meet">',
        f'<title id="mood-chart-title">Mood over the last {n} days, shown as a line from 1 '
        f"(very low) to 5 (very good). The table below has the same data.</title>",
    ]
    for mood, word in MOODS.items():
        y = _y(mood)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{LEFT - 8}" y="{y + 4:.1f}" '
            f'text-anchor="end">{escape(word)}</text>'
        )
    for i in _labelled(n):
        parts.append(
            f'<text class="axis date" x="{_x(i, n):.1f}" y="{HEIGHT - 8}" '
            f'text-anchor="middle">{dates.month_day(days[i].day)}</text>'
        )
    # A line through the recorded days (days without a check-in are bridged), then the points.
    points = [f"{_x(i, n):.1f},{_y(d.mood):.1f}" for i, d in enumerate(days) if d.mood is not None]
    if len(points) > 1:
        parts.append(f'<polyline class="line" points="{" ".join(points)}"/>')
    for i, day in enumerate(days):
        if day.mood is not None:
            parts.append(
                f'<circle class="point" cx="{_x(i, n):.1f}" cy="{_y(day.mood):.1f}" '
                f'r="{4 if n <= 30 else 3}"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from numbers and escaped words only
