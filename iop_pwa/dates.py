"""Every date and time people read, written one way: by their locale (the browser's
Accept-Language, best match among SUPPORTED_LOCALES) and their 12/24-hour preference
(`User.clock`), in their time zone, with Babel (through Flask-Babel).

A few named formats, each a Jinja filter and a Python function of the same name:

    day             Saturday 28 November          Saturday, November 28
    long_date       Saturday, 28 November 2026    Saturday, November 28, 2026
    short_day       Sat 28 Nov                    Sat, Nov 28
    short_date      Sat, 28 Nov 2026              Sat, Nov 28, 2026
    date            28 Nov 2026                   Nov 28, 2026
    month_day       28 Nov                        Nov 28
    weekday         Saturday                      Saturday
    time            20:45 (or 8:45 pm)            8:45 PM (or 20:45)
    day_time, long_date_time, short_day_time, short_date_time, date_time: the date, the time
    time_range      start|time_range(end): "Saturday 28 November, 20:45–21:45"
    ago             "2 hours ago", "yesterday" (Babel's format_timedelta)

Datetimes are UTC and shown in a time zone (the signed-in person's by default, or the one
given); dates are calendar days and shown as they are. Outside a request (the worker) the
default locale and the locale's own clock are used unless a person's are given. Machine formats
(`<time datetime>`, iCalendar, CSV/JSON export) stay ISO and never come here. Page scripts
format the same way with `static/js/dates.js`, from `<html lang>` and `data-clock`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import DateTimeFormat, format_timedelta, parse_pattern
from flask import Flask, has_request_context, request

# Babel's names, the browser's best match among them; the first is the default.
DEFAULT_LOCALE = "en_US"
SUPPORTED_LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IE", "en_NZ", "en")
CLOCKS = ("", "12", "24")  # "" is the locale's own habit

# Each date format is a CLDR skeleton; "wide" names spell weekday and month out in full.
_DATES = {
    "day": ("MMMEd", True),
    "long_date": ("yMMMEd", True),
    "short_day": ("MMMEd", False),
    "short_date": ("yMMMEd", False),
    "date": ("yMMMd", False),
    "month_day": ("MMMd", False),
    "weekday": ("EEEE", None),  # a pattern, not a skeleton
}


def select_locale() -> str:
    """Flask-Babel's locale selector: the best of SUPPORTED_LOCALES for the browser."""
    return request.accept_languages.best_match(SUPPORTED_LOCALES) or DEFAULT_LOCALE


def select_timezone() -> str:
    """Flask-Babel's time zone selector: the signed-in person's, otherwise UTC (a signed-out
    page shows a UTC time and lets the page's script write it in the device's zone)."""
    from flask_login import current_user

    if current_user and current_user.is_authenticated:
        return current_user.timezone
    return "UTC"


def current_locale() -> Locale:
    """The request's locale, or the default one outside a request."""
    if has_request_context():
        from flask_babel import get_locale

        found = get_locale()
        if found is not None:
            return found
    return _locale(DEFAULT_LOCALE)


def current_clock() -> str:
    """The signed-in person's 12/24-hour preference ("" outside a request or signed out)."""
    if has_request_context():
        from flask_login import current_user

        if current_user and current_user.is_authenticated:
            return current_user.clock or ""
    return ""


def html_lang(locale: Locale | None = None) -> str:
    """`en-GB` for `<html lang>` (a BCP 47 tag, which the page's scripts give to Intl)."""
    locale = locale or current_locale()
    return "-".join(p for p in (locale.language, locale.territory) if p)


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


@cache
def _date_pattern(locale: Locale, name: str) -> str:
    skeleton, wide = _DATES[name]
    if wide is None:
        return skeleton
    pattern = locale.datetime_skeletons[skeleton].pattern
    if wide:  # as ICU widens a skeleton's fields: "E d MMM" -> "EEEE d MMMM"
        pattern = re.sub(r"(?<![EL'])E{1,3}(?!E)", "EEEE", pattern)
        pattern = re.sub(r"(?<![ML'])M{3}(?!M)", "MMMM", pattern)
    return pattern


@cache
def _time_pattern(locale: Locale, clock: str) -> str:
    if clock == "24":
        return locale.datetime_skeletons["Hm"].pattern
    if clock == "12":
        return locale.datetime_skeletons["hm"].pattern
    return locale.time_formats["short"].pattern


