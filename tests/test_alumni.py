"""Discharge to alumni and re-admission, end to end through the therapist's pages: what ends,
what is cancelled, which groups, who is told, what is audited, and what alumni may still do
(the access rules of `access.py`, "What a participant's program status allows")."""

from __future__ import annotations

import html
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from iop_pwa.accounts.models import Group, GroupKind, GroupMembership, ParticipantStatus, User
from iop_pwa.audit import AuditEvent
from iop_pwa.db import session_scope, utcnow
from iop_pwa.notifications import Notification
from iop_pwa.practice.models import (
    Assignment,
    AssignmentEvent,
    AssignmentStatus,
    Completion,
    Exercise,
)
from iop_pwa.therapy.models import TherapySession
from tests.conftest import PASSWORD
from tests.helpers import form_fields

ZONE = ZoneInfo("America/New_York")


def signed_in(app, user):
    client = app.test_client()
    response = client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    return client


def today() -> date:
    return datetime.now(ZONE).date()


class Program:
    """A therapist facilitating "Evening" (a cohort) with Sam in it, an alumni group, Sam's
    individual and group practice (one done yesterday), Sam's individual sessions (one last
    week, two to come) and Evening's group session next week."""

    def __init__(self, app, make_user, db):
        self.therapist = make_user("therapist", email="t@example.test", group="Evening")
        self.sam = make_user(
            "participant", therapist=self.therapist, group="Evening", name="Sam Rivera"
        )
        from iop_pwa.practice import services as practice
        from iop_pwa.therapy import services as therapy

        with app.app_context(), session_scope() as s:
            therapist, sam = s.get(User, self.therapist.id), s.get(User, self.sam.id)
            sam.created_at = utcnow() - timedelta(days=40)  # joined 40 days ago
            s.add(sam)
            evening = s.exec(select(Group).where(Group.name == "Evening")).one()
            alumni = Group(name="Alumni circle", kind=GroupKind.alumni)
            s.add(alumni)
            exercise = Exercise(
                slug="t-listen",
                title="Listening",
                skill="empathy",
                why="Why. Because.",
                steps="1. Listen.",
                questions="How was it?",
            )
            s.add(exercise)
            s.flush()
            common = dict(
                therapist=therapist,
                exercise=exercise,
                schedule="daily",
                weekdays=[],
                start_date=today() - timedelta(days=10),
                end_date=None,
                note="",
                reminder_time=None,
            )
            own = practice.assign(s, participant=sam, group=None, **common)
            group_practice = practice.assign(s, participant=None, group=evening, **common)
            practice.mark_done(
                s,
                participant=sam,
                assignment=own,
                exercise=exercise,
                day=today() - timedelta(days=1),
                today=today(),
                client_id=str(uuid.uuid4()),
                answers=["It helped"],
                helpful=4,
                difficulty=2,
                done_at=utcnow(),
            )
            session = dict(
                therapist=therapist, duration_minutes=50, video_url="https://zoom.us/j/1"
            )
            [past] = therapy.schedule(
                s,
                kind="individual",
                title="Check-in",
                day=today() - timedelta(days=7),
                at=time(10, 0),
                participant=sam,
                group_id=None,
                already_happened=True,
                **session,
            )
            coming = [
                therapy.schedule(
                    s,
                    kind="individual",
                    title="One to one",
                    day=today() + timedelta(days=d),
                    at=time(10, 0),
                    participant=sam,
                    group_id=None,
                    **session,
                )[0]
                for d in (3, 10)
            ]
            [group_session] = therapy.schedule(
                s,
                kind="group",
                title="Evening group",
                day=today() + timedelta(days=5),
                at=time(18, 0),
                participant=None,
                group_id=evening.id,
                **session,
            )
            self.evening_id, self.alumni_id = evening.id, alumni.id
            self.own_id, self.group_practice_id = own.id, group_practice.id
            self.past_id, self.coming_ids = past.id, [c.id for c in coming]
            self.group_session_id = group_session.id
        with app.app_context(), session_scope() as s:
            s.exec(Notification.__table__.delete())  # the scheduling notices are not the test's

    def groups_of(self, db, user) -> set[str]:
        return set(
            db.exec(
                select(Group.name)
                .join(GroupMembership, col(GroupMembership.group_id) == Group.id)
                .where(GroupMembership.user_id == user.id, ~col(GroupMembership.is_facilitator))
            )
        )


