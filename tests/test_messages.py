"""Messages: who belongs to which conversation (an access matrix over every route), unread
counts, sending exactly once (offline too), guidelines, moderation, the crisis flag, and the
"anything new?" poll."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from iop_pwa.accounts.models import Group, GroupMembership, User
from iop_pwa.audit import AuditEvent
from iop_pwa.db import session_scope, utcnow
from iop_pwa.messages import services
from iop_pwa.messages.models import (
    Conversation,
    Message,
    MessageReport,
    Mute,
)
from iop_pwa.notifications import Notification
from iop_pwa.safety import CareFlag
from tests.conftest import PASSWORD

NOON = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # Wednesday noon in New York


def signed_in(app, user):
    client = app.test_client()
    response = client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    return client


@dataclass
class Room:
    therapist: User
    sam: User
    jo: User
    care_id: int  # Sam's care-team thread
    room_id: int  # the group's room
    message_id: int  # Jo's message in the room
    report_id: int  # Sam's report of it


def _conversations(app, user: User) -> None:
    with app.app_context(), session_scope() as db:
        services.ensure_conversations(db, user=db.get(User, user.id))


def _send(app, conversation_id: int, author: User, body: str, client_id: str | None = None):
    with app.app_context(), session_scope() as db:
        conversation = db.get(Conversation, conversation_id)
        person = db.get(User, author.id)
        services.agree(db, conversation=conversation, user=person)
        result = services.send(
            db,
            conversation=conversation,
            author=person,
            client_id=client_id or str(uuid.uuid4()),
            body=body,
            written_at=utcnow(),
        )
        return result.message.id


@pytest.fixture
def room(app, make_user, db) -> Room:
    therapist = make_user("therapist", email="maya@example.test", group="Evening")
    sam = make_user("participant", email="sam@example.test", therapist=therapist, group="Evening")
    jo = make_user("participant", email="jo@example.test", therapist=therapist, group="Evening")
    _conversations(app, therapist)
    group = db.exec(select(Group).where(Group.name == "Evening")).one()
    room_id = db.exec(select(Conversation.id).where(Conversation.group_id == group.id)).one()
    care_id = db.exec(select(Conversation.id).where(Conversation.participant_id == sam.id)).one()
    message_id = _send(app, room_id, jo, "Hello group")
    with app.app_context(), session_scope() as s:
        services.report(
            s,
            message=s.get(Message, message_id),
            reporter=s.get(User, sam.id),
            reason="unkind",
            detail="",
        )
    report_id = db.exec(select(MessageReport.id)).one()
    return Room(therapist, sam, jo, care_id, room_id, message_id, report_id)


# (method, url, who may use it: "participant" (Sam, in the group and the thread's owner) or
# "therapist" (Sam's therapist, the group's facilitator), what they get)
MESSAGE_ROUTES = [
    ("GET", "/messages/{care}", "participant", 200),
    ("GET", "/messages/{care}", "therapist", 200),
    ("POST", "/messages/{care}/send", "participant", 303),
    ("POST", "/messages/{care}/send", "therapist", 303),
    ("GET", "/messages/{room}", "participant", 200),
    ("GET", "/messages/{room}", "therapist", 200),
    ("POST", "/messages/{room}/send", "therapist", 303),
    ("GET", "/messages/{room}/poll?after=0", "participant", 200),
    ("GET", "/messages/{room}/poll?after=0", "therapist", 200),
    ("GET", "/messages/{care}/poll?after=0", "participant", 204),
    ("GET", "/messages/{room}/older?before={message}", "participant", 200),
    ("POST", "/messages/{room}/agree", "participant", 303),
    ("GET", "/messages/{room}/guidelines", "therapist", 200),
    ("POST", "/messages/{room}/guidelines", "therapist", 303),
    ("POST", "/messages/{room}/mute", "therapist", 303),
    ("POST", "/messages/{room}/remove", "therapist", 303),
    ("GET", "/messages/m/{message}/report", "participant", 200),
    ("POST", "/messages/m/{message}/report", "participant", 303),
    ("POST", "/messages/m/{message}/hide", "therapist", 303),
    ("POST", "/messages/reports/{report}/dismiss", "therapist", 303),
]
# The same routes as Flask writes them, for test_access's check that every route is covered.
MESSAGE_RULES = {
    re.sub(r"\?.*$", "", template)
    .replace("{care}", "<int:conversation_id>")
    .replace("{room}", "<int:conversation_id>")
    .replace("{message}", "<int:message_id>")
    .replace("{report}", "<int:report_id>")
    for _, template, _, _ in MESSAGE_ROUTES
}
STAFF_ONLY = ("/guidelines", "/mute", "/remove", "/hide", "/dismiss")
MODERATION_ROUTES = [r for r in MESSAGE_ROUTES if r[1].endswith(STAFF_ONLY)]


def _url(template: str, world: Room, **ids: int) -> str:
    room = world
    values = {
        "care": room.care_id,
        "room": room.room_id,
        "message": room.message_id,
        "report": room.report_id,
    }
    return template.format(**{**values, **ids})


def _call(client, method: str, path: str, room: Room):
    if method == "GET":
        return client.get(path)
    return client.post_form(
        path,
        {
            "body": "A message",
            "client_id": str(uuid.uuid4()),
            "member": str(room.jo.id),
            "hours": "24",
            "reason": "unkind",
            "guidelines": "Be kind.",
        },
    )


def _owner(room: Room, who: str) -> User:
    return room.therapist if who == "therapist" else room.sam


@pytest.mark.parametrize(("method", "template", "who", "ok"), MESSAGE_ROUTES)
def test_those_in_the_conversation_can_use_the_route(app, room, method, template, who, ok):
    client = signed_in(app, _owner(room, who))
    assert _call(client, method, _url(template, room), room).status_code == ok


@pytest.mark.parametrize(("method", "template", "who", "ok"), MESSAGE_ROUTES)
def test_someone_outside_the_conversation_gets_404_and_it_is_audited(
    app, room, make_user, db, method, template, who, ok
):
    outsider = make_user(who, email="outsider@example.test", group="Another group")
    _conversations(app, outsider)
    client = signed_in(app, outsider)
    assert _call(client, method, _url(template, room), room).status_code == 404
    denied = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert [e.actor_id for e in denied] == [outsider.id]


@pytest.mark.parametrize(("method", "template", "who", "ok"), MODERATION_ROUTES)
def test_a_participant_gets_nothing_from_moderation_routes(app, room, method, template, who, ok):
    """Staff-only routes refuse a participant (403), even a member of the group."""
    client = signed_in(app, room.sam)
    assert _call(client, method, _url(template, room), room).status_code == 403


@pytest.mark.parametrize(("method", "template", "who", "ok"), MESSAGE_ROUTES)
def test_nobody_signed_in_is_sent_to_sign_in(app, room, method, template, who, ok):
    response = _call(app.test_client(), method, _url(template, room), room)
    assert response.status_code in (302, 303)
    assert "/sign-in" in response.headers["Location"]


@pytest.mark.parametrize(("method", "template", "who", "ok"), MESSAGE_ROUTES)
def test_unknown_ids_are_404(app, room, method, template, who, ok):
    client = signed_in(app, _owner(room, who))
    unknown = dict.fromkeys(("care", "room", "message", "report"), 999_999)
    path = _url(template, room, **unknown)
    assert _call(client, method, path, room).status_code == 404


def test_another_participant_never_reaches_sams_care_team_thread(app, room):
    jo = signed_in(app, room.jo)
    assert jo.get(f"/messages/{room.care_id}").status_code == 404
    assert jo.get(f"/messages/{room.care_id}/poll?after=0").status_code == 404
    page = jo.get("/messages").get_data(as_text=True)
    assert f"/messages/{room.care_id}" not in page


def test_a_removed_member_loses_the_room_its_poll_and_cannot_post(app, room, db):
    therapist = signed_in(app, room.therapist)
    response = therapist.post_form(f"/messages/{room.room_id}/remove", {"member": str(room.jo.id)})
    assert response.status_code == 303
    jo = signed_in(app, room.jo)
    assert jo.get(f"/messages/{room.room_id}").status_code == 404
    assert jo.get(f"/messages/{room.room_id}/poll?after=0").status_code == 404
    sent = jo.post_form(
        f"/messages/{room.room_id}/send",
        {"body": "Still here?", "client_id": str(uuid.uuid4())},
        headers={"X-Outbox": "1", "Accept": "application/json"},
    )
    assert sent.status_code == 404
    assert db.exec(select(Message).where(Message.body == "Still here?")).first() is None
    gone = db.exec(select(GroupMembership).where(GroupMembership.user_id == room.jo.id)).all()
    assert gone == []
    told = db.exec(select(Notification).where(Notification.user_id == room.jo.id)).all()
    assert [n.kind for n in told] == ["group_removed"]
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "group_member_removed")).one()


# --- Lists, unread counts and the navigation ---------------------------------------------------


def test_messages_lists_care_team_and_group_newest_first_with_unread_counts(app, room):
    _send(app, room.care_id, room.therapist, "How was your week?")
    sam = signed_in(app, room.sam)
    page = sam.get("/messages").get_data(as_text=True)
    titles = re.findall(r'class="conversation-title">([^<]+)<', page)
    assert titles == ["Care team", "Evening"]  # the thread has the newest message
    assert "1 unread" in page
    assert 'aria-label="Messages, 2 unread"' in page  # one in the thread, Jo's hello in the group

    sam.get(f"/messages/{room.care_id}")  # reading it
    assert 'aria-label="Messages, 1 unread"' in sam.get("/today").get_data(as_text=True)
    listed = sam.get("/messages").get_data(as_text=True)
    assert 'aria-label="Evening, 1 unread"' in listed  # the cursors are each conversation's own
    assert 'aria-label="Care team, ' not in listed
    sam.get(f"/messages/{room.room_id}")
    today = sam.get("/today").get_data(as_text=True)
    assert "unread" not in today and "nav-count" not in today


def test_a_therapist_sees_the_participants_name_and_answers(app, room, db):
    _send(app, room.care_id, room.sam, "Can we talk about Thursday?")
    therapist = signed_in(app, room.therapist)
    page = therapist.get("/messages").get_data(as_text=True)
    titles = re.findall(r'class="conversation-title">([^<]+)<', page)
    assert titles[0] == room.sam.name  # the newest activity first
    assert set(titles) == {room.sam.name, room.jo.name, "Evening"}
    thread = therapist.get(f"/messages/{room.care_id}").get_data(as_text=True)
    assert "Can we talk about Thursday?" in thread
    therapist.post_form(
        f"/messages/{room.care_id}/send", {"body": "Of course.", "client_id": str(uuid.uuid4())}
    )
    [note] = db.exec(
        select(Notification).where(
            Notification.user_id == room.sam.id, Notification.kind == "message"
        )
    ).all()
    assert note.text == "New message from your care team"  # no name, no words
    assert note.object_id == room.care_id
    assert "Of course" not in note.text


def test_a_participants_message_notifies_their_therapists_once_while_unread(app, room, db):
    for text in ("One", "Two", "Three"):
        _send(app, room.care_id, room.sam, text)
    notes = db.exec(select(Notification).where(Notification.user_id == room.therapist.id)).all()
    assert [(n.kind, n.text) for n in notes] == [("message", "New message in a care-team thread")]


def test_group_messages_notify_no_one(app, room, db):
    _send(app, room.room_id, room.sam, "Hi all")
    assert db.exec(select(Notification)).all() == []


def test_today_shows_unread_care_team_messages(app, room):
    sam = signed_in(app, room.sam)
    assert "from your care team" not in sam.get("/today").get_data(as_text=True)
    _send(app, room.care_id, room.therapist, "Checking in")
    _send(app, room.care_id, room.therapist, "Here if you need us")
    today = sam.get("/today").get_data(as_text=True)
    assert "2 new messages from your care team" in today
    assert f'href="/messages/{room.care_id}"' in today


def test_pages_run_a_constant_number_of_queries(app, room, make_user, count_queries):
    _send(app, room.care_id, room.therapist, "Welcome")  # every conversation has messages
    clients = {"sam": signed_in(app, room.sam), "maya": signed_in(app, room.therapist)}
    paths = [
        ("sam", "/messages"),
        ("sam", f"/messages/{room.room_id}"),
        ("sam", "/today"),
        ("maya", "/messages"),
        ("maya", f"/messages/{room.care_id}"),
        ("maya", "/dashboard"),
    ]
    counts = {}
    for size in ("small", "large"):
        if size == "large":
            for i in range(40):
                _send(app, room.room_id, room.jo if i % 2 else room.therapist, f"Message {i}")
            _send(app, room.care_id, room.therapist, "Hello")
            for _ in range(5):  # more people on the caseload, in the group
                make_user("participant", therapist=room.therapist, group="Evening")
        for who, path in paths:
            clients[who].get(path)
            with count_queries() as queries:
                assert clients[who].get(path).status_code == 200
            counts[(size, who, path)] = len(queries)
    for who, path in paths:
        assert counts[("small", who, path)] == counts[("large", who, path)], (who, path, counts)


# --- Sending -----------------------------------------------------------------------------------


def _outbox_send(client, conversation_id: int, body: str, client_id: str):
    return client.post_form(
        f"/messages/{conversation_id}/send",
        {"body": body, "client_id": client_id, "written_at": "2026-01-01T00:00:00Z"},
        headers={"X-Outbox": "1", "Accept": "application/json"},
    )


def test_a_message_sent_twice_by_the_outbox_is_stored_once(app, room, db):
    sam = signed_in(app, room.sam)
    client_id = str(uuid.uuid4())
    first = _outbox_send(sam, room.care_id, "Written on the bus", client_id)
    again = _outbox_send(sam, room.care_id, "Written on the bus", client_id)
    assert first.status_code == again.status_code == 200
    assert first.json["id"] == again.json["id"] == client_id
    stored = db.exec(select(Message).where(Message.body == "Written on the bus")).all()
    assert len(stored) == 1


def test_empty_or_too_long_messages_are_refused_with_a_reason(app, room, db):
    sam = signed_in(app, room.sam)
    empty = _outbox_send(sam, room.care_id, "   ", str(uuid.uuid4()))
    assert empty.status_code == 422 and empty.json["status"] == "invalid"
    long = sam.post_form(
        f"/messages/{room.care_id}/send", {"body": "x" * 2001, "client_id": str(uuid.uuid4())}
    )
    assert long.status_code == 422
    assert "up to 2,000 characters" in long.get_data(as_text=True)
    assert db.exec(select(Message).where(Message.conversation_id == room.care_id)).all() == []


def test_links_are_clickable_and_markup_is_not(app, room):
    _send(app, room.care_id, room.therapist, 'See https://example.org/a?b=1. <b>bold</b> "q"')
    page = signed_in(app, room.sam).get(f"/messages/{room.care_id}").get_data(as_text=True)
    assert (
        '<a href="https://example.org/a?b=1" rel="noopener noreferrer nofollow" '
        'target="_blank">https://example.org/a?b=1</a>.'
    ) in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page


def test_javascript_addresses_never_become_links():
    from iop_pwa.messages.text import linkify

    html = str(linkify('javascript:alert(1) www.example.org "><script>'))
    assert "<script>" not in html and 'href="javascript' not in html
    assert '<a href="https://www.example.org"' in html


def test_first_post_in_a_group_waits_for_i_agree(app, room, db):
    sam = signed_in(app, room.sam)
    page = sam.get(f"/messages/{room.room_id}").get_data(as_text=True)
    assert "I agree" in page and 'name="body"' not in page
    refused = _outbox_send(sam, room.room_id, "Hi", str(uuid.uuid4()))
    assert refused.status_code == 403
    assert "guidelines" in refused.json["errors"][0]
    assert sam.post_form(f"/messages/{room.room_id}/agree").status_code == 303
    page = sam.get(f"/messages/{room.room_id}").get_data(as_text=True)
    assert 'name="body"' in page and "I agree" not in page
    assert _outbox_send(sam, room.room_id, "Hi", str(uuid.uuid4())).status_code == 200


def test_crisis_language_shows_help_and_raises_a_flag_for_the_therapist(app, room, db):
    sam = signed_in(app, room.sam)
    sam.post_form(f"/messages/{room.room_id}/agree")
    answer = _outbox_send(sam, room.room_id, "Some nights I want to die", str(uuid.uuid4()))
    assert answer.json["crisis"] is True
    [flag] = db.exec(select(CareFlag)).all()
    assert (flag.participant_id, flag.source_type) == (room.sam.id, "message")
    dashboard = signed_in(app, room.therapist).get("/dashboard").get_data(as_text=True)
    assert "Crisis language in a message" in dashboard
    assert "want to die" not in dashboard
    # Without the outbox (no script), the next page shows help at once.
    page = sam.post_form(
        f"/messages/{room.care_id}/send",
        {"body": "I want to die", "client_id": str(uuid.uuid4())},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "You don't have to carry this alone" in page


def test_sending_is_rate_limited(app, room):
    sam = signed_in(app, room.sam)
    answers = [
        _outbox_send(sam, room.care_id, f"Message {i}", str(uuid.uuid4())).status_code
        for i in range(21)
    ]
    assert answers[:20] == [200] * 20 and answers[20] == 429


# --- Polling -----------------------------------------------------------------------------------


def test_poll_answers_204_with_no_body_when_nothing_is_new(app, room, count_queries):
    sam = signed_in(app, room.sam)
    path = f"/messages/{room.room_id}/poll?after={room.message_id}"
    sam.get(path)
    with count_queries() as queries:
        response = sam.get(path)
    assert response.status_code == 204 and response.data == b""
    # One query answers it (besides finding the signed-in session): the conversation, if Sam
    # belongs to it, joined to its messages after N.
    mine = [q for q in queries if "message" in q]
    assert len(mine) == 1, queries
    assert len(queries) <= 3, queries


def test_poll_brings_what_is_new_and_asks_after_it_next(app, room):
    sam = signed_in(app, room.sam)
    newer = _send(app, room.room_id, room.jo, "Anyone up for a walk?")
    response = sam.get(f"/messages/{room.room_id}/poll?after={room.message_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Anyone up for a walk?" in html and "Hello group" not in html
    assert f"poll?after={newer}" in html
    assert sam.get(f"/messages/{room.room_id}/poll?after={newer}").status_code == 204


def test_older_messages_load_in_pages(app, room):
    ids = [_send(app, room.room_id, room.jo, f"Old {i:02d}") for i in range(35)]
    sam = signed_in(app, room.sam)
    page = sam.get(f"/messages/{room.room_id}").get_data(as_text=True)
    assert "Old 34" in page and "Old 04" not in page and "Load older messages" in page
    older = sam.get(f"/messages/{room.room_id}/older?before={ids[5]}").get_data(as_text=True)
    assert "Old 04" in older and "Hello group" in older and "Old 05" not in older


# --- Moderation --------------------------------------------------------------------------------


def test_a_report_reaches_the_facilitators_queue_and_hiding_tells_the_author(app, room, db):
    therapist = signed_in(app, room.therapist)
    queue = therapist.get("/messages/moderation").get_data(as_text=True)
    assert "Hello group" in queue and "Unkind or hurtful" in queue
    assert therapist.post_form(f"/messages/m/{room.message_id}/hide").status_code == 303
    assert "Hello group" not in therapist.get("/messages/moderation").get_data(as_text=True)

    sam_page = signed_in(app, room.sam).get(f"/messages/{room.room_id}").get_data(as_text=True)
    assert "Removed by a moderator" in sam_page and "Hello group" not in sam_page
    jo_page = signed_in(app, room.jo).get(f"/messages/{room.room_id}").get_data(as_text=True)
    assert "only you can still read it" in jo_page
    [note] = db.exec(select(Notification).where(Notification.user_id == room.jo.id)).all()
    assert note.kind == "moderation" and "Hello" not in note.text
    [event] = db.exec(select(AuditEvent).where(AuditEvent.action == "message_hidden")).all()
    assert (event.actor_id, event.subject_id) == (room.therapist.id, room.jo.id)


def test_a_muted_member_cannot_post_until_the_mute_ends(app, room, db):
    with time_machine.travel(NOON, tick=False):
        _send(app, room.room_id, room.sam, "before")  # Sam agreed to the guidelines
        therapist = signed_in(app, room.therapist)
        therapist.post_form(
            f"/messages/{room.room_id}/mute", {"member": str(room.sam.id), "hours": "24"}
        )
        sam = signed_in(app, room.sam)
        refused = _outbox_send(sam, room.room_id, "Let me speak", str(uuid.uuid4()))
        assert refused.status_code == 403 and "paused" in refused.json["errors"][0]
        assert "paused your posting" in sam.get(f"/messages/{room.room_id}").get_data(True)
        assert sam.get(f"/messages/{room.room_id}/poll?after=0").status_code == 200  # reads
        assert _outbox_send(sam, room.care_id, "Care thread", str(uuid.uuid4())).status_code == 200
    with time_machine.travel(NOON + timedelta(hours=25), tick=False):
        sam = signed_in(app, room.sam)
        assert _outbox_send(sam, room.room_id, "Back", str(uuid.uuid4())).status_code == 200
    assert db.exec(select(Mute)).one().user_id == room.sam.id
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "group_member_muted")).one()


def test_a_member_cannot_report_their_own_message_or_one_in_a_care_thread(app, room):
    jo = signed_in(app, room.jo)
    assert (
        jo.post_form(f"/messages/m/{room.message_id}/report", {"reason": "spam"}).status_code == 404
    )
    care_message = _send(app, room.care_id, room.therapist, "Hi Sam")
    sam = signed_in(app, room.sam)
    assert (
        sam.post_form(f"/messages/m/{care_message}/report", {"reason": "spam"}).status_code == 404
    )


def test_a_therapist_may_not_post_to_a_deactivated_participants_thread(app, room, db):
    sam = db.get(User, room.sam.id)
    sam.status = "deactivated"
    db.add(sam)
    db.commit()
    therapist = signed_in(app, room.therapist)
    assert therapist.get(f"/messages/{room.care_id}").status_code == 200
    response = therapist.post_form(
        f"/messages/{room.care_id}/send", {"body": "Hello?", "client_id": str(uuid.uuid4())}
    )
    assert response.status_code == 404


# --- My data -----------------------------------------------------------------------------------


def test_my_data_has_my_messages_only_and_deletion_removes_them(app, room, db):
    _send(app, room.room_id, room.sam, "My own words")
    sam = signed_in(app, room.sam)
    import zipfile
    from io import BytesIO

    archive = zipfile.ZipFile(BytesIO(sam.get("/account/my-data.zip").data))
    exported = archive.read("messages.csv").decode()
    assert "My own words" in exported and "Hello group" not in exported
    with app.app_context(), session_scope() as s:
        from iop_pwa.accounts.my_data import delete_account

        delete_account(s, user=s.get(User, room.sam.id))
    assert db.exec(select(Message).where(Message.body == "My own words")).first() is None
    assert db.get(Conversation, room.care_id) is None
    assert db.exec(select(Message).where(Message.body == "Hello group")).first() is not None
