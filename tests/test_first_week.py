"""A participant's and a therapist's first week (issue 11): a newcomer's practice, adherence and
sessions start on the day they joined, in their zone; the therapist sees mood check-ins (never a
private entry's mood) and a participant's upcoming sessions; a session's page says who it is for.
Time is frozen at named moments."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlmodel import func, select

from iop_pwa.accounts.models import Group, User
from iop_pwa.db import session_scope
from iop_pwa.journal import services as journal
from iop_pwa.practice import library
from iop_pwa.practice.models import Assignment, Exercise
from iop_pwa.practice.services import Assigned, missed_days, streak, summaries, this_week
from iop_pwa.therapy import services as therapy
from iop_pwa.therapy.models import Attendance, TherapySession
from tests.helpers import schedule_session, signed_in

# Everyone in `people` joined on Monday 2 February 2026, before every moment below.
JOINED = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
# 22:30 on Wednesday 4 March in New York, already Thursday 5 March in UTC.
WEDNESDAY_LATE_NY = datetime(2026, 3, 5, 3, 30, tzinfo=UTC)
# 12:00 on Wednesday 4 March in New York.
WEDNESDAY_NOON_NY = datetime(2026, 3, 4, 17, 0, tzinfo=UTC)


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


@pytest.fixture
def breathing(app, db) -> Exercise:
    with app.app_context(), session_scope() as session:
        library.sync_builtin_exercises(session)
    return db.exec(select(Exercise).where(Exercise.slug == "box-breathing")).one()


def group_id(db) -> str:
    return str(db.exec(select(Group).where(Group.name == "Evening")).one().id)


def assign_to_group(client, exercise_id, group, start):
    return client.post_form(
        f"/dashboard/library/{exercise_id}/assign",
        {
            "participant": "",
            "group": group,
            "schedule": "daily",
            "start_date": start,
            "end_date": "",
            "note": "",
            "reminder_time": "",
        },
    )


def mark_done(client, assignment_id, day):
    return client.post_form(
        f"/practice/{assignment_id}/done", {"client_id": str(uuid.uuid4()), "day": day.isoformat()}
    )


def section(page: str, heading_id: str) -> str:
    """The part of a page in the section whose heading has this id."""
    return page.split(f'id="{heading_id}"')[1].split("</section>")[0]


# --- Practice ------------------------------------------------------------------------------------


def test_a_newcomer_is_not_behind_on_their_first_day(app, people, breathing, make_user, db):
    therapist, sam = people
    with time_machine.travel(WEDNESDAY_LATE_NY, tick=False):
        t = signed_in(app, therapist.email)
        started = assign_to_group(t, breathing.id, group_id(db), "2026-02-23")
        assert started.status_code == 303
        a = db.exec(select(Assignment)).one()
        newcomer = make_user("participant", therapist=therapist, group="Evening", name="Nell New")
        p = signed_in(app, newcomer.email)
        # Their first day is Wednesday (New York), though it is Thursday in UTC.
        assert "This week: 0 of 1 done." in p.get("/today").get_data(as_text=True)
        page = p.get(f"/practice/{a.id}").get_data(as_text=True)
        assert ">Today</option>" in page and "(late)" not in page
        before = mark_done(p, a.id, date(2026, 3, 3))
        assert before.status_code == 422
        assert "starts for you on Wednesday, March 4" in before.get_data(as_text=True)
        assert mark_done(p, a.id, date(2026, 3, 4)).status_code == 303
        record = t.get(f"/dashboard/participants/{newcomer.id}").get_data(as_text=True)
        assert section(record, "practice-heading").count("<td>1 of 1</td>") == 2

        # Sam has been in the group all along: the whole week counts, late days are offered.
        s = signed_in(app, sam.email)
        assert "This week: 0 of 3 done." in s.get("/today").get_data(as_text=True)
        assert "Tuesday, March 3 (late)" in s.get(f"/practice/{a.id}").get_data(as_text=True)
        record = t.get(f"/dashboard/participants/{sam.id}").get_data(as_text=True)
        assert "<td>0 of 7</td>" in section(record, "practice-heading")


def test_week_streak_late_days_and_adherence_count_from_a_persons_own_start():
    a = Assignment(
        id=1, exercise_id=1, therapist_id=1, group_id=1, start_date=date(2026, 2, 1)
    )  # daily
    today = date(2026, 3, 4)  # a Wednesday
    mine = [Assigned(a, None, today - timedelta(days=1))]  # joined on Tuesday
    done = {(1, today - timedelta(days=1)): True}
    assert (this_week(mine, done, today).due, this_week(mine, done, today).done) == (2, 1)
    assert missed_days(mine[0], {}, today) == [today - timedelta(days=1)]
    assert streak(mine, done, today) == 1
    [summary] = summaries(mine, done, today)
    assert (summary.due_7, summary.done_7, summary.due_28) == (2, 1, 2)
    # The same assignment for someone there from its start: every day counts.
    theirs = [Assigned(a, None, a.start_date)]
    assert this_week(theirs, {}, today).due == 3
    assert summaries(theirs, {}, today)[0].due_28 == 28


# --- Sessions ------------------------------------------------------------------------------------


def test_a_groups_sessions_are_a_members_from_the_day_they_joined(app, people, make_user, db):
    therapist, sam = people
    with time_machine.travel(WEDNESDAY_NOON_NY, tick=False):
        t = signed_in(app, therapist.email)
        gid = group_id(db)
        past = {"already_happened": "y"}  # before Wednesday noon: recorded, not scheduled
        schedule_session(t, kind="group", group=gid, title="Monday group", day="2026-03-02", **past)
        schedule_session(
            t, kind="group", group=gid, title="Morning group", day="2026-03-04", at="09:00", **past
        )
        schedule_session(
            t, kind="group", group=gid, title="Thursday group", day="2026-03-05", at="18:00"
        )
        ids = {s.title: s.id for s in db.exec(select(TherapySession))}
        newcomer = make_user("participant", therapist=therapist, group="Evening", name="Nell New")

        monday = t.get(f"/dashboard/sessions/{ids['Monday group']}").get_data(as_text=True)
        assert f'name="attendance-{sam.id}"' in monday
        assert f'name="attendance-{newcomer.id}"' not in monday
        # The day they joined counts whole: the morning's session is theirs.
        morning = t.get(f"/dashboard/sessions/{ids['Morning group']}").get_data(as_text=True)
        assert f'name="attendance-{newcomer.id}"' in morning
        refused = t.post_form(
            f"/dashboard/sessions/{ids['Monday group']}/attendance",
            {f"attendance-{newcomer.id}": "missed"},
        )
        assert refused.status_code == 400
        assert db.exec(select(func.count()).select_from(Attendance)).one() == 0
        with app.app_context(), session_scope() as session:
            with pytest.raises(therapy.SessionError, match="only for the people"):
                therapy.mark_attendance(
                    session,
                    session=session.get(TherapySession, ids["Monday group"]),
                    participant_id=newcomer.id,
                    status="missed",
                    by=session.get(User, therapist.id),
                )

        own = signed_in(app, newcomer.email).get("/sessions").get_data(as_text=True)
        assert "Morning group" in own and "Thursday group" in own and "Monday group" not in own
        record = t.get(f"/dashboard/participants/{newcomer.id}").get_data(as_text=True)
        sessions = section(record, "attendance-heading")
        assert "Monday group" not in sessions
        upcoming, past = sessions.split('id="past-sessions-heading"')
        assert "Thursday group" in upcoming and "Morning group" in past
        assert "Monday group" in signed_in(app, sam.email).get("/sessions").get_data(as_text=True)


def test_participant_page_shows_next_sessions_then_past_ones_limited_in_sql(
    app, people, db, count_queries
):
    therapist, sam = people
    with time_machine.travel(WEDNESDAY_NOON_NY, tick=False):
        t = signed_in(app, therapist.email)
        path = f"/dashboard/participants/{sam.id}"
        recorded = {"already_happened": "y"}  # starts before Wednesday noon
        schedule_session(t, participant=str(sam.id), title="Long ago", day="2025-12-01", **recorded)
        schedule_session(t, participant=str(sam.id), title="Tomorrow", day="2026-03-05")
        counts = []
        t.get(path)
        with count_queries() as queries:
            page = t.get(path).get_data(as_text=True)
        counts.append(len(queries))
        upcoming, past = section(page, "attendance-heading").split('id="past-sessions-heading"')
        assert "Tomorrow" in upcoming and "Long ago" in past
        tomorrow = db.exec(select(TherapySession).where(TherapySession.title == "Tomorrow")).one()
        assert f'href="/dashboard/sessions/{tomorrow.id}"' in upcoming

        # Twelve weeks recorded (they happened), then fourteen ahead from tonight.
        schedule_session(
            t,
            participant=str(sam.id),
            title="Weekly",
            day="2025-12-10",
            repeat_weeks="12",
            **recorded,
        )
        schedule_session(
            t, participant=str(sam.id), title="Weekly", day="2026-03-04", repeat_weeks="14"
        )
        t.get(path)
        with count_queries() as queries:
            page = t.get(path).get_data(as_text=True)
        counts.append(len(queries))
        upcoming, past = section(page, "attendance-heading").split('id="past-sessions-heading"')
        assert upcoming.count("<li>") == 5 and past.count("<li>") == 10
        # Soonest first: tonight's weekly session (Wednesday 18:00), then tomorrow's.
        titles = re.findall(r'/dashboard/sessions/\d+">([^<]+)</a>', upcoming)
        assert titles == ["Weekly", "Tomorrow", "Weekly", "Weekly", "Weekly"]
        assert "Long ago" not in past  # the ten latest only
    assert counts[0] == counts[1], counts


def test_a_sessions_page_says_who_it_is_for(app, people, make_user, db):
    therapist, sam = people
    with time_machine.travel(JOINED, tick=False):
        other = make_user(
            "participant", email="jo@example.test", name="Jo Other", group="Evening"
        )  # in the group, not on this therapist's caseload
    with time_machine.travel(WEDNESDAY_NOON_NY, tick=False):
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id), title="Just Sam")
        schedule_session(t, kind="group", group=group_id(db), title="Evening meets")
        ids = {s.title: s.id for s in db.exec(select(TherapySession))}

        alone = t.get(f"/dashboard/sessions/{ids['Just Sam']}").get_data(as_text=True)
        assert f'For <a href="/dashboard/participants/{sam.id}">Sam Rivera</a>.' in alone
        group = t.get(f"/dashboard/sessions/{ids['Evening meets']}").get_data(as_text=True)
        assert "For the group <strong>Evening</strong>: " in group
        assert f'<a href="/dashboard/participants/{sam.id}">Sam Rivera</a>' in group
        assert "Jo Other" in group and f"/dashboard/participants/{other.id}" not in group

        p = signed_in(app, sam.email)
        own = p.get(f"/sessions/{ids['Just Sam']}").get_data(as_text=True)
        assert "With your care team" in own
        theirs = p.get(f"/sessions/{ids['Evening meets']}").get_data(as_text=True)
        assert "With your group, Evening" in theirs
        assert "Jo Other" not in theirs and "jo@example.test" not in theirs


# --- Mood check-ins -------------------------------------------------------------------------------


def test_the_care_team_sees_mood_check_ins_but_never_a_private_entrys_mood(app, people, db):
    therapist, sam = people
    with app.app_context(), session_scope() as session:
        person = session.get(User, sam.id)
        for days_ago, kind, mood, body, shared, words in [
            (3, "checkin", 2, "", False, "wobbly"),
            (2, "entry", 5, "Private thoughts", False, ""),
            (1, "entry", 4, "For my therapist", True, ""),
        ]:
            journal.save_entry(
                session,
                user=person,
                client_id=str(uuid.uuid4()),
                kind=kind,
                mood=mood,
                own_words=words,
                body=body,
                shared=shared,
                written_at=WEDNESDAY_NOON_NY - timedelta(days=days_ago),
            )
    with time_machine.travel(WEDNESDAY_NOON_NY, tick=False):
        page = signed_in(app, therapist.email).get(f"/dashboard/participants/{sam.id}")
    text = page.get_data(as_text=True)
    mood = section(text, "mood-heading")
    assert "checked in on 2 of the last 30 days" in mood
    assert "Average mood 3.0 (Okay)" in mood  # 2 and 4; the private 5 is not counted
    assert "<td>Sun, Mar 1</td><td>2 (Low)</td>" in mood
    assert "<td>Tue, Mar 3</td><td>4 (Good)</td>" in mood
    assert "Mon, Mar 2" not in mood and "(Very good)</td>" not in mood
    assert '<svg class="mood-chart"' in mood and "<title" in mood
    assert "wobbly" not in text and "Private thoughts" not in text


def test_the_privacy_notice_and_the_check_in_say_what_the_care_team_sees(app, people):
    therapist, sam = people
    p = signed_in(app, sam.email)
    notice = p.get("/privacy").get_data(as_text=True)
    assert "the mood you choose in each mood check-in" in notice
    assert "What your care team sees" in notice and "What stays private" in notice
    today = p.get("/today").get_data(as_text=True)
    assert "Your care team sees the mood you choose here." in today