@pytest.fixture
def program(app, make_user, db):
    return Program(app, make_user, db)


def discharge(client, person, day: date | str | None = None, **extra):
    day = today() if day is None else day
    data = {"day": day if isinstance(day, str) else day.isoformat(), **extra}
    return client.post_form(f"/dashboard/participants/{person.id}/discharge", data)


def test_the_confirmation_step_says_what_will_happen(app, program):
    client = signed_in(app, program.therapist)
    person_page = client.get(f"/dashboard/participants/{program.sam.id}").get_data(as_text=True)
    assert "Discharge to alumni" in person_page and "Deactivate account" in person_page
    page = client.get(f"/dashboard/participants/{program.sam.id}/discharge")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'value="{today().isoformat()}"' in text  # today by default
    assert "They leave Evening" in text
    assert "They join Alumni circle." in text
    assert "1 practice assignment ends" in text
    assert "2 individual or family sessions still to come are cancelled" in text
    assert "They keep their journal" in text
    assert '<button type="submit" class="button-primary">Discharge to alumni</button>' in text


def test_discharge_ends_practice_cancels_sessions_moves_groups_tells_and_audits(app, program, db):
    client = signed_in(app, program.therapist)
    day = today() - timedelta(days=2)
    response = discharge(client, program.sam, day, alumni_group=str(program.alumni_id))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/dashboard/participants/{program.sam.id}"

    sam = db.get(User, program.sam.id)
    assert (sam.status, sam.discharged_on) == (ParticipantStatus.alumni, day)
    # Practice: their own assignment ended with its history; what they did stays.
    own = db.get(Assignment, program.own_id)
    assert own.status == AssignmentStatus.ended
    events = db.exec(
        select(AssignmentEvent.action).where(AssignmentEvent.assignment_id == own.id)
    ).all()
    assert events == ["created", "ended"]
    assert len(db.exec(select(Completion)).all()) == 1
    # The group's practice is the group's: it goes on for the others.
    assert db.get(Assignment, program.group_practice_id).status == AssignmentStatus.active
    # Sessions: the two to come are cancelled, the past one is not; the group's goes on.
    assert all(db.get(TherapySession, i).cancelled_at for i in program.coming_ids)
    assert db.get(TherapySession, program.past_id).cancelled_at is None
    assert db.get(TherapySession, program.group_session_id).cancelled_at is None
    # Groups: out of the cohort, into the alumni group.
    assert program.groups_of(db, sam) == {"Alumni circle"}
    # Told: one notification per cancelled session (the usual wording) and the discharge.
    texts = db.exec(
        select(Notification.kind, Notification.text).where(Notification.user_id == sam.id)
    ).all()
    assert sorted(k for k, _ in texts) == ["program_status", "session_changed", "session_changed"]
    assert all(
        t.startswith("Session cancelled. One to one") for k, t in texts if k != "program_status"
    )
    [welcome] = [t for k, t in texts if k == "program_status"]
    assert "alumni" in welcome and "Evening" not in welcome
    bell = signed_in(app, program.sam).get("/notifications").get_data(as_text=True)
    assert "welcome to the alumni group" in bell and 'href="/today"' in bell
    # Audited: the discharge (ids only), each ended assignment and each cancelled session.
    rows = db.exec(select(AuditEvent).where(AuditEvent.subject_id == sam.id)).all()
    actions = [r.action for r in rows]
    assert actions.count("participant_discharged") == 1
    assert actions.count("assignment_ended") == 1 and actions.count("session_cancelled") == 2
    [row] = [r for r in rows if r.action == "participant_discharged"]
    assert row.actor_id == program.therapist.id
    assert row.detail == f"left {program.evening_id}; joined {program.alumni_id}"
    assert "Sam" not in (row.detail or "")
    page = client.get(f"/dashboard/participants/{sam.id}").get_data(as_text=True)
    assert "Re-admit to the program" in page and "Discharge to alumni" not in page


def _discharge_through_the_form(client, person):
    """Open the discharge page and press "Discharge to alumni" with what the form holds."""
    page = client.get(f"/dashboard/participants/{person.id}/discharge").get_data(as_text=True)
    return page, client.post_form(
        f"/dashboard/participants/{person.id}/discharge", form_fields(page)
    )


