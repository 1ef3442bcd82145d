"""Practice: the library, schedules across weeks and DST, Today, mark done (once), undo, late
fill-in, streaks, group assignments, feedback and its notification, constant query counts."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import func, select

from iop_pwa.notifications import Notification
from iop_pwa.practice import library
from iop_pwa.practice.models import Assignment, Completion, Exercise, Feedback
from iop_pwa.practice.services import Assigned, streak
from tests.helpers import signed_in

# Wednesday 4 March 2026, 10:00 in New York; DST starts there on Sunday 8 March.
WEDNESDAY = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def exercises(app, db):
    from iop_pwa.db import session_scope

    with app.app_context(), session_scope() as session:
        library.sync_builtin_exercises(session)
    return {e.slug: e for e in db.exec(select(Exercise))}


# When the people below joined: before every moment the tests freeze, since a group's practice
# starts for a member on the day they joined.
JOINED = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def people(make_user):
    with time_machine.travel(JOINED, tick=False):
        therapist = make_user("therapist", email="t@example.test", group="Evening")
        sam = make_user(
            "participant", email="sam@example.test", therapist=therapist, group="Evening"
        )
    return therapist, sam


def ny_today() -> date:
    """The participants here live in New York: their "today" is New York's date."""
    return datetime.now(ZoneInfo("America/New_York")).date()


def an_exercise(exercises, skill=None) -> Exercise:
    return next(e for e in exercises.values() if skill is None or e.skill == skill)


def assign(client, exercise_id, **fields):
    data = {
        "participant": "",
        "group": "",
        "schedule": "daily",
        "start_date": "",
        "end_date": "",
        "note": "",
        "reminder_time": "",
    }
    data.update(fields)
    return client.post_form(f"/dashboard/library/{exercise_id}/assign", data)


def mark_done(client, assignment_id, day, headers=None, **fields):
    data = {"client_id": str(uuid.uuid4()), "day": day.isoformat()}
    data.update(fields)
    return client.post_form(f"/practice/{assignment_id}/done", data, headers=headers)


# --- Library ---------------------------------------------------------------------------------


def test_builtin_library_covers_every_skill_with_complete_exercises(exercises):
    from iop_pwa.practice.models import SKILLS

    assert len(exercises) >= 14
    assert {e.skill for e in exercises.values()} == set(SKILLS)
    for e in exercises.values():
        assert e.title and e.why and e.minutes >= 1
        assert 1 <= len(e.question_list) <= 3
        assert "<ol>" in library.render(e.steps)
    assert sum(1 for e in exercises.values() if e.timer == "box-breathing") == 1


def test_library_sync_updates_changed_files_and_archives_removed_ones(app, db, tmp_path):
    from iop_pwa.db import session_scope

    source = tmp_path / "calm-down.md"
    source.write_text(
        "---\ntitle: Calm down\nskill: stress\nminutes: 3\nwhy: One. Two.\n"
        "questions:\n  - How was it?\n---\n1. Breathe.\n2. Again.\n"
    )
    with app.app_context(), session_scope() as session:
        assert library.sync_builtin_exercises(session, tmp_path)["added"] == 1
        assert library.sync_builtin_exercises(session, tmp_path)["added"] == 0
    source.write_text(source.read_text().replace("Calm down", "Calm down slowly"))
    with app.app_context(), session_scope() as session:
        assert library.sync_builtin_exercises(session, tmp_path)["updated"] == 1
    assert db.exec(select(Exercise).where(Exercise.slug == "calm-down")).one().title == (
        "Calm down slowly"
    )
    source.unlink()
    with app.app_context(), session_scope() as session:
        assert library.sync_builtin_exercises(session, tmp_path)["archived"] == 1


def test_markdown_is_rendered_safely():
    html = str(library.render("1. **Breathe**\n2. <script>alert(1)</script> [x](javascript:a)"))
    assert "<strong>Breathe</strong>" in html
    assert "<script" not in html and "&lt;script&gt;" in html  # shown as text, never run
    assert "<a" not in html and "href" not in html  # no links at all, javascript: or otherwise


