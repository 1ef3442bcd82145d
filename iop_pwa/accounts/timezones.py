"""Time zones as people pick them: a short list by region with names people know ("New York
(Eastern)"), then every other zone of the tz database under "Other", by country.

"Other" is the tz database's own list of zones to choose from (`zone.tab`, one line per
country and zone, shipped in the pinned `tzdata` package): it has Europe/Oslo and Asia/Kolkata,
but none of the old or merely alternative names (US/Eastern, Australia/North, Asia/Calcutta).
Those old names are still real zones, so a form accepts them and stores the name they stand for.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from zoneinfo import available_timezones

from wtforms.fields.choices import Choice, SelectChoice, SelectField

COMMON: dict[str, list[tuple[str, str]]] = {
    "United States and Canada": [
        ("America/New_York", "New York (Eastern)"),
        ("America/Chicago", "Chicago (Central)"),
        ("America/Denver", "Denver (Mountain)"),
        ("America/Phoenix", "Phoenix (Arizona, no daylight saving)"),
        ("America/Los_Angeles", "Los Angeles (Pacific)"),
        ("America/Anchorage", "Anchorage (Alaska)"),
        ("Pacific/Honolulu", "Honolulu (Hawaii)"),
        ("America/Puerto_Rico", "Puerto Rico (Atlantic)"),
        ("America/Toronto", "Toronto (Eastern)"),
        ("America/Winnipeg", "Winnipeg (Central)"),
        ("America/Regina", "Regina (Saskatchewan)"),
        ("America/Edmonton", "Edmonton (Mountain)"),
        ("America/Vancouver", "Vancouver (Pacific)"),
        ("America/Halifax", "Halifax (Atlantic)"),
        ("America/St_Johns", "St. John's (Newfoundland)"),
    ],
    "Mexico, Central and South America": [
        ("America/Mexico_City", "Mexico City (Mexico)"),
        ("America/Bogota", "Bogotá (Colombia)"),
        ("America/Lima", "Lima (Peru)"),
        ("America/Santiago", "Santiago (Chile)"),
        ("America/Sao_Paulo", "São Paulo (Brazil)"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires (Argentina)"),
    ],
    "UK and Ireland": [
        ("Europe/London", "London (UK)"),
        ("Europe/Dublin", "Dublin (Ireland)"),
    ],
    "Europe": [
        ("Europe/Lisbon", "Lisbon (Portugal)"),
        ("Europe/Madrid", "Madrid (Spain)"),
        ("Europe/Paris", "Paris (France)"),
        ("Europe/Brussels", "Brussels (Belgium)"),
        ("Europe/Amsterdam", "Amsterdam (Netherlands)"),
        ("Europe/Berlin", "Berlin (Germany)"),
        ("Europe/Zurich", "Zurich (Switzerland)"),
        ("Europe/Rome", "Rome (Italy)"),
        ("Europe/Vienna", "Vienna (Austria)"),
        ("Europe/Prague", "Prague (Czechia)"),
        ("Europe/Warsaw", "Warsaw (Poland)"),
        ("Europe/Copenhagen", "Copenhagen (Denmark)"),
        ("Europe/Oslo", "Oslo (Norway)"),
        ("Europe/Stockholm", "Stockholm (Sweden)"),
        ("Europe/Helsinki", "Helsinki (Finland)"),
        ("Europe/Athens", "Athens (Greece)"),
        ("Europe/Bucharest", "Bucharest (Romania)"),
        ("Europe/Kyiv", "Kyiv (Ukraine)"),
        ("Europe/Istanbul", "Istanbul (Türkiye)"),
    ],
    "Africa and the Middle East": [
        ("Africa/Lagos", "Lagos (Nigeria)"),
        ("Africa/Johannesburg", "Johannesburg (South Africa)"),
        ("Africa/Cairo", "Cairo (Egypt)"),
        ("Africa/Nairobi", "Nairobi (Kenya)"),
        ("Asia/Jerusalem", "Jerusalem (Israel)"),
        ("Asia/Dubai", "Dubai (United Arab Emirates)"),
    ],
    "Asia": [
        ("Asia/Karachi", "Karachi (Pakistan)"),
        ("Asia/Kolkata", "India (Kolkata)"),
        ("Asia/Dhaka", "Dhaka (Bangladesh)"),
        ("Asia/Bangkok", "Bangkok (Thailand)"),
        ("Asia/Singapore", "Singapore"),
        ("Asia/Manila", "Manila (Philippines)"),
        ("Asia/Hong_Kong", "Hong Kong"),
        ("Asia/Shanghai", "China (Shanghai)"),
        ("Asia/Seoul", "Seoul (South Korea)"),
        ("Asia/Tokyo", "Tokyo (Japan)"),
    ],
    "Australia and New Zealand": [
        ("Australia/Perth", "Perth (Western Australia)"),
        ("Australia/Darwin", "Darwin (Northern Territory)"),
        ("Australia/Adelaide", "Adelaide (South Australia)"),
        ("Australia/Brisbane", "Brisbane (Queensland)"),
        ("Australia/Sydney", "Sydney (New South Wales)"),
        ("Australia/Melbourne", "Melbourne (Victoria)"),
        ("Australia/Hobart", "Hobart (Tasmania)"),
        ("Pacific/Auckland", "Auckland (New Zealand)"),
    ],
}
OTHER = "Other"


def _tz_file(name: str) -> list[list[str]]:
    """The tab-separated rows of one of tzdata's tables, comments left out."""
    text = resources.files("tzdata.zoneinfo").joinpath(name).read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


