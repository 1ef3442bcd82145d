"""The access rules of `iop_pwa.access`: groups belong to their facilitators, a participant's
status is part of the policy, staff reads and writes are audited, refusals are throttled, and odd
ids answer 404. (The per-route matrix is in test_access.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlmodel import col, select

from iop_pwa.accounts.models import Group, GroupMembership, Invitation, ParticipantStatus, User
from iop_pwa.audit import AuditEvent
from iop_pwa.notifications import Notification
from iop_pwa.practice.models import Assignment, Exercise
from iop_pwa.therapy.models import TherapySession
from tests.conftest import PASSWORD


def signed_in(app, user):
    client = app.test_client()
    response = client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    return client


def _exercise(db) -> Exercise:
    """A built-in exercise (it has a slug), visible to every therapist."""
    exercise = Exercise(
        slug="test-listening",
        title="Listening",
        skill="empathy",
        why="Why. Because.",
        steps="1. Listen.",
        questions="How was it?",
    )
    db.add(exercise)
    db.commit()
    return exercise


def _denied(db) -> list[AuditEvent]:
    return list(db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")))


@pytest.fixture
def two_programs(app, make_user, db):
    """Therapist A facilitates "Evening" with a member on A's caseload. Therapist B has their own
    participant, who is (put there by an admin) also in A's group, which once made it B's."""
    a = make_user("therapist", email="a@example.test", group="Evening")
    member = make_user("participant", therapist=a, group="Evening", name="Mina Member")
    b = make_user("therapist", email="b@example.test")
    make_user("participant", therapist=b, group="Evening", name="Bo Both")
    evening = db.exec(select(Group).where(Group.name == "Evening")).one()
    return a, b, member, evening


def test_another_therapists_group_is_not_offered_and_posting_its_id_is_404(app, two_programs, db):
    a, b, member, evening = two_programs
    client = signed_in(app, b)
    assert "Evening" not in client.get("/dashboard/invitations").get_data(as_text=True)
    assert "Evening" not in client.get("/dashboard/groups").get_data(as_text=True)

    response = client.post_form(
        "/dashboard/invitations", {"name": "New Person", "group": str(evening.id)}
    )
    assert response.status_code == 404
    assert db.exec(select(Invitation)).all() == []
    assert [(e.actor_id, e.object_type) for e in _denied(db)] == [(b.id, "group")]


def test_typing_another_therapists_group_name_starts_a_new_group(app, two_programs, db):
    a, b, member, evening = two_programs
    client = signed_in(app, b)
    response = client.post_form(
        "/dashboard/invitations", {"name": "New Person", "new_group": "evening"}
    )
    assert response.status_code == 303
    invitation = db.exec(select(Invitation)).one()
    assert invitation.group_id not in (None, evening.id)
    mine = db.exec(
        select(GroupMembership).where(GroupMembership.group_id == invitation.group_id)
    ).all()
    assert [(m.user_id, m.is_facilitator) for m in mine] == [(b.id, True)]
    # A second group of the same name of B's own is refused, with a message.
    again = client.post_form("/dashboard/invitations", {"name": "Other", "new_group": "Evening"})
    assert again.status_code == 422
    assert "You already have a group called Evening" in again.get_data(as_text=True)


def test_another_therapists_group_cannot_get_sessions_practice_or_attendance(app, two_programs, db):
    a, b, member, evening = two_programs
    client = signed_in(app, b)
    today = datetime.now(UTC).date()
    scheduled = client.post_form(
        "/dashboard/sessions/new",
        {
            "kind": "group",
            "title": "Not mine",
            "group": str(evening.id),
            "participant": "",
            "day": (today + timedelta(days=2)).isoformat(),
            "at": "18:00",
            "duration_minutes": "60",
            "video_url": "https://zoom.us/j/123",
            "repeat_weeks": "1",
        },
    )
    assert scheduled.status_code == 404
    assert db.exec(select(TherapySession)).all() == []
    assert db.exec(select(Notification)).all() == []

    exercise = _exercise(db)
    assigned = client.post_form(
        f"/dashboard/library/{exercise.id}/assign",
        {
            "participant": "",
            "group": str(evening.id),
            "schedule": "daily",
            "start_date": today.isoformat(),
        },
    )
    assert assigned.status_code == 404
    assert db.exec(select(Assignment)).all() == []

    # A's own group session: B sees no roster and marks no attendance.
    from iop_pwa.db import session_scope
    from iop_pwa.therapy import services as therapy

    with app.app_context(), session_scope() as s:
        [own] = therapy.schedule(
            s,
            therapist=s.get(User, a.id),
            kind="group",
            title="Evening group",
            day=today - timedelta(days=1),
            at=time(18, 0),
            duration_minutes=60,
            video_url="https://zoom.us/j/1",
            participant=None,
            group_id=evening.id,
            already_happened=True,
        )
        own_id = own.id
    page = client.get(f"/dashboard/sessions/{own_id}")
    assert page.status_code == 404 and "Mina" not in page.get_data(as_text=True)
    marked = client.post_form(
        f"/dashboard/sessions/{own_id}/attendance", {f"attendance-{member.id}": "attended"}
    )
    assert marked.status_code == 404


def test_a_service_refuses_a_group_the_therapist_does_not_facilitate(app, two_programs):
    from iop_pwa.access import NotPermitted
    from iop_pwa.db import session_scope
    from iop_pwa.practice import services as practice

    a, b, member, evening = two_programs
    with app.app_context(), session_scope() as s, pytest.raises(NotPermitted):
        practice.assign(
            s,
            therapist=s.get(User, b.id),
            exercise=s.exec(select(Exercise)).first() or _exercise(s),
            participant=None,
            group=s.get(Group, evening.id),
            schedule="daily",
            weekdays=[],
            start_date=datetime.now(UTC).date(),
            end_date=None,
            note="",
            reminder_time=None,
        )


def test_an_admin_assigns_facilitators(app, two_programs, make_user, db):
    a, b, member, evening = two_programs
    admin = make_user("admin", email="admin@example.test")
    admin_client = signed_in(app, admin)
    page = admin_client.get("/admin/groups").get_data(as_text=True)
    assert "Evening" in page and "Add facilitator" in page

    added = admin_client.post_form(
        f"/admin/groups/{evening.id}/facilitators", {"facilitator": str(b.id)}
    )
    assert added.status_code == 303
    b_client = signed_in(app, b)
    assert "Evening" in b_client.get("/dashboard/invitations").get_data(as_text=True)

    removed = admin_client.post_form(f"/admin/groups/{evening.id}/facilitators/{b.id}/remove")
    assert removed.status_code == 303
    assert "Evening" not in b_client.get("/dashboard/groups").get_data(as_text=True)
    actions = [e.action for e in db.exec(select(AuditEvent).where(AuditEvent.actor_id == admin.id))]
    assert "facilitator_added" in actions and "facilitator_removed" in actions

    started = admin_client.post_form(
        "/admin/groups", {"name": "Alumni circle", "facilitator": str(b.id)}
    )
    assert started.status_code == 303
    assert "Alumni circle" in b_client.get("/dashboard/groups").get_data(as_text=True)


def test_a_deactivated_participant_can_be_read_but_gets_no_new_work(app, make_user, db):
    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist, name="Dee Activated")
    row = db.get(User, person.id)
    row.status = ParticipantStatus.deactivated
    db.add(row)
    db.commit()
    exercise = _exercise(db)
    client = signed_in(app, therapist)
    assert client.get(f"/dashboard/participants/{person.id}").status_code == 200
    form = client.get(f"/dashboard/library/{exercise.id}/assign").get_data(as_text=True)
    assert "Dee Activated" not in form
    response = client.post_form(
        f"/dashboard/library/{exercise.id}/assign",
        {
            "participant": str(person.id),
            "group": "",
            "schedule": "daily",
            "start_date": datetime.now(UTC).date().isoformat(),
        },
    )
    assert response.status_code == 404
    assert db.exec(select(Assignment)).all() == []
    # Reactivation stays possible.
    back = client.post_form(f"/dashboard/participants/{person.id}/reactivate")
    assert back.status_code == 303
    assert db.get(User, person.id).status == ParticipantStatus.active


def _staff_reads(db, actor_id) -> list[AuditEvent]:
    return list(
        db.exec(
            select(AuditEvent).where(
                AuditEvent.action == "staff_read", AuditEvent.actor_id == actor_id
            )
        )
    )


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard",
        "/dashboard/participants",
        "/dashboard/sessions",
        "/dashboard/sessions/new",
        "/dashboard/sessions/{session}",
        "/dashboard/assignments/{assignment}",
        "/dashboard/library/{exercise}/assign",
        "/dashboard/participants/{participant}",
    ],
)
def test_every_staff_page_with_participants_names_is_audited(app, make_user, db, path):
    from iop_pwa.db import session_scope
    from iop_pwa.practice import services as practice
    from iop_pwa.therapy import services as therapy

    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    exercise = _exercise(db)
    with app.app_context(), session_scope() as s:
        [session] = therapy.schedule(
            s,
            therapist=s.get(User, therapist.id),
            kind="individual",
            title="One to one",
            day=datetime.now(UTC).date() + timedelta(days=3),
            at=time(10, 0),
            duration_minutes=50,
            video_url="https://zoom.us/j/9",
            participant=s.get(User, person.id),
            group_id=None,
        )
        assignment = practice.assign(
            s,
            therapist=s.get(User, therapist.id),
            exercise=s.get(Exercise, exercise.id),
            participant=s.get(User, person.id),
            group=None,
            schedule="daily",
            weekdays=[],
            start_date=datetime.now(UTC).date(),
            end_date=None,
            note="",
            reminder_time=None,
        )
        ids = {"session": session.id, "assignment": assignment.id}
    client = signed_in(app, therapist)
    before = len(_staff_reads(db, therapist.id))
    url = path.format(exercise=exercise.id, participant=person.id, **ids)
    assert client.get(url).status_code == 200
    assert len(_staff_reads(db, therapist.id)) == before + 1


def test_staff_writes_to_a_record_are_audited_by_the_services(app, make_user, db):
    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    exercise = _exercise(db)
    client = signed_in(app, therapist)
    today = datetime.now(UTC).date()
    assert (
        client.post_form(
            f"/dashboard/library/{exercise.id}/assign",
            {
                "participant": str(person.id),
                "group": "",
                "schedule": "daily",
                "start_date": today.isoformat(),
            },
        ).status_code
        == 303
    )
    assignment = db.exec(select(Assignment)).one()
    client.post_form(f"/dashboard/assignments/{assignment.id}/status", {"status": "paused"})
    client.post_form(
        "/dashboard/sessions/new",
        {
            "kind": "family",
            "title": "Family",
            "participant": str(person.id),
            "group": "",
            "day": (today + timedelta(days=2)).isoformat(),
            "at": "18:00",
            "duration_minutes": "60",
            "video_url": "https://zoom.us/j/123",
            "repeat_weeks": "1",
        },
    )
    session = db.exec(select(TherapySession)).one()
    client.post_form(f"/dashboard/sessions/{session.id}/guests", {"name": "Aunt"})
    client.post_form(f"/dashboard/sessions/{session.id}/cancel")
    rows = db.exec(
        select(AuditEvent)
        .where(AuditEvent.actor_id == therapist.id, AuditEvent.action != "staff_read")
        .order_by(col(AuditEvent.id))
    ).all()
    about_person = {(e.action, e.subject_id) for e in rows}
    for action in (
        "assignment_created",
        "assignment_paused",
        "session_scheduled",
        "guest_invited",
        "session_cancelled",
    ):
        assert (action, person.id) in about_person, action


def test_repeated_refusals_are_throttled_and_stop_filling_the_log(app, make_user, db):
    from iop_pwa.access import DENIALS_PER_WINDOW

    prober = make_user("therapist")
    client = signed_in(app, prober)
    codes = [client.get(f"/dashboard/participants/{n}").status_code for n in range(1, 36)]
    assert codes[:DENIALS_PER_WINDOW] == [404] * DENIALS_PER_WINDOW
    assert set(codes[DENIALS_PER_WINDOW:]) == {429}
    assert len(_denied(db)) == DENIALS_PER_WINDOW


HUGE = "99999999999999999999"


def test_ids_too_large_for_the_database_answer_404_on_every_id_route(app, make_user):
    therapist = make_user("therapist")
    participant = make_user("participant", therapist=therapist)
    admin = make_user("admin")
    clients = {
        "participant": signed_in(app, participant),
        "therapist": signed_in(app, therapist),
        "admin": signed_in(app, admin),
    }
    checked = 0
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", HUGE)
        role = (
            "admin"
            if path.startswith("/admin")
            else "therapist"
            if path.startswith("/dashboard")
            else "participant"
        )
        method = "POST" if "POST" in rule.methods else "GET"
        client = clients[role]
        response = client.get(path) if method == "GET" else client.post_form(path, {})
        assert response.status_code == 404, (method, path, response.status_code)
        checked += 1
    assert checked >= 30


def test_a_huge_id_in_a_form_choice_is_404_not_500(app, make_user, db):
    therapist = make_user("therapist")
    exercise = _exercise(db)
    client = signed_in(app, therapist)
    for field in ("participant", "group"):
        response = client.post_form(
            f"/dashboard/library/{exercise.id}/assign",
            {
                "participant": "",
                "group": "",
                field: HUGE,
                "schedule": "daily",
                "start_date": datetime.now(UTC).date().isoformat(),
            },
        )
        assert response.status_code == 404, field


def test_a_group_session_from_before_someone_joined_is_not_theirs_even_by_its_address(
    app, make_user, db
):
    """The Sessions list starts on the day a member joined; the session's own page agrees."""
    from iop_pwa.accounts.models import GroupMembership
    from iop_pwa.db import session_scope
    from iop_pwa.therapy import services as therapy

    therapist = make_user("therapist", group="Evening")
    old_hand = make_user("participant", therapist=therapist, group="Evening")
    newcomer = make_user("participant", therapist=therapist, group="Evening")
    evening = db.exec(select(Group).where(Group.name == "Evening")).one()
    membership = db.exec(
        select(GroupMembership).where(GroupMembership.user_id == old_hand.id)
    ).one()
    membership.joined_at = datetime.now(UTC) - timedelta(days=30)
    db.add(membership)
    db.commit()
    with app.app_context(), session_scope() as s:
        [past] = therapy.schedule(
            s,
            therapist=s.get(User, therapist.id),
            kind="group",
            title="Last week's group",
            day=datetime.now(UTC).date() - timedelta(days=7),
            at=time(18, 0),
            duration_minutes=60,
            video_url="https://zoom.us/j/1",
            participant=None,
            group_id=evening.id,
            already_happened=True,
        )
        past_id = past.id
    assert signed_in(app, old_hand).get(f"/sessions/{past_id}").status_code == 200
    assert signed_in(app, newcomer).get(f"/sessions/{past_id}").status_code == 404
    assert [e.actor_id for e in _denied(db)] == [newcomer.id]