def test_therapist_creates_edits_copies_and_archives_an_exercise(app, people, exercises, db):
    therapist, _ = people
    client = signed_in(app, therapist.email)
    bad = client.post_form(
        "/dashboard/library/new",
        {"title": "", "skill": "empathy", "why": "", "steps": "", "minutes": "5"},
    )
    assert bad.status_code == 422 and "Give the exercise a title." in bad.get_data(as_text=True)
    made = client.post_form(
        "/dashboard/library/new",
        {
            "title": "Kind words",
            "skill": "empathy",
            "why": "It helps. It really does.",
            "steps": "1. Notice.\n2. Say it.",
            "minutes": "5",
            "questions": "What did you notice?",
        },
    )
    assert made.status_code == 303
    mine = db.exec(select(Exercise).where(Exercise.title == "Kind words")).one()
    assert mine.owner_id == therapist.id
    client.post_form(
        f"/dashboard/library/{mine.id}/edit",
        {
            "title": "Kind words, daily",
            "skill": "empathy",
            "why": "It helps. It really does.",
            "steps": "1. Notice.",
            "minutes": "6",
            "questions": "",
        },
    )
    assert db.get(Exercise, mine.id).title == "Kind words, daily"
    builtin = an_exercise(exercises, "boundaries")
    copied = client.post_form(f"/dashboard/library/{builtin.id}/copy")
    assert copied.status_code == 303
    assert db.exec(select(Exercise).where(Exercise.owner_id == therapist.id)).all()[-1].steps == (
        builtin.steps
    )
    # Built-ins can't be edited or archived, only copied.
    assert client.get(f"/dashboard/library/{builtin.id}/edit").status_code == 404
    client.post_form(f"/dashboard/library/{mine.id}/archive")
    page = client.get("/dashboard/library").get_data(as_text=True)
    assert "Kind words, daily" not in page and builtin.title in page
    by_skill = client.get("/dashboard/library?skill=boundaries").get_data(as_text=True)
    assert builtin.title in by_skill and an_exercise(exercises, "empathy").title not in by_skill


def test_another_therapists_exercise_is_not_visible(app, people, make_user, db):
    therapist, _ = people
    client = signed_in(app, therapist.email)
    client.post_form(
        "/dashboard/library/new",
        {
            "title": "Private one",
            "skill": "empathy",
            "why": "Why. Because.",
            "steps": "1. Do.",
            "minutes": "5",
        },
    )
    mine = db.exec(select(Exercise).where(Exercise.title == "Private one")).one()
    other = signed_in(app, make_user("therapist").email)
    assert other.get(f"/dashboard/library/{mine.id}").status_code == 404
    assert "Private one" not in other.get("/dashboard/library").get_data(as_text=True)


# --- Schedules -------------------------------------------------------------------------------


def _assignment(**kw) -> Assignment:
    defaults = {
        "exercise_id": 1,
        "therapist_id": 1,
        "start_date": date(2026, 3, 2),
        "schedule": "daily",
        "status": "active",
    }
    return Assignment(**{**defaults, **kw})


def test_schedule_arithmetic():
    once = _assignment(schedule="once", start_date=date(2026, 3, 4), end_date=date(2026, 3, 4))
    assert [once.is_due(date(2026, 3, d)) for d in (3, 4, 5)] == [False, True, False]
    mwf = _assignment(schedule="weekdays", weekdays="0,2,4", end_date=date(2026, 3, 13))
    due = [d for d in range(1, 20) if mwf.is_due(date(2026, 3, d))]
    assert due == [2, 4, 6, 9, 11, 13]  # from Monday 2 March, ends Friday 13th
    daily = _assignment()
    assert not daily.is_due(date(2026, 3, 1)) and daily.is_due(date(2026, 3, 8))  # DST Sunday
    assert daily.is_due(date(2026, 11, 1))  # the autumn change too: dates, not hours
    paused = _assignment(status="paused")
    assert not paused.is_due(date(2026, 3, 4))
    assert mwf.describe_schedule() == "Every Monday, Wednesday, Friday, until Mar 13"