def test_discharge_through_the_form_joins_the_one_alumni_group(app, program, db):
    client = signed_in(app, program.therapist)
    page, response = _discharge_through_the_form(client, program.sam)
    assert "They join Alumni circle." in page
    assert response.status_code == 303
    assert program.groups_of(db, db.get(User, program.sam.id)) == {"Alumni circle"}
    sam = signed_in(app, program.sam)
    assert "Alumni circle" in sam.get("/messages").get_data(as_text=True)


def test_with_several_alumni_groups_the_therapist_chooses_one(app, program, db):
    with app.app_context(), session_scope() as s:
        s.add(Group(name="Alumni mornings", kind=GroupKind.alumni))
    client = signed_in(app, program.therapist)
    page = client.get(f"/dashboard/participants/{program.sam.id}/discharge").get_data(as_text=True)
    assert "They join the alumni group you choose below." in page
    assert "They join Alumni circle." not in page
    assert '<label for="alumni_group"' in page
    mornings = db.exec(select(Group).where(Group.name == "Alumni mornings")).one()
    fields = form_fields(page) | {"alumni_group": str(mornings.id)}
    response = client.post_form(f"/dashboard/participants/{program.sam.id}/discharge", fields)
    assert response.status_code == 303
    assert program.groups_of(db, db.get(User, program.sam.id)) == {"Alumni mornings"}


def test_with_several_alumni_groups_none_chosen_is_refused_not_groupless(app, program, db):
    with app.app_context(), session_scope() as s:
        s.add(Group(name="Alumni mornings", kind=GroupKind.alumni))
    client = signed_in(app, program.therapist)
    response = discharge(client, program.sam, alumni_group="")
    assert response.status_code == 422
    assert "Choose the alumni group they join." in response.get_data(as_text=True)
    assert db.get(User, program.sam.id).status == ParticipantStatus.active


def test_alumni_keep_their_journal_history_and_care_team_but_not_cohort_things(app, program, db):
    from iop_pwa.messages import services as messages
    from iop_pwa.messages.models import ConversationKind
    from iop_pwa.safety import program as contact

    with app.app_context(), session_scope() as s:
        contact.save_contact(
            s,
            by_id=program.therapist.id,
            name="Riverside IOP",
            phone="555 010 0199",
            hours="Weekdays 9 to 5",
            message_hours="Weekdays 9 to 5, within a working day",
            alumni_message_hours="Tuesdays and Thursdays, within two working days",
        )
        messages.ensure_conversations(s, user=s.get(User, program.sam.id))
        evening_room = messages.conversation_for(
            s, kind=ConversationKind.group, object_id=program.evening_id
        ).id
    sam_client = signed_in(app, program.sam)
    care = sam_client.get("/messages").get_data(as_text=True)
    assert sam_client.get(f"/messages/{evening_room}").status_code == 200
    therapist = signed_in(app, program.therapist)
    assert discharge(therapist, program.sam, alumni_group=str(program.alumni_id)).status_code == 303

    with app.app_context(), session_scope() as s:
        messages.ensure_conversations(s, user=s.get(User, program.sam.id))
        care_id = messages.conversation_for(
            s, kind=ConversationKind.care_team, object_id=program.sam.id
        ).id
        alumni_room = messages.conversation_for(
            s, kind=ConversationKind.group, object_id=program.alumni_id
        ).id
    assert care  # Messages opened before, too
    thread = sam_client.get(f"/messages/{care_id}").get_data(as_text=True)
    assert "Tuesdays and Thursdays, within two working days" in thread
    assert "within a working day" not in thread
    assert sam_client.get(f"/messages/{alumni_room}").status_code == 200
    # The cohort's room and its group session are no longer theirs (404, audited).
    assert sam_client.get(f"/messages/{evening_room}").status_code == 404
    assert sam_client.get(f"/sessions/{program.group_session_id}").status_code == 404
    # Journal, practice history, Today and Help stay.
    for path in ("/today", "/journal", "/practice", "/help", "/sessions"):
        assert sam_client.get(path).status_code == 200, path
    practice_page = sam_client.get("/practice").get_data(as_text=True)
    assert "Listening" in practice_page  # the ended assignment, in their history
    assert sam_client.get(f"/practice/{program.own_id}").status_code == 200
    assert sam_client.get(f"/practice/{program.group_practice_id}").status_code == 404
    sessions = sam_client.get("/sessions").get_data(as_text=True)
    assert "Evening group" not in sessions