# --- Alumni: the access table of `access.py` ("What a participant's program status allows") ---


@pytest.fixture
def alumni_world(app, make_user, db):
    """Sam, discharged to alumni from "Evening" into "Alumni circle" (tests/test_alumni.py's
    program), with the conversations made."""
    from iop_pwa.db import session_scope
    from iop_pwa.messages import services as messages
    from iop_pwa.messages.models import ConversationKind
    from tests.test_alumni import Program, discharge

    program = Program(app, make_user, db)
    with app.app_context(), session_scope() as s:
        messages.ensure_conversations(s, user=s.get(User, program.sam.id))
    therapist = signed_in(app, program.therapist)
    assert discharge(therapist, program.sam, alumni_group=str(program.alumni_id)).status_code == 303
    with app.app_context(), session_scope() as s:
        messages.ensure_conversations(s, user=s.get(User, program.sam.id))

        def room(kind, object_id):
            return messages.conversation_for(s, kind=kind, object_id=object_id).id

        ids = {
            "care": room(ConversationKind.care_team, program.sam.id),
            "alumni_room": room(ConversationKind.group, program.alumni_id),
            "cohort_room": room(ConversationKind.group, program.evening_id),
        }
    exercise = db.exec(select(Exercise.id)).one()
    ids |= {
        "sam": program.sam.id,
        "own": program.own_id,
        "group_practice": program.group_practice_id,
        "past": program.past_id,
        "group_session": program.group_session_id,
        "exercise": exercise,
    }
    return program, ids