def test_streak_counts_days_with_everything_done_and_never_breaks_on_today():
    daily, mwf = _assignment(id=1), _assignment(id=2, schedule="weekdays", weekdays="0")
    pairs = [Assigned(daily, None, daily.start_date), Assigned(mwf, None, mwf.start_date)]
    today = date(2026, 3, 4)  # Wednesday
    done = {(1, today - timedelta(days=b)): True for b in range(1, 3)}  # Mon and Tue
    assert streak(pairs, done, today) == 1  # Monday's weekly item was missed: only Tuesday
    done[(2, date(2026, 3, 2))] = True
    assert streak(pairs, done, today) == 2  # Mon and Tue; today, not done yet, breaks nothing
    done[(1, today)] = True
    assert streak(pairs, done, today) == 3


# --- The loop ----------------------------------------------------------------------------------


def test_assign_to_one_participant_do_it_and_get_feedback(app, people, exercises, db):
    therapist, sam = people
    exercise = an_exercise(exercises, "assertiveness")
    with time_machine.travel(WEDNESDAY, tick=False):
        t = signed_in(app, therapist.email)
        form = t.get(f"/dashboard/library/{exercise.id}/assign").get_data(as_text=True)
        assert "Sam" not in form or "Participant" in form
        response = assign(
            t,
            exercise.id,
            participant=str(sam.id),
            schedule="weekdays",
            weekdays=["0", "2", "4"],
            start_date="2026-03-02",
            end_date="2026-03-31",
            note="Start small.",
            reminder_time="19:30",
        )
        assert response.status_code == 303
        a = db.exec(select(Assignment)).one()
        assert (a.participant_id, a.weekdays, a.reminder_time) == (sam.id, "0,2,4", time(19, 30))
        [note] = db.exec(select(Notification).where(Notification.user_id == sam.id)).all()
        assert exercise.title in note.text

        p = signed_in(app, sam.email)
        today = p.get("/today").get_data(as_text=True)
        assert exercise.title in today and "Today's practice" in today
        page = p.get(f"/practice/{a.id}").get_data(as_text=True)
        assert "Start small." in page and "Mark done" in page and "<ol>" in page
        answers = {f"answers-{i}": f"answer {i}" for i in range(len(exercise.question_list))}
        done = mark_done(p, a.id, date(2026, 3, 4), helpful="4", difficulty="2", **answers)
        assert done.status_code == 303
        completion = db.exec(select(Completion)).one()
        assert (completion.local_date, completion.late, completion.helpful) == (
            date(2026, 3, 4),
            False,
            4,
        )
        assert "Done today" in p.get(f"/practice/{a.id}").get_data(as_text=True)

        participant_page = t.get(f"/dashboard/participants/{sam.id}").get_data(as_text=True)
        assert "answer 0" in participant_page and "1 of 2" in participant_page  # Mon missed
        fb = t.post_form(
            f"/dashboard/completions/{completion.id}/feedback", {"text": "Lovely work."}
        )
        assert fb.status_code == 303
        assert db.exec(select(Feedback)).one().text == "Lovely work."
        assert "Lovely work." in p.get(f"/practice/{a.id}").get_data(as_text=True)
        bell = p.get("/today").get_data(as_text=True)
        assert "Notifications, 2 new" in bell
        notifications = p.get("/notifications").get_data(as_text=True)
        assert "left feedback" in notifications
        assert 'aria-label="Notifications, ' not in p.get("/today").get_data(as_text=True)


def test_mark_done_is_idempotent_on_assignment_and_day(app, people, exercises, db):
    therapist, sam = people
    with time_machine.travel(WEDNESDAY, tick=False):
        t = signed_in(app, therapist.email)
        assign(t, an_exercise(exercises).id, participant=str(sam.id), start_date="2026-03-01")
        a = db.exec(select(Assignment)).one()
        p = signed_in(app, sam.email)
        client_id = str(uuid.uuid4())
        for _ in range(2):  # the same item replayed by the outbox
            r = mark_done(
                p,
                a.id,
                date(2026, 3, 4),
                client_id=client_id,
                headers={"X-Outbox": "1", "Accept": "application/json"},
            )
            assert r.status_code == 200 and r.get_json()["id"] == client_id
        # A second device marking the same day: still one completion.
        other = mark_done(p, a.id, date(2026, 3, 4))
        assert other.status_code in (303, 422)
        assert db.exec(select(func.count()).select_from(Completion)).one() == 1


