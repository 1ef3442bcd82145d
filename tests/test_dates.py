"""Every date and time written one way: by the browser's locale (Accept-Language) and the
person's 12/24-hour preference, in their time zone (iop_pwa/dates.py). Time is frozen at named
moments."""

from __future__ import annotations

import html
import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from iop_pwa import dates
from iop_pwa.accounts.models import User
from iop_pwa.notifications import Notification
from tests.helpers import schedule_session, signed_in

NNBSP = "\u202f"  # CLDR's narrow no-break space before AM/PM in en_US

# Saturday 28 November 2026, 20:45 UTC.
SATURDAY_EVENING = datetime(2026, 11, 28, 20, 45, tzinfo=UTC)
# Monday 2 March 2026, 09:00 in New York; DST starts there on Sunday 8 March (02:00 -> 03:00).
MONDAY_NY_9AM = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
JOINED = datetime(2026, 2, 2, 14, 0, tzinfo=UTC)

US = {"Accept-Language": "en-US,en;q=0.9"}
GB = {"Accept-Language": "en-GB,en;q=0.9"}


# --- The named formats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "us", "gb"),
    [
        ("day", "Saturday, November 28", "Saturday 28 November"),
        ("long_date", "Saturday, November 28, 2026", "Saturday, 28 November 2026"),
        ("short_day", "Sat, Nov 28", "Sat 28 Nov"),
        ("short_date", "Sat, Nov 28, 2026", "Sat, 28 Nov 2026"),
        ("date", "Nov 28, 2026", "28 Nov 2026"),
        ("month_day", "Nov 28", "28 Nov"),
        ("time", f"8:45{NNBSP}PM", "20:45"),
        ("day_time", f"Saturday, November 28, 8:45{NNBSP}PM", "Saturday 28 November, 20:45"),
        ("short_day_time", f"Sat, Nov 28, 8:45{NNBSP}PM", "Sat 28 Nov, 20:45"),
    ],
)
def test_each_named_format_follows_the_locale(name, us, gb):
    fmt = dates.FORMATS[name]
    assert fmt(SATURDAY_EVENING, "UTC", locale="en_US", clock="") == us
    assert fmt(SATURDAY_EVENING, "UTC", locale="en_GB", clock="") == gb


def test_the_clock_preference_overrides_the_locales_habit():
    assert dates.time(SATURDAY_EVENING, "UTC", locale="en_US", clock="24") == "20:45"
    assert (
        dates.time(SATURDAY_EVENING, "UTC", locale="en_GB", clock="12") == "8:45 pm"
    )  # en_GB: an ordinary space
    morning = SATURDAY_EVENING.replace(hour=8, minute=5)
    assert dates.time(morning, "UTC", locale="en_US", clock="24") == "08:05"
    assert dates.time(morning, "UTC", locale="en_GB", clock="") == "08:05"


def test_a_calendar_day_is_shown_as_it_is_and_a_timestamp_in_the_zone():
    # 20:45 UTC on Saturday is already Sunday in Tokyo; a date has no zone to move it.
    assert dates.day(SATURDAY_EVENING, "Asia/Tokyo", locale="en_GB") == "Sunday 29 November"
    assert dates.day(date(2026, 11, 28), "Asia/Tokyo", locale="en_GB") == "Saturday 28 November"
    with pytest.raises(TypeError):
        dates.day_time(date(2026, 11, 28), locale="en_GB")


def test_a_time_range_names_the_end_day_only_when_it_differs():
    end = SATURDAY_EVENING + timedelta(minutes=50)
    assert dates.time_range(SATURDAY_EVENING, end, "UTC", locale="en_GB", clock="") == (
        "Saturday 28 November, 20:45–21:35"
    )
    late = SATURDAY_EVENING + timedelta(hours=4)
    assert dates.time_range(SATURDAY_EVENING, late, "UTC", locale="en_GB", clock="") == (
        "Saturday 28 November, 20:45–Sunday 29 November, 00:45"
    )
    assert dates.time_range(
        SATURDAY_EVENING, end, "UTC", date_format=None, locale="en_US", clock="24"
    ) == ("20:45–21:35")


def test_the_end_of_the_calendar_is_shown_in_utc_and_says_so():
    far = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    assert dates.day_time(far, "Asia/Tokyo", locale="en_GB", clock="") == (
        "Friday 31 December, 23:00 UTC"
    )


@pytest.mark.parametrize(
    ("hours", "words"),
    [(0.01, "just now"), (2, "2 hours ago"), (30, "yesterday"), (80, "3 days ago")],
)
def test_ago_says_when_in_words(hours, words):
    now = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    assert dates.ago(now - timedelta(hours=hours), now, "UTC", locale="en_GB") == words


def test_a_dst_day_shows_the_local_time_on_each_side_of_the_change():
    # New York, Sunday 8 March 2026: 01:59 EST is followed by 03:00 EDT.
    before, after = datetime(2026, 3, 8, 6, 30, tzinfo=UTC), datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    zone = "America/New_York"
    assert dates.time(before, zone, locale="en_US", clock="24") == "01:30"
    assert dates.time(after, zone, locale="en_US", clock="24") == "03:30"
    # London, Sunday 25 October 2026: 01:30 happens twice (BST, then GMT).
    first, second = (
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    )
    assert dates.time(first, "Europe/London", locale="en_GB") == "01:30"
    assert dates.time(second, "Europe/London", locale="en_GB") == "01:30"


