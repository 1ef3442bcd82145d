"""Checks shared by every form: dates within a sane window (ids: `access.parse_id`)."""

from __future__ import annotations

from datetime import date, datetime

from wtforms.validators import ValidationError

from iop_pwa import dates
from iop_pwa.db import utcnow


def _years_from(day: date, years: int) -> date:
    """The same calendar day `years` later (or earlier); 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


class DateWithin:
    """Refuse a date (or an ISO date string) outside a window around today.

    Nothing in a program of weeks is planned decades ahead, and dates near the ends of the
    calendar break time-zone arithmetic for good (9999-12-31 in New York is year 10000 in UTC).
    A value unchanged from the stored one passes, so an old assignment can still be edited.
    """

    def __init__(self, years_back: int = 1, years_ahead: int = 2) -> None:
        self.years_back, self.years_ahead = years_back, years_ahead

    def __call__(self, form, field) -> None:
        value = field.data
        if value is None or value == "":
            return
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value.strip())
            except ValueError as exc:
                raise ValidationError("Choose a date.") from exc
        if isinstance(value, datetime):
            value = value.date()
        stored = field.object_data
        if isinstance(stored, date) and not isinstance(stored, datetime) and value == stored:
            return
        today = utcnow().date()
        first, last = _years_from(today, -self.years_back), _years_from(today, self.years_ahead)
        if not first <= value <= last:
            between = f"{dates.date_(first)} and {dates.date_(last)}"
            raise ValidationError(f"Choose a date between {between}.")