def test_alumni_get_no_new_practice_but_may_have_a_session(app, program, db):
    therapist = signed_in(app, program.therapist)
    assert discharge(therapist, program.sam).status_code == 303
    form = therapist.get(f"/dashboard/library/{_exercise_id(db)}/assign").get_data(as_text=True)
    assert ">Sam Rivera</option>" not in form
    assigned = therapist.post_form(
        f"/dashboard/library/{_exercise_id(db)}/assign",
        {
            "participant": str(program.sam.id),
            "group": "",
            "schedule": "daily",
            "start_date": today().isoformat(),
        },
    )
    assert assigned.status_code == 404
    assert len(db.exec(select(Assignment)).all()) == 2
    denied = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert [(d.object_type, d.subject_id) for d in denied] == [("participant", program.sam.id)]
    # A follow-up call is still possible: their support goes on.
    scheduled = therapist.post_form(
        "/dashboard/sessions/new",
        {
            "kind": "individual",
            "title": "Alumni follow-up",
            "participant": str(program.sam.id),
            "group": "",
            "day": (today() + timedelta(days=30)).isoformat(),
            "at": "10:00",
            "duration_minutes": "30",
            "video_url": "https://zoom.us/j/5",
            "repeat_weeks": "1",
        },
    )
    assert scheduled.status_code == 303


def _exercise_id(db) -> int:
    return db.exec(select(Exercise.id)).one()


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (lambda: today() + timedelta(days=1), "can't be in the future"),
        (lambda: today() - timedelta(days=41), "can't be before Sam joined, on"),
        (lambda: "29/11/2026", "Not a valid date value"),
        (lambda: "", "Choose the day of discharge."),
    ],
)
def test_a_discharge_date_in_the_future_or_before_joining_is_refused(
    app, program, db, day, message
):
    client = signed_in(app, program.therapist)
    value = day()
    response = discharge(client, program.sam, value if isinstance(value, str) else value)
    assert response.status_code == 422
    assert message in html.unescape(response.get_data(as_text=True))
    sam = db.get(User, program.sam.id)
    assert (sam.status, sam.discharged_on) == (ParticipantStatus.active, None)
    assert program.groups_of(db, sam) == {"Evening"}


def test_the_first_day_counts_and_an_unknown_alumni_group_is_404(app, program, db):
    client = signed_in(app, program.therapist)
    first = today() - timedelta(days=40)
    assert discharge(client, program.sam, first, alumni_group="999999").status_code == 404
    assert db.get(User, program.sam.id).status == ParticipantStatus.active
    # A cohort's id is not an alumni group either.
    cohort = discharge(client, program.sam, first, alumni_group=str(program.evening_id))
    assert cohort.status_code == 404
    assert discharge(client, program.sam, first).status_code == 303
    assert db.get(User, program.sam.id).discharged_on == first
    # None chosen, and the program has one alumni group: they join it (never "no group").
    assert program.groups_of(db, program.sam) == {"Alumni circle"}
    # Discharging again is answered in words, not done twice.
    again = client.get(f"/dashboard/participants/{program.sam.id}/discharge")
    assert again.status_code == 303


def test_readmit_puts_them_back_in_a_cohort_the_therapist_chooses(app, program, db):
    client = signed_in(app, program.therapist)
    assert discharge(client, program.sam, alumni_group=str(program.alumni_id)).status_code == 303
    path = f"/dashboard/participants/{program.sam.id}/readmit"
    page = client.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert ">Evening</option>" in text and ">Alumni circle</option>" not in text
    empty = client.post_form(path, {"group": ""})
    assert empty.status_code == 422
    assert "Choose the group they join." in empty.get_data(as_text=True)
    assert client.post_form(path, {"group": str(program.evening_id)}).status_code == 303
    sam = db.get(User, program.sam.id)
    assert (sam.status, sam.discharged_on) == (ParticipantStatus.active, None)
    assert program.groups_of(db, sam) == {"Evening"}
    actions = db.exec(select(AuditEvent.action).where(AuditEvent.subject_id == sam.id)).all()
    assert "participant_readmitted" in actions
    kinds = db.exec(select(Notification.text).where(Notification.kind == "program_status")).all()
    assert any(t.startswith("Welcome back") for t in kinds)
    # Practice can be assigned again.
    form = client.get(f"/dashboard/library/{_exercise_id(db)}/assign").get_data(as_text=True)
    assert ">Sam Rivera</option>" in form