# (who, method, path, expected): what alumni may and may not reach, and what staff may do.
ALUMNI_MATRIX = [
    ("alumni", "GET", "/today", 200),
    ("alumni", "GET", "/journal", 200),  # their journal
    ("alumni", "GET", "/journal/mood", 200),
    ("alumni", "GET", "/practice", 200),  # their history
    ("alumni", "GET", "/practice/{own}", 200),  # an ended assignment, with what they did
    ("alumni", "GET", "/practice/{group_practice}", 404),  # the cohort's practice
    ("alumni", "GET", "/sessions", 200),
    ("alumni", "GET", "/sessions/{past}", 200),  # their own past session
    ("alumni", "GET", "/sessions/{group_session}", 404),  # a cohort session
    ("alumni", "GET", "/messages", 200),
    ("alumni", "GET", "/messages/{care}", 200),  # the care-team thread
    ("alumni", "GET", "/messages/{alumni_room}", 200),  # the alumni group
    ("alumni", "GET", "/messages/{cohort_room}", 404),  # the cohort they left
    ("alumni", "GET", "/help", 200),
    ("alumni", "GET", "/account", 200),
    ("alumni", "GET", "/notifications", 200),  # "welcome to the alumni group", linking Today
    ("therapist", "GET", "/dashboard/participants/{sam}", 200),
    ("therapist", "GET", "/dashboard/participants/{sam}/readmit", 200),
    ("therapist", "GET", "/dashboard/participants/{sam}/discharge", 303),  # already alumni
    ("therapist", "POST", "/dashboard/participants/{sam}/sign-in-link", 303),
    ("therapist", "GET", "/dashboard/assignments/{own}", 200),  # their history
    ("therapist", "POST", "/dashboard/assignments/{own}/status", 404),  # no new practice
    ("therapist", "POST", "/dashboard/library/{exercise}/assign", 404),
]


@pytest.mark.parametrize(("who", "method", "path", "expected"), ALUMNI_MATRIX)
def test_what_alumni_may_reach(app, alumni_world, who, method, path, expected):
    program, ids = alumni_world
    client = signed_in(app, program.sam if who == "alumni" else program.therapist)
    url = path.format(**ids)
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post_form(
            url,
            {
                "status": "active",
                "participant": str(ids["sam"]),
                "group": "",
                "schedule": "daily",
                "start_date": datetime.now(UTC).date().isoformat(),
            },
        )
    assert response.status_code == expected, url