def _in_zone(value: datetime, timezone: str | None) -> tuple[datetime, bool]:
    """The value in the zone, and False where the zone's offset would overflow at the ends of
    the calendar (9999-12-31 23:00 UTC in Tokyo): then the UTC time itself, marked "UTC"."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(ZoneInfo(timezone or _default_zone())), True
    except OverflowError:
        return value.astimezone(UTC), False


def _default_zone() -> str:
    if has_request_context():
        return select_timezone()
    return "UTC"


def _signed_in():
    """The signed-in person, or None (also outside a request): one look at flask-login's proxy
    for each date on a page, which shows dozens."""
    if not has_request_context():
        return None
    from flask_login import current_user

    person = current_user._get_current_object()
    return person if person is not None and person.is_authenticated else None


def _format(
    value: date | datetime | None,
    date_name: str | None,
    with_time: bool,
    timezone: str | None,
    locale: Locale | str | None,
    clock: str | None,
) -> str:
    if value is None:
        return ""
    loc = _locale(locale) if isinstance(locale, str) else (locale or current_locale())
    if clock is None or timezone is None:
        person = _signed_in()
        if clock is None:
            clock = (person.clock or "") if person is not None else ""
        if timezone is None:
            timezone = person.timezone if person is not None else "UTC"
    utc_note = ""
    if isinstance(value, datetime):
        value, in_zone = _in_zone(value, timezone)
        utc_note = "" if in_zone else " UTC"
    elif with_time:
        raise TypeError("a calendar day has no time")
    parts = []
    if date_name:
        parts.append(_apply(_date_pattern(loc, date_name), value, loc))
    if with_time:
        parts.append(_apply(_time_pattern(loc, clock), value, loc))
    if len(parts) == 2:
        text = str(loc.datetime_formats["medium"]).replace("'", "").format(parts[1], parts[0])
    else:
        text = parts[0]
    return text + utc_note


# What each CLDR field's text depends on, for the fields our patterns use: its text for a locale
# is worked out by Babel once and kept (a page of the therapist's shows about 95 dates, and
# Babel looks every name up again in the locale's data each time). Any other field goes to
# Babel every time.
_FIELD_PARTS = {
    "y": lambda v: v.year,
    "M": lambda v: v.month,
    "L": lambda v: v.month,
    "d": lambda v: v.day,
    "E": lambda v: v.weekday(),
    "h": lambda v: v.hour,
    "H": lambda v: v.hour,
    "K": lambda v: v.hour,
    "k": lambda v: v.hour,
    "m": lambda v: v.minute,
    "a": lambda v: v.hour < 12,
}
_field_texts: dict[tuple, str] = {}


class _Fields:
    """The `%(field)s` values of a Babel pattern for one date or time, as Babel's
    `DateTimeFormat` gives them, from `_field_texts` where it can."""

    __slots__ = ("value", "locale", "key")

    def __init__(self, value: date | datetime, locale: Locale) -> None:
        self.value, self.locale = value, locale
        self.key = (locale.language, locale.territory, locale.script, locale.variant)

    def __getitem__(self, name: str) -> str:
        part = _FIELD_PARTS.get(name[0])
        if part is None:
            return DateTimeFormat(self.value, self.locale)[name]
        key = (self.key, name, part(self.value))
        text = _field_texts.get(key)
        if text is None:
            text = _field_texts[key] = DateTimeFormat(self.value, self.locale)[name]
        return text


def _apply(pattern: str, value: date | datetime, locale: Locale) -> str:
    """Babel's `format_date`/`format_datetime` with a pattern, for a value already in its zone."""
    return parse_pattern(pattern).format % _Fields(value, locale)


def _named(date_name: str | None, with_time: bool):
    def formatter(value, timezone=None, *, locale=None, clock=None) -> str:
        return _format(value, date_name, with_time, timezone, locale, clock)

    formatter.__name__ = "_".join(filter(None, (date_name, "time" if with_time else None)))
    formatter.__doc__ = f"A date or time as `{formatter.__name__}` (see the module's table)."
    return formatter


day = _named("day", False)
long_date = _named("long_date", False)
short_day = _named("short_day", False)
short_date = _named("short_date", False)
date_ = _named("date", False)  # `date` is the type; the filter is named "date"
month_day = _named("month_day", False)
weekday = _named("weekday", False)
time = _named(None, True)
day_time = _named("day", True)
long_date_time = _named("long_date", True)
short_day_time = _named("short_day", True)
short_date_time = _named("short_date", True)
date_time = _named("date", True)

FORMATS = {
    "day": day,
    "long_date": long_date,
    "short_day": short_day,
    "short_date": short_date,
    "date": date_,
    "month_day": month_day,
    "weekday": weekday,
    "time": time,
    "day_time": day_time,
    "long_date_time": long_date_time,
    "short_day_time": short_day_time,
    "short_date_time": short_date_time,
    "date_time": date_time,
}


def time_range(
    start: datetime, end: datetime, timezone=None, *, date_format="day", locale=None, clock=None
) -> str:
    """A session's time: "Saturday 28 November, 20:45–21:45" (the end's day too when it falls
    on another day). `date_format` is one of the date names, or None for the times alone."""
    if date_format is None:
        first = time(start, timezone, locale=locale, clock=clock)
    else:
        first = _format(start, date_format, True, timezone, locale, clock)
    other_day = _in_zone(start, timezone)[0].date() != _in_zone(end, timezone)[0].date()
    if other_day and date_format is not None:
        last = _format(end, date_format, True, timezone, locale, clock)
    else:
        last = time(end, timezone, locale=locale, clock=clock)
    return f"{first}–{last}"


def local_date(value: datetime, timezone=None) -> date:
    """The calendar day a UTC timestamp falls on in the time zone (for comparing days)."""
    return _in_zone(value, timezone)[0].date()


def ago(then: datetime, now: datetime, timezone=None, *, locale=None) -> str:
    """When something happened, in words ("2 hours ago", "yesterday"). Days are counted by the
    person's calendar: last night at 23:00 is "yesterday" at 8 in the morning."""
    loc = _locale(locale) if isinstance(locale, str) else (locale or current_locale())
    elapsed = now - then
    if elapsed < timedelta(minutes=1):
        return "just now"
    days = (_in_zone(now, timezone)[0].date() - _in_zone(then, timezone)[0].date()).days
    if days == 1 and elapsed >= timedelta(hours=6):
        return "yesterday"
    if 1 < days < 7:
        return format_timedelta(timedelta(days=-days), threshold=1, add_direction=True, locale=loc)
    return format_timedelta(-elapsed, threshold=1, add_direction=True, locale=loc)


def init_app(app: Flask) -> None:
    """Flask-Babel with our selectors, the named formats as filters, and `html_lang`."""
    from flask_babel import Babel

    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    for name, formatter in FORMATS.items():
        app.add_template_filter(formatter, name)
    app.add_template_filter(time_range, "time_range")
    app.add_template_filter(local_date, "local_date")
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["current_clock"] = current_clock