def test_another_therapists_group_cannot_be_chosen_for_readmission(app, program, make_user, db):
    make_user("therapist", group="Elsewhere")
    other = db.exec(select(Group).where(Group.name == "Elsewhere")).one()
    client = signed_in(app, program.therapist)
    assert discharge(client, program.sam).status_code == 303
    path = f"/dashboard/participants/{program.sam.id}/readmit"
    refused = client.post_form(path, {"group": str(other.id)})
    assert refused.status_code == 422  # not among the choices
    assert db.get(User, program.sam.id).status == ParticipantStatus.alumni


def test_deactivate_and_reactivate_return_to_the_same_place(app, program, db):
    client = signed_in(app, program.therapist)
    assert discharge(client, program.sam).status_code == 303
    base = f"/dashboard/participants/{program.sam.id}"
    assert client.post_form(f"{base}/deactivate").status_code == 303
    assert db.get(User, program.sam.id).status == ParticipantStatus.deactivated
    page = client.get(base).get_data(as_text=True)
    assert "Reactivate account" in page and "Re-admit" not in page
    # Nothing new for a deactivated record: discharge and re-admission are refused (404).
    assert client.get(f"{base}/readmit").status_code == 404
    assert client.post_form(f"{base}/reactivate").status_code == 303
    assert db.get(User, program.sam.id).status == ParticipantStatus.alumni
    actions = db.exec(
        select(AuditEvent.action).where(
            AuditEvent.subject_id == program.sam.id,
            col(AuditEvent.action).in_(["participant_deactivated", "participant_reactivated"]),
        )
    ).all()
    assert actions == ["participant_deactivated", "participant_reactivated"]


def test_a_participant_cannot_discharge_anyone(app, program):
    client = signed_in(app, program.sam)
    assert discharge(client, program.sam).status_code == 403


def test_discharge_uses_every_registered_lifecycle_without_core_naming_them(app):
    from iop_pwa.features import registry

    names = {hook.name for hook in registry(app).lifecycle}
    assert {"practice", "sessions"} <= names


def test_the_discharge_page_is_a_constant_number_of_queries(app, program, make_user, count_queries):
    client = signed_in(app, program.therapist)
    path = f"/dashboard/participants/{program.sam.id}/discharge"
    client.get(path)
    with count_queries() as few:
        client.get(path)
    for _ in range(5):
        make_user("participant", therapist=program.therapist, group="Evening")
    with count_queries() as more:
        client.get(path)
    assert len(more) == len(few)


def test_an_alumni_group_gets_no_practice(app, program, db):
    from iop_pwa.accounts import services as accounts

    with app.app_context(), session_scope() as s:
        accounts.add_to_group(
            s,
            user=s.get(User, program.therapist.id),
            group=s.get(Group, program.alumni_id),
            facilitator=True,
        )
    client = signed_in(app, program.therapist)
    path = f"/dashboard/library/{_exercise_id(db)}/assign"
    assert "Alumni circle" not in client.get(path).get_data(as_text=True)
    refused = client.post_form(
        path,
        {
            "participant": "",
            "group": str(program.alumni_id),
            "schedule": "daily",
            "start_date": today().isoformat(),
        },
    )
    assert refused.status_code == 422
    assert len(db.exec(select(Assignment)).all()) == 2


