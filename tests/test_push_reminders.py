"""Reminders from the features' `ReminderSource`s: the daily practice reminder and session
reminders, in each person's time zone across both daylight-saving changes, with quiet hours.
Push never imports practice or therapy: they register what is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlmodel import delete, select

from iop_pwa.accounts.models import GroupMembership, User
from iop_pwa.db import session_scope, utcnow
from iop_pwa.practice.models import Assignment, Completion, Exercise
from iop_pwa.push import delivery, preferences
from iop_pwa.push.models import Delivery
from tests.test_push import add_device

# Named moments (UTC). New York is UTC-5 in winter, UTC-4 in summer.
SUNDAY_1759_NY = datetime(2026, 11, 29, 22, 59, tzinfo=UTC)
SUNDAY_1800_NY = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
SPRING_FORWARD = date(2026, 3, 8)  # 02:00 EST becomes 03:00 EDT
FALL_BACK = date(2026, 11, 1)  # 02:00 EDT becomes 01:00 EST: 01:00-02:00 happens twice


def queue_at(app, now: datetime) -> list[Delivery]:
    with app.app_context(), session_scope() as db:
        delivery.queue(db, now)
    with app.app_context(), session_scope() as db:
        return list(db.exec(select(Delivery).order_by(Delivery.id)))


def choose(app, person, **values) -> None:
    with app.app_context(), session_scope() as db:
        preferences.save(db, user=db.get(User, person.id), **values)


@dataclass
class Practising:
    id: int
    user: User
    assignment_id: int


@pytest.fixture
def practising(app, make_user):
    """A participant in New York with a daily exercise since the start of 2026."""
    person = make_user("participant", timezone="America/New_York")
    therapist = make_user("therapist")
    with app.app_context(), session_scope() as db:
        exercise = Exercise(title="Breathing", skill="stress", why="W", steps="1. Do.")
        db.add(exercise)
        db.flush()
        assignment = Assignment(
            exercise_id=exercise.id,
            therapist_id=therapist.id,
            participant_id=person.id,
            start_date=date(2026, 1, 1),
        )
        db.add(assignment)
        db.flush()
        return Practising(person.id, person, assignment.id)


def test_the_daily_reminder_comes_at_the_persons_time_once(app, practising, fakepush):
    add_device(app, practising, fakepush, "phone")
    assert queue_at(app, SUNDAY_1759_NY) == []
    [row] = queue_at(app, SUNDAY_1800_NY)
    assert row.key == "practice:2026-11-29T18:00" and row.category == "practice"
    assert row.due_at == SUNDAY_1800_NY and row.topic == "practice-daily"
    assert len(queue_at(app, SUNDAY_1800_NY + timedelta(minutes=5))) == 1
    with app.app_context(), session_scope() as db:
        assert delivery.send(db, SUNDAY_1800_NY) == 1
    [got] = fakepush.for_("phone")
    assert got.payload["url"] == "/practice" and got.payload["body"] == "You have a new reminder"
    assert got.headers["topic"] == "practice-daily" and got.headers["urgency"] == "normal"
    assert "Breathing" not in str(got.payload)


def test_no_daily_reminder_when_the_days_practice_is_done(app, practising, db):
    db.add(
        Completion(
            assignment_id=practising.assignment_id,
            participant_id=practising.id,
            client_id="c1",
            local_date=date(2026, 11, 29),
            done_at=SUNDAY_1759_NY,
        )
    )
    db.commit()
    assert queue_at(app, SUNDAY_1800_NY) == []
    # The next day it is due again.
    [row] = queue_at(app, SUNDAY_1800_NY + timedelta(days=1))
    assert row.key == "practice:2026-11-30T18:00"


def test_an_assignments_own_time_and_the_persons_own_time(app, practising, db):
    choose(app, practising, daily_time=time(7, 30))
    assert [r.key for r in queue_at(app, datetime(2026, 11, 30, 12, 30, tzinfo=UTC))] == [
        "practice:2026-11-30T07:30"
    ]
    assignment = db.get(Assignment, practising.assignment_id)
    assignment.reminder_time = time(20, 15)
    db.add(assignment)
    db.commit()
    assert len(queue_at(app, datetime(2026, 12, 1, 12, 30, tzinfo=UTC))) == 1  # no 07:30 now
    keys = [r.key for r in queue_at(app, datetime(2026, 12, 2, 1, 15, tzinfo=UTC))]
    assert keys[-1] == "practice:2026-12-01T20:15"


def test_nothing_when_daily_reminders_are_off_or_nothing_is_due(app, practising, db):
    choose(app, practising, daily_practice=False)
    assert queue_at(app, SUNDAY_1800_NY) == []
    choose(app, practising, daily_practice=True)
    assignment = db.get(Assignment, practising.assignment_id)
    assignment.end_date = date(2026, 11, 28)
    db.add(assignment)
    db.commit()
    assert queue_at(app, SUNDAY_1800_NY) == []


@pytest.mark.parametrize(
    ("day", "utc"),
    [
        (SPRING_FORWARD - timedelta(days=1), datetime(2026, 3, 7, 23, 0, tzinfo=UTC)),  # EST
        (SPRING_FORWARD, datetime(2026, 3, 8, 22, 0, tzinfo=UTC)),  # EDT from this day
        (FALL_BACK - timedelta(days=1), datetime(2026, 10, 31, 22, 0, tzinfo=UTC)),  # EDT
        (FALL_BACK, datetime(2026, 11, 1, 23, 0, tzinfo=UTC)),  # EST from this day
    ],
)
def test_six_in_the_evening_stays_six_across_both_clock_changes(app, practising, day, utc):
    assert queue_at(app, utc - timedelta(minutes=1) - delivery.REMINDER_GRACE) == []
    [row] = queue_at(app, utc)
    assert row.key == f"practice:{day.isoformat()}T18:00" and row.due_at == utc


def test_a_time_in_the_spring_gap_comes_when_the_clock_jumps(app, practising):
    choose(app, practising, daily_time=time(2, 30))  # 02:30 does not exist on 8 March
    assert queue_at(app, datetime(2026, 3, 8, 7, 29, tzinfo=UTC)) == []
    [row] = queue_at(app, datetime(2026, 3, 8, 7, 30, tzinfo=UTC))  # 03:30 EDT
    assert row.key == "practice:2026-03-08T02:30"


def test_a_time_in_the_repeated_autumn_hour_comes_once(app, practising):
    choose(app, practising, daily_time=time(1, 30))  # 01:30 happens twice on 1 November
    [row] = queue_at(app, datetime(2026, 11, 1, 5, 30, tzinfo=UTC))  # the first: 01:30 EDT
    assert row.key == "practice:2026-11-01T01:30"
    assert len(queue_at(app, datetime(2026, 11, 1, 6, 30, tzinfo=UTC))) == 1  # 01:30 EST: no


def test_quiet_hours_hold_a_reminder_until_they_end(app, practising, fakepush, db):
    add_device(app, practising, fakepush, "phone")
    choose(app, practising, quiet_start=time(17, 0), quiet_end=time(19, 0))
    [row] = queue_at(app, SUNDAY_1800_NY)
    assert row.due_at == SUNDAY_1800_NY + timedelta(hours=1)
    with app.app_context(), session_scope() as s:
        assert delivery.send(s, SUNDAY_1800_NY) == 0
    with app.app_context(), session_scope() as s:
        assert delivery.send(s, row.due_at) == 1


def test_quiet_hours_over_midnight():
    pref = preferences.ReminderPreference(user_id=1, quiet_start=time(22), quiet_end=time(7))
    assert preferences.is_quiet(pref, time(23, 30)) and preferences.is_quiet(pref, time(6, 59))
    assert not preferences.is_quiet(pref, time(7)) and not preferences.is_quiet(pref, time(21))
    late = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 23:00 in New York
    assert preferences.after_quiet_hours(pref, "America/New_York", late) == datetime(
        2026, 11, 30, 12, 0, tzinfo=UTC
    )


# --- Sessions ----------------------------------------------------------------------------------


@pytest.fixture
def group_session(app, make_user):
    """A group session three days from now with two members; returns (session id, members,
    therapist, start)."""
    from iop_pwa.therapy import services as therapy

    therapist = make_user("therapist", group="Evening group")
    stays = make_user("participant", therapist=therapist, group="Evening group")
    leaves = make_user("participant", therapist=therapist, group="Evening group")
    day = (utcnow() + timedelta(days=3)).date()
    with app.app_context(), session_scope() as db:
        from iop_pwa.accounts.models import Group

        group = db.exec(select(Group).where(Group.name == "Evening group")).one()
        [session] = therapy.schedule(
            db,
            therapist=db.get(User, therapist.id),
            kind="group",
            title="Skills group",
            day=day,
            at=time(18, 0),
            duration_minutes=60,
            video_url="https://zoom.us/j/1",
            participant=None,
            group_id=group.id,
        )
        return session.id, session.starts_at, (stays, leaves), therapist


def test_session_reminders_an_hour_and_ten_minutes_before(app, group_session, fakepush):
    session_id, starts, (stays, leaves), _ = group_session
    add_device(app, stays, fakepush, "phone")
    assert [r.key for r in queue_at(app, starts - timedelta(minutes=61))] == []
    hour = [r for r in queue_at(app, starts - timedelta(minutes=60)) if r.category == "sessions"]
    assert {r.user_id for r in hour} == {stays.id, leaves.id}
    assert all(not r.urgent and r.url == f"/sessions/{session_id}" for r in hour)
    ten = [
        r
        for r in queue_at(app, starts - timedelta(minutes=10))
        if r.category == "sessions" and r.key.endswith(":10")
    ]
    assert len(ten) == 2 and all(r.urgent for r in ten)
    with app.app_context(), session_scope() as db:
        assert delivery.send(db, starts - timedelta(minutes=10)) == 2
    urgencies = sorted(r.headers["urgency"] for r in fakepush.for_("phone"))
    assert urgencies == ["high", "normal"]
    assert {r.headers["topic"] for r in fakepush.for_("phone")} == {f"session-{session_id}"}


def test_a_moved_session_is_reminded_at_its_new_time_and_a_cancelled_one_not_at_all(
    app, group_session
):
    from iop_pwa.therapy import services as therapy
    from iop_pwa.therapy.models import TherapySession

    session_id, starts, _members, therapist = group_session
    with app.app_context(), session_scope() as db:
        session = db.get(TherapySession, session_id)
        local = session.starts_at.astimezone(__import__("zoneinfo").ZoneInfo(therapist.timezone))
        therapy.reschedule(
            db,
            session=session,
            by=db.get(User, therapist.id),
            title=session.title,
            day=local.date(),
            at=(local + timedelta(hours=2)).time(),
            duration_minutes=60,
            video_url=session.video_url,
        )
    sessions = lambda rows: [r for r in rows if r.category == "sessions"]  # noqa: E731
    assert sessions(queue_at(app, starts - timedelta(minutes=60))) == []
    moved = sessions(queue_at(app, starts + timedelta(minutes=60)))
    assert len(moved) == 2
    with app.app_context(), session_scope() as db:
        therapy.cancel(
            db, session=db.get(TherapySession, session_id), by=db.get(User, therapist.id)
        )
    assert len(sessions(queue_at(app, starts + timedelta(minutes=110)))) == 2  # no 10-minute one


def test_someone_who_left_the_group_is_not_reminded(app, group_session, db):
    _session_id, starts, (stays, leaves), _ = group_session
    db.exec(delete(GroupMembership).where(GroupMembership.user_id == leaves.id))
    db.commit()
    rows = [r for r in queue_at(app, starts - timedelta(minutes=60)) if r.category == "sessions"]
    assert [r.user_id for r in rows] == [stays.id]


def test_each_person_chooses_when_before_a_session(app, group_session):
    _session_id, starts, (stays, leaves), _ = group_session
    choose(app, stays, session_minutes="30")
    choose(app, leaves, session_reminders=False)
    assert [
        r for r in queue_at(app, starts - timedelta(minutes=60)) if r.category == "sessions"
    ] == []
    [row] = [r for r in queue_at(app, starts - timedelta(minutes=30)) if r.category == "sessions"]
    assert row.user_id == stays.id and row.key.endswith(":30")


def test_push_imports_no_feature():
    """The reminders reach push through the feature contract, never an import."""
    import ast
    from pathlib import Path

    import iop_pwa.push as push

    for path in Path(push.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("iop_pwa.practice", "iop_pwa.therapy")), path