def test_undo_the_same_day_and_fill_in_up_to_three_days_late(app, people, exercises, db):
    therapist, sam = people
    with time_machine.travel(WEDNESDAY, tick=False) as clock:
        t = signed_in(app, therapist.email)
        assign(t, an_exercise(exercises).id, participant=str(sam.id), start_date="2026-02-20")
        a = db.exec(select(Assignment)).one()
        p = signed_in(app, sam.email)
        page = p.get(f"/practice/{a.id}").get_data(as_text=True)
        assert "(late)" in page and "Tuesday, March 3" in page
        assert "Saturday, February 28" not in page
        assert mark_done(p, a.id, date(2026, 3, 1)).status_code == 303
        late = db.exec(select(Completion)).one()
        assert late.late is True
        too_late = mark_done(p, a.id, date(2026, 2, 28))
        assert too_late.status_code == 422
        assert "up to 3 days late" in too_late.get_data(as_text=True)
        future = mark_done(p, a.id, date(2026, 3, 5))
        assert future.status_code == 422

        mark_done(p, a.id, date(2026, 3, 4))
        today_done = db.exec(
            select(Completion).where(Completion.local_date == date(2026, 3, 4))
        ).one()
        assert p.post_form(f"/practice/completions/{today_done.id}/undo").status_code == 303
        assert db.get(Completion, today_done.id) is None
        clock.shift(timedelta(days=1))
        p = signed_in(app, sam.email)
        p.post_form(f"/practice/completions/{late.id}/undo")
        assert db.get(Completion, late.id) is not None  # yesterday's mark stays


def test_group_assignment_reaches_every_member_including_later_joiners(
    app, people, exercises, make_user, db
):
    therapist, sam = people
    from iop_pwa.accounts.models import Group

    group = db.exec(select(Group).where(Group.name == "Evening")).one()
    with time_machine.travel(WEDNESDAY, tick=False):
        t = signed_in(app, therapist.email)
        response = assign(
            t, an_exercise(exercises, "stress").id, group=str(group.id), start_date="2026-03-04"
        )
        assert response.status_code == 303
        late_joiner = make_user("participant", therapist=therapist, group="Evening")
        for person in (sam, late_joiner):
            page = signed_in(app, person.email).get("/today").get_data(as_text=True)
            assert an_exercise(exercises, "stress").title in page
        outsider = make_user("participant", therapist=therapist)
        page = signed_in(app, outsider.email).get("/today").get_data(as_text=True)
        assert an_exercise(exercises, "stress").title not in page
        notified = {n.user_id for n in db.exec(select(Notification))}
        assert notified == {sam.id}  # the later joiner sees it, without a notification


def test_pause_resume_end_and_history(app, people, exercises, db):
    therapist, sam = people
    with time_machine.travel(WEDNESDAY, tick=False):
        t = signed_in(app, therapist.email)
        assign(t, an_exercise(exercises).id, participant=str(sam.id), start_date="2026-03-01")
        a = db.exec(select(Assignment)).one()
        p = signed_in(app, sam.email)
        t.post_form(f"/dashboard/assignments/{a.id}/status", {"status": "paused"})
        assert "Nothing is due today" in p.get("/today").get_data(as_text=True)
        t.post_form(f"/dashboard/assignments/{a.id}/status", {"status": "active"})
        edit = t.post_form(
            f"/dashboard/assignments/{a.id}",
            {
                "schedule": "weekdays",
                "weekdays": ["2"],
                "start_date": "2026-03-01",
                "end_date": "",
                "note": "Wednesdays only",
                "reminder_time": "",
            },
        )
        assert edit.status_code == 303
        assert db.get(Assignment, a.id).weekdays == "2"
        t.post_form(f"/dashboard/assignments/{a.id}/status", {"status": "ended"})
        page = t.get(f"/dashboard/assignments/{a.id}").get_data(as_text=True)
        for action in ("created", "paused", "resumed", "changed", "ended"):
            assert f": {action}" in page
        assert "Wednesdays only" not in p.get("/today").get_data(as_text=True)
        assert db.get(Assignment, a.id).status == "ended"