def test_the_demo_has_an_alumni_participant_and_an_audit_log(app, db):
    from iop_pwa.demo import DEMO_PASSWORD

    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert runner.invoke(args=["demo"]).exit_code == 0  # idempotent: nothing twice
    morgan = db.exec(select(User).where(User.email == "morgan@demo.test")).one()
    assert morgan.status == ParticipantStatus.alumni
    # About three months ago: the three-month check-in is due (the check-ins demo).
    assert 90 <= (today() - morgan.discharged_on).days <= 110
    groups = db.exec(
        select(Group)
        .join(GroupMembership, col(GroupMembership.group_id) == Group.id)
        .where(GroupMembership.user_id == morgan.id)
    ).all()
    assert [(g.name, g.kind) for g in groups] == [("Alumni Circle", GroupKind.alumni)]
    discharges = db.exec(
        select(AuditEvent).where(AuditEvent.action == "participant_discharged")
    ).all()
    assert [d.subject_id for d in discharges] == [morgan.id]
    assert len(db.exec(select(AuditEvent)).all()) >= 10
    # Morgan's care-team thread shows the alumni hours.
    client = app.test_client()
    client.post_form("/sign-in", {"email": morgan.email, "password": DEMO_PASSWORD})
    assert "within two working days" in _care_thread(app, client, morgan)
    admin = app.test_client()
    admin.post_form("/sign-in", {"email": "admin@demo.test", "password": DEMO_PASSWORD})
    log = html.unescape(
        admin.get("/admin/audit?what=participant_discharged").get_data(as_text=True)
    )
    assert "Discharged to alumni" in log and "Morgan Blake" in log and "Dr. Maya Lopez" in log


def _care_thread(app, client, person) -> str:
    from iop_pwa.messages import services as messages
    from iop_pwa.messages.models import ConversationKind

    client.get("/messages")  # makes the conversations
    with app.app_context(), session_scope() as s:
        care = messages.conversation_for(s, kind=ConversationKind.care_team, object_id=person.id)
        care_id = care.id
    return client.get(f"/messages/{care_id}").get_data(as_text=True)


def test_alumni_still_get_reminders_of_their_sessions(app, program):
    from datetime import UTC

    from iop_pwa.features import ReminderSettings
    from iop_pwa.therapy import reminders
    from iop_pwa.therapy import services as therapy

    therapist = signed_in(app, program.therapist)
    assert discharge(therapist, program.sam, alumni_group=str(program.alumni_id)).status_code == 303
    with app.app_context(), session_scope() as s:
        from iop_pwa.accounts import services as accounts

        accounts.add_to_group(
            s,
            user=s.get(User, program.therapist.id),
            group=s.get(Group, program.alumni_id),
            facilitator=True,
        )
        [follow_up] = therapy.schedule(
            s,
            therapist=s.get(User, program.therapist.id),
            kind="group",
            title="Alumni evening",
            day=today() + timedelta(days=2),
            at=time(18, 0),
            duration_minutes=60,
            video_url="https://zoom.us/j/7",
            participant=None,
            group_id=program.alumni_id,
        )
        start = follow_up.starts_at - timedelta(minutes=61)
        due = list(
            reminders.due(
                s,
                start=start,
                end=start + timedelta(minutes=2),
                settings=lambda _id: ReminderSettings(),
            )
        )
    assert [r.user_id for r in due] == [program.sam.id]
    assert due[0].at.tzinfo is not None and due[0].at < datetime.now(UTC) + timedelta(days=3)


def test_alumni_read_words_for_alumni_on_today_practice_and_sessions(app, program, make_user):
    therapist = signed_in(app, program.therapist)
    assert discharge(therapist, program.sam, alumni_group=str(program.alumni_id)).status_code == 303
    sam = signed_in(app, program.sam)
    pages = {
        path: sam.get(path).get_data(as_text=True) for path in ("/today", "/practice", "/sessions")
    }
    for path, page in pages.items():
        assert "Your therapist will add" not in page, path
        assert "You can revisit any practice" not in page, path
    assert "Your practice assignments ended when you finished the program." in pages["/today"]
    assert "Finished assignments" in pages["/practice"]
    assert 'under "Finished assignments" to read the steps again' in pages["/practice"]
    # Someone new, with nothing assigned yet, is not offered practice to revisit either.
    new = make_user("participant", therapist=program.therapist)
    phone = signed_in(app, new)
    today = phone.get("/today").get_data(as_text=True)
    assert "Nothing is assigned yet. Your therapist will add practice here." in today
    assert "You can revisit any practice" not in today
    # Discharged with no session at all, Sessions says what alumni can still have.
    assert discharge(therapist, new).status_code == 303
    sessions = phone.get("/sessions").get_data(as_text=True)
    assert "Your care team can still set one up with you" in sessions
    assert "Your therapist will add them here" not in sessions
