"""Object-level access: one matrix over every route that takes an id.

Every later feature adds its routes to ROUTES; `test_every_route_with_an_id_is_in_the_matrix`
fails until it does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from iop_pwa.audit import AuditEvent
from tests.conftest import PASSWORD


@dataclass
class World:
    owner: object  # the therapist whose caseload/objects these are
    participant: object  # on the owner's caseload; owns the journal entry
    invitation_id: int
    entry_id: int
    flag_id: int
    exercise_id: int
    assignment_id: int
    completion_id: int
    session_id: int
    guest_id: int
    group_id: int  # a group the owner facilitates (the participant is a member)
    conversation_id: int  # that group's room (messages)
    message_id: int  # the owner's message in it
    report_id: int  # the participant's report of that message
    device_id: int | None = None  # the participant's device that gets reminders
    passkey_id: int | None = None  # the participant's passkey
    questionnaire_id: int | None = None  # the owner's own check-in, asked of the participant
    schedule_id: int | None = None  # that check-in's weekly schedule for the participant

    def owner_of(self, role: str):
        return self.owner if role == "therapist" else self.participant


@pytest.fixture
def world(app, make_user):
    from iop_pwa.accounts import services
    from iop_pwa.accounts.models import User
    from iop_pwa.db import session_scope, utcnow
    from iop_pwa.journal import services as journal
    from iop_pwa.practice import services as practice
    from iop_pwa.practice.models import Exercise
    from iop_pwa.safety import CareFlag
    from iop_pwa.therapy import services as therapy

    owner = make_user("therapist", email="owner@example.test", group="World group")
    participant = make_user(
        "participant", therapist=owner, email="p@example.test", group="World group"
    )
    with app.app_context(), session_scope() as db:
        invitation, _ = services.create_invitation(
            db,
            therapist=db.get(User, owner.id),
            name="New Person",
            email=None,
            group=None,
            valid_for=__import__("datetime").timedelta(days=7),
        )
        invitation_id = invitation.id
        result = journal.save_entry(
            db,
            user=db.get(User, participant.id),
            client_id=str(uuid.uuid4()),
            mood=2,
            body="I want to die",
            shared=True,
            written_at=utcnow(),
        )
        flag = db.exec(select(CareFlag)).one()
        entry_id, flag_id = result.entry.id, flag.id
        exercise = Exercise(
            owner_id=owner.id,
            title="Own exercise",
            skill="empathy",
            why="Why. Because.",
            steps="1. Do it.",
            questions="How was it?",
        )
        db.add(exercise)
        db.flush()
        today = datetime.now(ZoneInfo("America/New_York")).date()  # the participant's today
        assignment = practice.assign(
            db,
            therapist=db.get(User, owner.id),
            exercise=exercise,
            participant=db.get(User, participant.id),
            group=None,
            schedule="daily",
            weekdays=[],
            start_date=today - timedelta(days=5),
            end_date=None,
            note="",
            reminder_time=None,
        )
        completion, _ = practice.mark_done(
            db,
            participant=db.get(User, participant.id),
            assignment=assignment,
            exercise=exercise,
            day=today - timedelta(days=1),
            today=today,
            client_id=str(uuid.uuid4()),
            answers=["fine"],
            helpful=3,
            difficulty=3,
            done_at=utcnow(),
        )
        [family] = therapy.schedule(
            db,
            therapist=db.get(User, owner.id),
            kind="family",
            title="Family",
            day=today - timedelta(days=1),  # over at any hour: its join area answers 286
            at=time(9, 0),
            duration_minutes=60,
            video_url="https://zoom.us/j/1",
            participant=db.get(User, participant.id),
            group_id=None,
            already_happened=True,  # yesterday's: a start in the past is only recorded
        )
        guest, _ = therapy.add_guest(
            db, session=family, name="Guest", email=None, by=db.get(User, owner.id)
        )
        from iop_pwa.accounts.models import Group

        group = db.exec(select(Group).where(Group.name == "World group")).one()
        from iop_pwa.messages import services as messages
        from iop_pwa.messages.models import ConversationKind, MessageReport

        messages.ensure_conversations(db, user=db.get(User, owner.id))
        room = messages.conversation_for(db, kind=ConversationKind.group, object_id=group.id)
        said = messages.send(
            db,
            conversation=room,
            author=db.get(User, owner.id),
            client_id=str(uuid.uuid4()),
            body="Welcome, everyone.",
            written_at=utcnow(),
        ).message
        messages.report(
            db, message=said, reporter=db.get(User, participant.id), reason="other", detail=""
        )
        report_id = db.exec(select(MessageReport.id)).one()
        ids = (exercise.id, assignment.id, completion.id, family.id, guest.id, group.id)
        ids += (room.id, said.id, report_id)
    with app.app_context(), session_scope() as db:
        from iop_pwa.push.models import PushSubscription

        device = PushSubscription(
            user_id=participant.id,
            endpoint="https://fcm.googleapis.com/fcm/send/world",
            p256dh="k",
            auth="a",
        )
        db.add(device)
        from iop_pwa.accounts.models import Passkey

        passkey = Passkey(user_id=participant.id, credential_id="d29ybGQ", public_key=b"k")
        db.add(passkey)
        db.flush()
        device_id, passkey_id = device.id, passkey.id
    with app.app_context(), session_scope() as db:
        from iop_pwa.checkins import services as checkins
        from iop_pwa.checkins.models import Questionnaire

        own = checkins.save_questionnaire(
            db,
            staff=db.get(User, owner.id),
            questionnaire=None,
            title="Connected",
            questions="How connected did you feel to the people close to you this week?",
        )
        checkin_schedule = checkins.schedule(
            db,
            therapist=db.get(User, owner.id),
            questionnaire=db.get(Questionnaire, own.id),
            participant=db.get(User, participant.id),
            group=None,
            every_weeks=1,
            start_date=datetime.now(ZoneInfo("America/New_York")).date(),
        )
        checkin_ids = {"questionnaire_id": own.id, "schedule_id": checkin_schedule.id}
    return World(
        owner, participant, invitation_id, entry_id, flag_id, *ids, device_id=device_id,
        passkey_id=passkey_id, **checkin_ids,
    )  # fmt: skip


# (method, url template, the role that owns it, expected status for the owner)
ROUTES = [
    ("GET", "/dashboard/participants/{participant}", "therapist", 200),
    ("GET", "/dashboard/participants/{participant}/discharge", "therapist", 200),
    ("POST", "/dashboard/participants/{participant}/discharge", "therapist", 303),
    ("GET", "/dashboard/participants/{participant}/readmit", "therapist", 303),  # not alumni
    ("POST", "/dashboard/participants/{participant}/readmit", "therapist", 303),
    ("POST", "/dashboard/participants/{participant}/deactivate", "therapist", 303),
    ("POST", "/dashboard/participants/{participant}/reactivate", "therapist", 303),
    ("GET", "/dashboard/participants/{participant}/timeline", "therapist", 200),
    ("POST", "/dashboard/participants/{participant}/sign-in-link", "therapist", 303),
    ("GET", "/dashboard/participants/{participant}/sign-in-link", "therapist", 200),
    ("GET", "/dashboard/invitations/{invitation}", "therapist", 200),
    ("POST", "/dashboard/invitations/{invitation}/renew", "therapist", 303),
    ("POST", "/dashboard/invitations/{invitation}/revoke", "therapist", 303),
    ("POST", "/dashboard/invitations/{invitation}/email", "therapist", 303),
    ("POST", "/dashboard/flags/{flag}/seen", "therapist", 303),
    ("GET", "/journal/{entry}", "participant", 200),
    ("GET", "/journal/{entry}/edit", "participant", 200),
    ("POST", "/journal/{entry}/edit", "participant", 303),
    ("GET", "/journal/{entry}/delete", "participant", 200),
    ("POST", "/journal/{entry}/delete", "participant", 303),
    ("GET", "/practice/{assignment}", "participant", 200),
    ("POST", "/practice/{assignment}/done", "participant", 303),
    ("POST", "/practice/completions/{completion}/undo", "participant", 303),
    ("GET", "/dashboard/library/{exercise}", "therapist", 200),
    ("GET", "/dashboard/library/{exercise}/edit", "therapist", 200),
    ("POST", "/dashboard/library/{exercise}/edit", "therapist", 303),
    ("POST", "/dashboard/library/{exercise}/copy", "therapist", 303),
    ("POST", "/dashboard/library/{exercise}/archive", "therapist", 303),
    ("GET", "/dashboard/library/{exercise}/assign", "therapist", 200),
    ("POST", "/dashboard/library/{exercise}/assign", "therapist", 303),
    ("GET", "/dashboard/assignments/{assignment}", "therapist", 200),
    ("POST", "/dashboard/assignments/{assignment}", "therapist", 303),
    ("POST", "/dashboard/assignments/{assignment}/status", "therapist", 303),
    ("POST", "/dashboard/completions/{completion}/feedback", "therapist", 303),
    ("GET", "/sessions/{session}", "participant", 200),
    ("GET", "/sessions/{session}/join", "participant", 286),
    ("GET", "/sessions/{session}.ics", "participant", 200),
    ("GET", "/dashboard/sessions/{session}", "therapist", 200),
    ("POST", "/dashboard/sessions/{session}", "therapist", 303),
    ("POST", "/dashboard/sessions/{session}/cancel", "therapist", 303),
    ("POST", "/dashboard/sessions/{session}/guests", "therapist", 303),
    ("POST", "/dashboard/sessions/guests/{guest}/revoke", "therapist", 303),
    ("POST", "/dashboard/sessions/{session}/attendance", "therapist", 303),
    ("GET", "/checkins/{questionnaire}", "participant", 200),
    ("POST", "/checkins/{questionnaire}", "participant", 303),
    ("GET", "/dashboard/checkins/{questionnaire}", "therapist", 200),
    ("GET", "/dashboard/checkins/{questionnaire}/edit", "therapist", 200),
    ("POST", "/dashboard/checkins/{questionnaire}/edit", "therapist", 303),
    ("POST", "/dashboard/participants/{participant}/checkins", "therapist", 303),
    ("GET", "/dashboard/groups/{group}/checkins", "therapist", 200),
    ("POST", "/dashboard/groups/{group}/checkins", "therapist", 303),
    ("POST", "/dashboard/checkins/schedules/{schedule}/stop", "therapist", 303),
]
PLACEHOLDERS = {
    "participant": "participant_id",
    "invitation": "invitation_id",
    "flag": "flag_id",
    "entry": "entry_id",
    "exercise": "exercise_id",
    "assignment": "assignment_id",
    "completion": "completion_id",
    "session": "session_id",
    "guest": "guest_id",
    "questionnaire": "questionnaire_id",
    "group": "group_id",
    "schedule": "schedule_id",
}


def url(template: str, world: World) -> str:
    return template.format(
        participant=world.participant.id,
        invitation=world.invitation_id,
        entry=world.entry_id,
        flag=world.flag_id,
        exercise=world.exercise_id,
        assignment=world.assignment_id,
        completion=world.completion_id,
        session=world.session_id,
        guest=world.guest_id,
        questionnaire=world.questionnaire_id,
        group=world.group_id,
        schedule=world.schedule_id,
    )


def _day_for(path: str) -> date:
    """Today in the participant's zone (marking practice done), but tomorrow for a session being
    moved: a start must not be in the past, whatever the hour the suite runs."""
    today = datetime.now(ZoneInfo("America/New_York")).date()
    return today + timedelta(days=1) if path.startswith("/dashboard/sessions") else today


def call(client, method: str, path: str, world: World | None = None):
    if method == "GET":
        return client.get(path)
    # One payload that every POST route in the matrix accepts as valid.
    return client.post_form(
        path,
        {
            "status": "paused",
            "body": "Edited",
            "mood": "3",
            "text": "Good work.",
            "client_id": str(uuid.uuid4()),
            "day": _day_for(path).isoformat(),
            "title": "Edited",
            "skill": "empathy",
            "why": "Why. Because.",
            "steps": "1. Do.",
            "minutes": "5",
            "participant": str(world.participant.id) if world else "",
            "group": "",
            "schedule": "daily",
            "start_date": date.today().isoformat(),
            "name": "A guest",
            "at": "09:00",
            "duration_minutes": "60",
            "video_url": "https://zoom.us/j/2",
            "questionnaire": str(world.questionnaire_id) if world else "",
            "questions": "How?",
            "every_weeks": "1",
            "item_0": "3",
            "due_on": _day_for(path).isoformat(),
        },
    )


def signed_in(app, email):
    client = app.test_client()
    assert client.post_form("/sign-in", {"email": email, "password": PASSWORD}).status_code == 303
    return client


@pytest.mark.parametrize(("method", "template", "role", "ok"), ROUTES)
def test_owner_can_use_the_route(app, world, method, template, role, ok):
    client = signed_in(app, world.owner_of(role).email)
    assert call(client, method, url(template, world), world).status_code == ok


@pytest.mark.parametrize(("method", "template", "role", "ok"), ROUTES)
def test_someone_else_in_the_same_role_gets_404_and_it_is_audited(
    app, world, make_user, db, method, template, role, ok
):
    outsider = make_user(role, email="outsider@example.test")
    client = signed_in(app, outsider.email)
    response = call(client, method, url(template, world), world)
    assert response.status_code == 404
    denied = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert [e.actor_id for e in denied] == [outsider.id]


@pytest.mark.parametrize(("method", "template", "role", "ok"), ROUTES)
def test_the_other_role_gets_403(app, world, method, template, role, ok):
    other_role = "participant" if role == "therapist" else "therapist"
    client = signed_in(app, world.owner_of(other_role).email)
    assert call(client, method, url(template, world), world).status_code == 403


@pytest.mark.parametrize(("method", "template", "role", "ok"), ROUTES)
def test_nobody_signed_in_is_sent_to_sign_in(app, world, method, template, role, ok):
    response = call(app.test_client(), method, url(template, world))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/sign-in")


@pytest.mark.parametrize(("method", "template", "role", "ok"), ROUTES)
def test_unknown_ids_are_404(app, world, method, template, role, ok):
    client = signed_in(app, world.owner_of(role).email)
    path = template.format(**dict.fromkeys(PLACEHOLDERS, 999_999))
    assert call(client, method, path).status_code == 404


def test_a_participant_is_not_on_a_caseload_by_sharing_a_group(app, world, make_user):
    """Facilitating the same group is not a care-team link: the record stays closed."""
    colleague = make_user("therapist", group="Shared Group")
    make_user("participant", therapist=world.owner, group="Shared Group")
    client = signed_in(app, colleague.email)
    assert client.get(f"/dashboard/participants/{world.participant.id}").status_code == 404


# Admin routes: any admin may use them; everyone else gets 403, and unknown ids 404.
ADMIN_ROUTES = [
    ("POST", "/admin/groups/{group}/facilitators"),
    ("POST", "/admin/groups/{group}/facilitators/{user}/remove"),
]


@pytest.fixture
def admin_world(make_user, db):
    from iop_pwa.accounts.models import Group

    admin = make_user("admin", email="admin@example.test")
    therapist = make_user("therapist", group="Evening")
    group = db.exec(select(Group).where(Group.name == "Evening")).one()
    return admin, therapist, group


@pytest.mark.parametrize(("method", "template"), ADMIN_ROUTES)
def test_admin_routes_are_for_admins_only(app, admin_world, make_user, method, template):
    admin, therapist, group = admin_world
    path = template.format(group=group.id, user=therapist.id)
    data = {"facilitator": str(therapist.id)}
    assert signed_in(app, therapist.email).post_form(path, data).status_code == 403
    assert signed_in(app, admin.email).post_form(path, data).status_code == 303
    missing = template.format(group=999_999, user=999_999)
    assert signed_in(app, admin.email).post_form(missing, data).status_code == 404


# Routes for a person's own things, whatever their role (a device that gets reminders): the
# owner may use them; anyone else, participant or staff, gets 404 (audited).
OWN_ROUTES = [
    ("POST", "/push/devices/{device}/remove", "<int:subscription_id>", 303),
    ("POST", "/account/passkeys/{passkey}/remove", "<int:passkey_id>", 303),
]


@pytest.fixture
def own_world(app, make_user, db):
    from iop_pwa.accounts.models import Passkey
    from iop_pwa.push.models import PushSubscription

    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    device = PushSubscription(
        user_id=person.id, endpoint="https://fcm.googleapis.com/fcm/send/x", p256dh="k", auth="a"
    )
    db.add(device)
    passkey = Passkey(user_id=person.id, credential_id="cred-1", public_key=b"k", name="Phone")
    db.add(passkey)
    db.commit()
    return person, therapist, {"device": device.id, "passkey": passkey.id}


@pytest.mark.parametrize(("method", "template", "arg", "ok"), OWN_ROUTES)
def test_own_routes_are_for_the_owner_only(
    app, own_world, make_user, db, method, template, arg, ok
):
    person, therapist, ids = own_world
    path = template.format(**ids)
    assert call(app.test_client(), method, path).headers["Location"].startswith("/sign-in")
    for other in (make_user("participant"), therapist):
        assert call(signed_in(app, other.email), method, path).status_code == 404
    denied = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert len(denied) == 2
    owner = signed_in(app, person.email)
    assert call(owner, method, template.format(**dict.fromkeys(ids, 999_999))).status_code == 404
    assert call(owner, method, path).status_code == ok


# Admin routes that take a therapist, a group or a crisis line (by its place in the list):
# (method, template, the data an admin sends, the admin's answer). Therapists and participants
# get 403; an unknown id 404.
ADMIN_ID_ROUTES = [
    ("GET", "/admin/therapists/{user}", {}, 200),
    ("POST", "/admin/therapists/{user}", {"name": "T", "email": "t2@example.test"}, 303),
    ("POST", "/admin/therapists/{user}/deactivate", {}, 303),
    ("POST", "/admin/therapists/{user}/reactivate", {}, 303),
    ("POST", "/admin/therapists/{user}/second-factor/reset", {}, 303),
    (
        "POST",
        "/admin/groups/{group}",
        {"group-{group}-name": "G", "group-{group}-kind": "alumni"},
        303,
    ),
    ("GET", "/admin/crisis-resources/{line}", {}, 200),
    (
        "POST",
        "/admin/crisis-resources/{line}",
        {"name": "Line", "detail": "What it is.", "phone": "988"},
        303,
    ),
    ("POST", "/admin/crisis-resources/{line}/move", {"direction": "down"}, 303),
    ("POST", "/admin/crisis-resources/{line}/remove", {}, 303),
]
ADMIN_ID_ARGS = {"user": "<int:user_id>", "group": "<int:group_id>", "line": "<int:position>"}


@pytest.mark.parametrize(("method", "template", "data", "ok"), ADMIN_ID_ROUTES)
def test_admin_id_routes_are_for_admins_only(
    app, admin_world, make_user, method, template, data, ok
):
    admin, therapist, group = admin_world
    participant = make_user("participant", therapist=therapist)
    ids = {"user": therapist.id, "group": group.id, "line": 1}
    path = template.format(**ids)
    data = {k.format(**ids): v for k, v in data.items()}
    for other in (therapist, participant):
        assert call_admin(signed_in(app, other.email), method, path, data).status_code == 403
    assert call_admin(app.test_client(), method, path, data).status_code == 303  # to sign in
    assert call_admin(signed_in(app, admin.email), method, path, data).status_code == ok
    missing = template.format(**dict.fromkeys(ids, 999_999))
    assert call_admin(signed_in(app, admin.email), method, missing, data).status_code == 404


def call_admin(client, method, path, data):
    return client.get(path) if method == "GET" else client.post_form(path, data)


def test_every_route_with_an_id_is_in_the_matrix(app):
    from tests.test_messages import MESSAGE_RULES  # messages' own matrix (both roles use them)

    covered = MESSAGE_RULES | {
        template.replace("{group}", "<int:group_id>").replace("{user}", "<int:user_id>")
        for _, template in ADMIN_ROUTES
    }
    covered |= {
        template.replace("{device}", arg).replace("{passkey}", arg)
        for _, template, arg, _ in OWN_ROUTES
    }
    for _, template, _, _ in ADMIN_ID_ROUTES:
        for name, arg in ADMIN_ID_ARGS.items():
            template = template.replace("{" + name + "}", arg)
        covered.add(template)
    for _, template, _, _ in ROUTES:
        for name, arg in PLACEHOLDERS.items():
            template = template.replace("{" + name + "}", f"<int:{arg}>")
        covered.add(template)
    with_ids = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if "<" in rule.rule
        and not rule.rule.startswith("/static")
        and "<token>" not in rule.rule  # capability links: tested with their features
    }
    assert with_ids <= covered, f"add these routes to ROUTES: {sorted(with_ids - covered)}"


def test_staff_reads_of_a_record_are_audited(app, world, db):
    client = signed_in(app, world.owner.email)
    client.get(f"/dashboard/participants/{world.participant.id}")
    reads = db.exec(select(AuditEvent).where(AuditEvent.action == "staff_read")).all()
    assert [(e.actor_id, e.subject_id) for e in reads] == [(world.owner.id, world.participant.id)]