# Its dates are written out (March 2026): a form refuses a start more than a year back.
@time_machine.travel(WEDNESDAY, tick=True)
def test_bad_schedule_input_is_a_clear_422(app, people, exercises):
    therapist, sam = people
    t = signed_in(app, therapist.email)
    ex = an_exercise(exercises)
    nobody = assign(t, ex.id, start_date="2026-03-01")
    assert nobody.status_code == 422 and "Choose a participant or a group." in nobody.get_data(
        as_text=True
    )
    backwards = assign(
        t, ex.id, participant=str(sam.id), start_date="2026-03-10", end_date="2026-03-01"
    )
    assert backwards.status_code == 422 and "before the start date" in backwards.get_data(
        as_text=True
    )
    no_days = assign(
        t, ex.id, participant=str(sam.id), schedule="weekdays", start_date="2026-03-01"
    )
    assert no_days.status_code == 422 and "at least one day" in no_days.get_data(as_text=True)


# Its dates are written out (March 2026): a form refuses a start more than a year back.
@time_machine.travel(WEDNESDAY, tick=True)
def test_a_participant_cannot_see_or_complete_anothers_assignment(
    app, people, exercises, make_user, db
):
    therapist, sam = people
    t = signed_in(app, therapist.email)
    assign(t, an_exercise(exercises).id, participant=str(sam.id), start_date=ny_today().isoformat())
    a = db.exec(select(Assignment)).one()
    other = signed_in(app, make_user("participant").email)
    assert other.get(f"/practice/{a.id}").status_code == 404
    assert mark_done(other, a.id, ny_today()).status_code == 404
    assert db.exec(select(func.count()).select_from(Completion)).one() == 0
    outsider = signed_in(app, make_user("therapist").email)
    assert (
        assign(
            outsider, an_exercise(exercises).id, participant=str(sam.id), start_date="2026-03-01"
        ).status_code
        == 404
    )


def test_today_and_participant_page_run_a_constant_number_of_queries(
    app, people, exercises, db, count_queries
):
    therapist, sam = people
    ex_ids = [e.id for e in exercises.values()]
    t = signed_in(app, therapist.email)
    p = signed_in(app, sam.email)
    counts = []
    for n in (1, 6):
        for ex_id in ex_ids[len(counts) * 1 : n]:
            assign(
                t,
                ex_id,
                participant=str(sam.id),
                start_date=(ny_today() - timedelta(days=10)).isoformat(),
            )
        for a in db.exec(select(Assignment)).all():
            for back in range(1, 4):
                mark_done(p, a.id, ny_today() - timedelta(days=back))
        measured = []
        for client, path in (
            (p, "/today"),
            (p, "/practice"),
            (t, f"/dashboard/participants/{sam.id}"),
        ):
            client.get(path)
            with count_queries() as queries:
                assert client.get(path).status_code == 200
            measured.append(len(queries))
        counts.append(measured)
    assert counts[0] == counts[1], counts


def test_my_data_export_includes_practice_and_its_reflections(app, people, exercises, db):
    import io
    import json
    import zipfile

    therapist, sam = people
    exercise = an_exercise(exercises, "assertiveness")
    with time_machine.travel(WEDNESDAY, tick=False):
        t = signed_in(app, therapist.email)
        assign(t, exercise.id, participant=str(sam.id), start_date="2026-03-01")
        a = db.exec(select(Assignment)).one()
        p = signed_in(app, sam.email)
        mark_done(p, a.id, date(2026, 3, 4), **{"answers-0": "I said it kindly."})
        archive = zipfile.ZipFile(io.BytesIO(p.get("/account/my-data.zip").data))
    data = json.loads(archive.read("my-data.json"))
    [record] = data["practice"]
    assert record["exercise"] == exercise.title and "I said it kindly." in record["reflection"]
    assert "I said it kindly." in archive.read("practice.csv").decode()
