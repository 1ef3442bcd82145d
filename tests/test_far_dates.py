"""Dates far away: every form refuses them with a clear 422 and saves nothing, and a far date that
is already in the database never breaks anyone's pages (the ends of the calendar overflow when
moved into a time zone)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from iop_pwa.practice.models import Assignment, Completion, Exercise
from iop_pwa.therapy.models import TherapySession
from tests.helpers import signed_in

FAR = "9999-12-31"


def window_message() -> str:
    """What the forms say: one year back to two years ahead of today (UTC), in the default
    locale (en_US: "Nov 29, 2025")."""
    today = datetime.now(UTC).date()
    day = min(today.day, 28) if (today.month, today.day) == (2, 29) else today.day
    first = today.replace(year=today.year - 1, day=day)
    last = today.replace(year=today.year + 2, day=day)
    return f"Choose a date between {first:%b %-d, %Y} and {last:%b %-d, %Y}."


@pytest.fixture
def people(make_user):
    therapist = make_user("therapist", email="t@example.test", timezone="Asia/Tokyo")
    sam = make_user(
        "participant", email="sam@example.test", therapist=therapist, timezone="Asia/Tokyo"
    )
    return therapist, sam


@pytest.fixture
def exercise(db, people) -> Exercise:
    therapist, _ = people
    ex = Exercise(
        owner_id=therapist.id,
        title="Own exercise",
        skill="empathy",
        why="Why. Because.",
        steps="1. Do it.",
        questions="How was it?",
    )
    db.add(ex)
    db.commit()
    return ex


def assignment(db, people, exercise, **fields) -> Assignment:
    therapist, sam = people
    a = Assignment(
        exercise_id=exercise.id,
        therapist_id=therapist.id,
        participant_id=sam.id,
        schedule="daily",
        start_date=datetime.now(ZoneInfo("Asia/Tokyo")).date(),
        **fields,
    )
    db.add(a)
    db.commit()
    return a


def session_form(**fields) -> dict:
    return {
        "kind": "individual",
        "title": "Check-in",
        "day": (date.today() + timedelta(days=3)).isoformat(),
        "at": "23:30",
        "duration_minutes": "60",
        "video_url": "https://zoom.us/j/123",
        "group": "",
        "repeat_weeks": "1",
        **fields,
    }


def refused(response) -> bool:
    return response.status_code == 422 and window_message() in response.get_data(as_text=True)


@pytest.mark.parametrize("day", [FAR, "0001-01-01"])
def test_scheduling_a_far_date_is_refused_and_nothing_is_saved(app, people, db, day):
    therapist, sam = people
    t = signed_in(app, therapist.email)
    response = t.post_form("/dashboard/sessions/new", session_form(participant=sam.id, day=day))
    assert refused(response)
    assert db.exec(select(TherapySession)).all() == []


def test_moving_a_session_to_a_far_date_is_refused_and_it_stays(app, people, db):
    therapist, sam = people
    t = signed_in(app, therapist.email)
    assert t.post_form("/dashboard/sessions/new", session_form(participant=sam.id)).status_code
    s = db.exec(select(TherapySession)).one()
    fields = session_form(day=FAR)
    response = t.post_form(f"/dashboard/sessions/{s.id}", fields)
    assert refused(response)
    assert db.get(TherapySession, s.id).starts_at == s.starts_at


@pytest.mark.parametrize("field", ["start_date", "end_date"])
def test_assigning_with_a_far_date_is_refused_and_nothing_is_saved(
    app, people, exercise, db, field
):
    therapist, sam = people
    t = signed_in(app, therapist.email)
    data = {
        "participant": str(sam.id),
        "group": "",
        "schedule": "daily",
        "start_date": date.today().isoformat(),
        "end_date": "",
        field: FAR,
    }
    response = t.post_form(f"/dashboard/library/{exercise.id}/assign", data)
    assert refused(response)
    assert db.exec(select(Assignment)).all() == []


def test_editing_an_assignment_refuses_a_far_date_but_keeps_an_old_start(app, people, exercise, db):
    therapist, _ = people
    long_ago = date.today() - timedelta(days=500)  # outside the window, but already stored
    a = assignment(db, people, exercise)
    a.start_date = long_ago
    db.add(a)
    db.commit()
    t = signed_in(app, therapist.email)
    fields = {"schedule": "daily", "start_date": long_ago.isoformat(), "end_date": FAR}
    assert refused(t.post_form(f"/dashboard/assignments/{a.id}", fields))
    assert db.get(Assignment, a.id).end_date is None
    fields["end_date"], fields["note"] = "", "Keep going."
    assert t.post_form(f"/dashboard/assignments/{a.id}", fields).status_code == 303
    assert (db.get(Assignment, a.id).start_date, db.get(Assignment, a.id).note) == (
        long_ago,
        "Keep going.",
    )


def test_marking_done_for_a_far_day_is_refused_and_nothing_is_saved(app, people, exercise, db):
    _, sam = people
    a = assignment(db, people, exercise)
    p = signed_in(app, sam.email)
    fields = {"client_id": str(uuid.uuid4()), "day": FAR}
    assert refused(p.post_form(f"/practice/{a.id}/done", fields))
    assert db.exec(select(Completion)).all() == []


def test_a_far_device_time_is_not_believed(app, people, db):
    """Device times are never refused (an item written offline must not be stranded): outside
    the last 30 days they are replaced by the server's time, as before."""
    from iop_pwa.journal.models import JournalEntry

    _, sam = people
    p = signed_in(app, sam.email)
    fields = {"client_id": str(uuid.uuid4()), "body": "Hi", "written_at": f"{FAR}T23:59:59-14:00"}
    assert p.post_form("/journal", fields).status_code == 303
    entry = db.exec(select(JournalEntry)).one()
    assert abs(entry.written_at - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize(
    "starts_at",
    [
        datetime(9999, 12, 31, 23, 0, tzinfo=UTC),  # Tokyo: already year 10000
        datetime(1, 1, 1, 0, 0, tzinfo=UTC),  # New York: year 0
    ],
)
@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_a_far_date_already_stored_breaks_no_page(app, people, exercise, db, starts_at, zone):
    therapist, sam = people
    for person in (therapist, sam):
        person.timezone = zone
        db.add(person)
    s = TherapySession(
        therapist_id=therapist.id,
        kind="individual",
        title="Far away",
        starts_at=starts_at,
        duration_minutes=480,
        video_url="https://zoom.us/j/1",
        participant_id=sam.id,
    )
    db.add(s)
    db.commit()
    far_day = starts_at.date()
    a = assignment(db, people, exercise, end_date=far_day)
    a.start_date = far_day
    db.add(a)
    db.commit()

    p = signed_in(app, sam.email)
    p.post_form("/account/calendar", {"include_links": "y"})
    feed = re.search(
        r'id="feed-link"[^>]*value="https?://[^/]+([^"]+)"',
        p.get("/account").get_data(as_text=True),
    ).group(1)
    participant_pages = [
        "/today",
        "/sessions",
        f"/sessions/{s.id}",
        f"/sessions/{s.id}/join",
        f"/sessions/{s.id}.ics",
        "/practice",
        f"/practice/{a.id}",
    ]
    for path in participant_pages:
        assert p.get(path).status_code in (200, 286), path
        assert p.get(path, headers={"HX-Request": "true"}).status_code in (200, 286), path
    assert app.test_client().get(feed).status_code == 200

    t = signed_in(app, therapist.email)
    for path in [
        "/dashboard",
        "/dashboard/sessions",
        f"/dashboard/sessions/{s.id}",
        f"/dashboard/participants/{sam.id}",
        f"/dashboard/assignments/{a.id}",
    ]:
        assert t.get(path).status_code == 200, path