@cache
def _zone_table() -> dict[str, str]:
    """Every zone to choose from (zone.tab) and its country's name, if this server knows it."""
    countries = {row[0]: row[1] for row in _tz_file("iso3166.tab")}
    known = available_timezones()
    rows = _tz_file("zone.tab")
    return {row[2]: countries.get(row[0], row[0]) for row in rows if row[2] in known}


@cache
def _links() -> dict[str, str]:
    """Old and alternative names (tzdata's "L target name" lines) and the zone each stands for."""
    text = resources.files("tzdata.zoneinfo").joinpath("tzdata.zi").read_text(encoding="utf-8")
    return {
        parts[2]: parts[1]
        for parts in (line.split() for line in text.splitlines() if line.startswith("L "))
    }


def _other_label(zone: str, country: str) -> str:
    """'Norway: Oslo', 'United States: Indiana / Marengo': the region (Europe...) left out."""
    parts = [part.replace("_", " ") for part in zone.split("/")[1:]]
    if len(parts) > 1 and parts[0] == country:
        parts = parts[1:]  # America/Argentina/Cordoba: "Argentina: Cordoba"
    return f"{country}: {' / '.join(parts)}"


@cache
def choices() -> tuple[SelectChoice, ...]:
    """The common zones by region, then every other one, by country, under "Other"."""
    common = [
        SelectChoice(zone, label, optgroup=region)
        for region, zones in COMMON.items()
        for zone, label in zones
    ]
    listed = {c.value for c in common}
    other = sorted(
        (
            SelectChoice(zone, _other_label(zone, country), optgroup=OTHER)
            for zone, country in _zone_table().items()
            if zone not in listed
        ),
        key=lambda c: c.label.casefold(),
    )
    return (*common, *other)


@cache
def labels() -> dict[str, str]:
    return {c.value: c.label for c in choices()}


def canonical(zone: str) -> str:
    """The listed name for an old or alternative one (US/Eastern: America/New_York); a listed or
    unknown name is returned as it is."""
    if zone in labels():
        return zone
    target = _links().get(zone)
    return target if target in labels() else zone


def label(zone: str) -> str:
    """A readable name for any zone: its label in the list, else its own name."""
    return labels().get(zone) or zone.replace("_", " ").replace("/", " / ")


class KnownTimezone:
    """Only IANA zone names this server knows (what `zoneinfo` can compute local dates with):
    the listed ones and every other real name, old ones included."""

    def __call__(self, form, field):
        from wtforms.validators import ValidationError

        if field.data not in available_timezones():
            raise ValidationError("Choose a time zone from the list.")


class TimezoneField(SelectField):
    """A time zone select: the common zones by region, then "Other". A zone that is in neither
    (an old name someone already has) is shown first, so that saving the form never changes it
    behind their back; an old name sent in is stored as the name it stands for."""

    def __init__(self, label: str = "Time zone", validators=None, **kwargs):
        super().__init__(
            label,
            validators=validators or [KnownTimezone()],
            choices=list(choices()),
            validate_choice=False,  # KnownTimezone: any real zone, listed or not
            **kwargs,
        )

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if isinstance(self.data, str):
            self.data = canonical(self.data)

    def iter_groups(self):
        if self.data and self.data not in labels():
            yield ("Your time zone", [Choice(self.data, label(self.data), True, None)])
        yield from super().iter_groups()