# --- Pages ---------------------------------------------------------------------------------------


@pytest.fixture
def people(make_user):
    with time_machine.travel(JOINED, tick=False):
        therapist = make_user("therapist", email="t@example.test", group="Evening")
        sam = make_user(
            "participant",
            email="sam@example.test",
            name="Sam Rivera",
            therapist=therapist,
            group="Evening",
        )
    return therapist, sam


def page_text(client, url) -> str:
    return html.unescape(client.get(url).get_data(as_text=True))


def test_the_same_page_under_en_us_and_en_gb_shows_the_two_forms(app, people):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        schedule_session(signed_in(app, therapist.email), participant=str(sam.id))
        american = page_text(signed_in(app, sam.email, US), "/sessions")
        british = page_text(signed_in(app, sam.email, GB), "/sessions")
    assert '<html lang="en-US"' in american and '<html lang="en-GB"' in british
    assert f"Thursday, March 5, 6:00{NNBSP}PM–6:50{NNBSP}PM" in american
    assert "Thursday 5 March, 18:00–18:50" in british
    assert "Thursday 5 March" not in american and "6:00 PM" not in british.replace(NNBSP, " ")


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("fr-FR,fr;q=0.9,en-GB;q=0.8", "en-GB"),  # the best supported one
        ("en-AU", "en-AU"),
        ("en-IE,en;q=0.5", "en-IE"),
        ("en", "en"),
        ("de-DE", "en-US"),  # nothing supported: the default
        ("", "en-US"),
    ],
)
def test_the_locale_is_the_best_match_of_accept_language(client, header, lang):
    page = client.get("/help", headers={"Accept-Language": header} if header else {})
    assert f'<html lang="{lang}" data-clock=""' in page.get_data(as_text=True)


def test_the_clock_is_chosen_on_account_and_changes_times_on_pages(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        schedule_session(signed_in(app, therapist.email), participant=str(sam.id))
        phone = signed_in(app, sam.email, US)
        account = page_text(phone, "/account")
        assert '<label for="clock">Clock</label>' in account
        assert f"Times are shown like this: 9:00{NNBSP}AM" in account
        assert f"6:00{NNBSP}PM" in page_text(phone, "/sessions")

        saved = phone.post_form("/account/clock", {"clock": "24"})
        assert saved.status_code == 303
        assert db.get(User, sam.id).clock == "24"
        sessions = page_text(phone, "/sessions")
        assert "Thursday, March 5, 18:00–18:50" in sessions
        assert f"{NNBSP}PM" not in sessions and f"{NNBSP}AM" not in sessions  # (not the CSRF token)
        assert 'data-clock="24"' in sessions
        assert "Times are shown like this: 09:00" in page_text(phone, "/account")
        archive = zipfile.ZipFile(io.BytesIO(phone.get("/account/my-data.zip").data))
        assert json.loads(archive.read("my-data.json"))["person"]["clock"] == "24"  # My data

        # And back to British English's habit, but with 12 hours.
        british = signed_in(app, sam.email, GB)
        assert british.post_form("/account/clock", {"clock": "12"}).status_code == 303
        assert "Thursday 5 March, 6:00 pm–6:50 pm" in page_text(british, "/sessions")

        assert british.post_form("/account/clock", {"clock": ""}).status_code == 303
        assert "Thursday 5 March, 18:00–18:50" in page_text(british, "/sessions")


def test_a_clock_that_is_not_offered_is_refused_and_the_form_needs_csrf(app, people, db):
    _, sam = people
    phone = signed_in(app, sam.email)
    refused = phone.post_form("/account/clock", {"clock": "13"})
    assert refused.status_code == 422
    assert "Not a valid choice" in refused.get_data(as_text=True)
    assert phone.post("/account/clock", data={"clock": "24"}).status_code == 400
    assert db.get(User, sam.id).clock == ""


def test_a_notification_is_written_with_the_readers_clock(app, people, db):
    therapist, sam = people
    sam_row = db.get(User, sam.id)
    sam_row.clock = "24"
    db.add(sam_row)
    db.commit()
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        schedule_session(signed_in(app, therapist.email), participant=str(sam.id))
    text = (
        db.exec(Notification.__table__.select().where(Notification.user_id == sam.id)).first().text
    )
    assert "Thursday, March 5, 18:00" in text


def test_a_session_on_the_dst_day_shows_its_local_time(app, people, db):
    """10:00 on Sunday 8 March in New York is 14:00 UTC (EDT); the day before it was 15:00."""
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id), day="2026-03-07", at="10:00", title="Saturday")
        schedule_session(t, participant=str(sam.id), day="2026-03-08", at="10:00", title="Sunday")
    # 08:00 EDT on the morning of the change.
    with time_machine.travel(datetime(2026, 3, 8, 12, 0, tzinfo=UTC), tick=False):
        sessions = page_text(signed_in(app, sam.email, US), "/sessions")
    assert '<time datetime="2026-03-08T14:00:00+00:00">' in sessions
    assert f"Sunday, March 8, 10:00{NNBSP}AM" in sessions
    assert "Sunday, March 8, 11:00" not in sessions and "Sunday, March 8, 9:00" not in sessions
