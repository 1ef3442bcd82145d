"""Check-in scores over time as an SVG drawn on the server (no chart library in the browser).

The SVG has a text alternative (its title says what it shows and where the numbers are); the
table beside it is the real data. Colours come from the stylesheet's classes."""

from __future__ import annotations

from markupsafe import Markup, escape

from iop_pwa import dates
from iop_pwa.checkins.services import Series

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 14, 40


def _y(score: float, top: int) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (top - score) / (top or 1)


def score_chart(series: Series, chart_id: str) -> Markup:
    answers = series.answers
    top = series.form.max_score
    first, last = answers[0].local_date, answers[-1].local_date
    span = max((last - first).days, 1)

    def x(day) -> float:
        if first == last:
            return LEFT + (WIDTH - LEFT - RIGHT) / 2
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - first).days / span

    title = (
        f"{series.questionnaire.title} scores from {dates.month_day(first)} to "
        f"{dates.month_day(last)}, {len(answers)} answers, on a scale from 0 to {top}"
        f"{' (higher means more symptoms)' if series.form.bands else ''}. Latest: "
        f"{answers[-1].score}{f' ({answers[-1].band})' if answers[-1].band else ''}. "
        "The table has the same numbers."
    )
    parts = [
        f'<svg class="mood-chart score-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]
    marks = sorted({lowest for lowest, _ in series.form.bands} | {0, top})
    for mark in marks:
        y = _y(mark, top)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{mark}</text>'
        )
    labelled = {0, len(answers) - 1}
    if len(answers) > 4:
        labelled |= {len(answers) // 3, 2 * len(answers) // 3}
    for i in sorted(labelled):
        parts.append(
            f'<text class="axis date" x="{x(answers[i].local_date):.1f}" y="{HEIGHT - 10}" '
            f'text-anchor="middle">{escape(dates.month_day(answers[i].local_date))}</text>'
        )
    points = [f"{x(a.local_date):.1f},{_y(a.score, top):.1f}" for a in answers]
    if len(points) > 1:
        parts.append(f'<polyline class="line" points="{" ".join(points)}"/>')
    for point in points:
        cx, cy = point.split(",")
        parts.append(f'<circle class="point" cx="{cx}" cy="{cy}" r="4"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped words only
