"""Messages: who belongs to which conversation (an access matrix over every route), unread
counts, sending exactly once (offline too), guidelines, moderation, the crisis flag, and the
"anything new?" poll."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import func, select

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
from tests.helpers import form_fields, send_message

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
    direct_id: int  # Sam and Jo's direct conversation (direct messages are on in the group)
    direct_message_id: int  # Jo's message in it (Sam reported it too)


def _conversations(app, user: User) -> None:
    with app.app_context(), session_scope() as db:
        services.ensure_conversations(db, user=db.get(User, user.id))


@pytest.fixture
def room(app, make_user, db) -> Room:
    therapist = make_user("therapist", email="maya@example.test", group="Evening")
    sam = make_user("participant", email="sam@example.test", therapist=therapist, group="Evening")
    jo = make_user("participant", email="jo@example.test", therapist=therapist, group="Evening")
    _conversations(app, therapist)
    group = db.exec(select(Group).where(Group.name == "Evening")).one()
    room_id = db.exec(select(Conversation.id).where(Conversation.group_id == group.id)).one()
    care_id = db.exec(select(Conversation.id).where(Conversation.participant_id == sam.id)).one()
    message_id = send_message(app, room_id, jo, "Hello group")
    with app.app_context(), session_scope() as s:
        services.report(
            s,
            message=s.get(Message, message_id),
            reporter=s.get(User, sam.id),
            reason="unkind",
            detail="",
        )
    report_id = db.exec(select(MessageReport.id)).one()
    with app.app_context(), session_scope() as s:
        room = s.get(Conversation, room_id)
        services.set_direct_messages(s, room=room, by=s.get(User, therapist.id), on=True)
        direct_id = services.start_direct(s, room=room, by=s.get(User, sam.id), member_id=jo.id).id
    direct_message_id = send_message(app, direct_id, jo, "Hi Sam, just us here")
    with app.app_context(), session_scope() as s:  # facilitators act on reported ones only
        services.report(
            s,
            message=s.get(Message, direct_message_id),
            reporter=s.get(User, sam.id),
            reason="unkind",
            detail="",
        )
    return Room(
        therapist,
        sam,
        jo,
        care_id,
        room_id,
        message_id,
        report_id,
        direct_id,
        direct_message_id,
    )


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
    ("GET", "/messages/{room}/remove?member={jo}", "therapist", 200),
    ("POST", "/messages/{room}/remove", "therapist", 303),
    ("POST", "/messages/{room}/direct-messages", "therapist", 303),
    ("POST", "/messages/{room}/direct", "participant", 303),
    ("GET", "/messages/{direct}", "participant", 200),
    ("POST", "/messages/{direct}/send", "participant", 303),
    ("GET", "/messages/{direct}/poll?after=0", "participant", 200),
    ("GET", "/messages/{direct}/poll?after={dmessage}", "participant", 204),
    ("GET", "/messages/{direct}/older?before={dmessage}", "participant", 200),
    ("POST", "/messages/{direct}/block", "participant", 303),
    ("POST", "/messages/{direct}/unblock", "participant", 303),
    ("GET", "/messages/m/{dmessage}/report", "participant", 200),
    ("POST", "/messages/m/{dmessage}/report", "participant", 303),
    ("GET", "/messages/m/{dmessage}/remove", "therapist", 200),
    ("POST", "/messages/m/{dmessage}/hide", "therapist", 303),
    ("GET", "/messages/m/{message}/report", "participant", 200),
    ("POST", "/messages/m/{message}/report", "participant", 303),
    ("GET", "/messages/m/{message}/remove", "therapist", 200),
    ("POST", "/messages/m/{message}/hide", "therapist", 303),
    ("POST", "/messages/reports/{report}/dismiss", "therapist", 303),
]
# The same routes as Flask writes them, for test_access's check that every route is covered.
MESSAGE_RULES = {
    re.sub(r"\?.*$", "", template)
    .replace("{care}", "<int:conversation_id>")
    .replace("{room}", "<int:conversation_id>")
    .replace("{direct}", "<int:conversation_id>")
    .replace("{message}", "<int:message_id>")
    .replace("{dmessage}", "<int:message_id>")
    .replace("{report}", "<int:report_id>")
    for _, template, _, _ in MESSAGE_ROUTES
}
STAFF_ONLY = ("/guidelines", "/mute", "/remove", "/direct-messages", "/hide", "/dismiss")
MODERATION_ROUTES = [r for r in MESSAGE_ROUTES if re.sub(r"\?.*$", "", r[1]).endswith(STAFF_ONLY)]
# Direct conversations: only their two participants (never the group's facilitators).
DIRECT_ROUTES = [r for r in MESSAGE_ROUTES if "{direct}" in r[1] or "/m/{dmessage}/report" in r[1]]


def _url(template: str, world: Room, **ids: int) -> str:
    room = world
    values = {
        "care": room.care_id,
        "room": room.room_id,
        "message": room.message_id,
        "report": room.report_id,
        "direct": room.direct_id,
        "dmessage": room.direct_message_id,
        "jo": room.jo.id,
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
            "turn": "off",
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
    unknown = dict.fromkeys(("care", "room", "message", "report", "direct", "dmessage"), 999_999)
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
    send_message(app, room.care_id, room.therapist, "How was your week?")
    sam = signed_in(app, room.sam)
    page = sam.get("/messages").get_data(as_text=True)
    titles = re.findall(r'class="conversation-title">([^<]+)<', page)
    # The thread has the newest message, then Jo's direct message, then the group.
    assert titles == ["Care team", room.jo.name, "Evening"]
    assert "1 unread" in page
    # One in the thread, Jo's hello in the group, Jo's direct message.
    assert 'aria-label="Messages, 3 unread"' in page

    sam.get(f"/messages/{room.care_id}")  # reading it
    assert 'aria-label="Messages, 2 unread"' in sam.get("/today").get_data(as_text=True)
    listed = sam.get("/messages").get_data(as_text=True)
    assert 'aria-label="Evening, 1 unread"' in listed  # the cursors are each conversation's own
    assert f'aria-label="{room.jo.name}, 1 unread"' in listed
    assert 'aria-label="Care team, ' not in listed
    sam.get(f"/messages/{room.room_id}")
    sam.get(f"/messages/{room.direct_id}")
    today = sam.get("/today").get_data(as_text=True)
    assert "unread" not in today and "nav-count" not in today


def test_a_therapist_sees_the_participants_name_and_answers(app, room, db):
    send_message(app, room.care_id, room.sam, "Can we talk about Thursday?")
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
        send_message(app, room.care_id, room.sam, text)
    notes = db.exec(select(Notification).where(Notification.user_id == room.therapist.id)).all()
    assert [(n.kind, n.text) for n in notes] == [("message", "New message in a care-team thread")]


def test_group_messages_notify_no_one(app, room, db):
    send_message(app, room.room_id, room.sam, "Hi all")
    assert db.exec(select(Notification)).all() == []


def test_today_shows_unread_care_team_messages(app, room):
    sam = signed_in(app, room.sam)
    assert "from your care team" not in sam.get("/today").get_data(as_text=True)
    send_message(app, room.care_id, room.therapist, "Checking in")
    send_message(app, room.care_id, room.therapist, "Here if you need us")
    today = sam.get("/today").get_data(as_text=True)
    assert "2 new messages from your care team" in today
    assert f'href="/messages/{room.care_id}"' in today


def test_pages_run_a_constant_number_of_queries(app, room, make_user, count_queries):
    send_message(app, room.care_id, room.therapist, "Welcome")  # every conversation has messages
    clients = {"sam": signed_in(app, room.sam), "maya": signed_in(app, room.therapist)}
    paths = [
        ("sam", "/messages"),
        ("sam", f"/messages/{room.room_id}"),
        ("sam", f"/messages/{room.direct_id}"),
        ("sam", "/today"),
        ("maya", "/messages"),
        ("maya", f"/messages/{room.care_id}"),
        ("maya", "/dashboard"),
    ]
    counts = {}
    for size in ("small", "large"):
        if size == "large":
            for i in range(40):
                send_message(
                    app, room.room_id, room.jo if i % 2 else room.therapist, f"Message {i}"
                )
            send_message(app, room.care_id, room.therapist, "Hello")
            for i in range(35):
                send_message(app, room.direct_id, room.jo if i % 2 else room.sam, f"Direct {i}")
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
    send_message(
        app, room.care_id, room.therapist, 'See https://example.org/a?b=1. <b>bold</b> "q"'
    )
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
    # One statement answers it, before Flask (`quick_answers`): Sam's session from the cookie's
    # token, and whether the conversation is his and holds nothing after N.
    assert len(queries) == 1, queries
    assert "loginsession" in queries[0] and "message" in queries[0]


def test_poll_brings_what_is_new_and_asks_after_it_next(app, room):
    sam = signed_in(app, room.sam)
    newer = send_message(app, room.room_id, room.jo, "Anyone up for a walk?")
    response = sam.get(f"/messages/{room.room_id}/poll?after={room.message_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Anyone up for a walk?" in html and "Hello group" not in html
    assert f"poll?after={newer}" in html
    assert sam.get(f"/messages/{room.room_id}/poll?after={newer}").status_code == 204


def test_older_messages_load_in_pages(app, room):
    ids = [send_message(app, room.room_id, room.jo, f"Old {i:02d}") for i in range(35)]
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
    assert (
        therapist.post_form(f"/messages/m/{room.message_id}/hide", {"reason": "unkind"}).status_code
        == 303
    )
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
        send_message(app, room.room_id, room.sam, "before")  # Sam agreed to the guidelines
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
    care_message = send_message(app, room.care_id, room.therapist, "Hi Sam")
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


# --- Direct messages between members -----------------------------------------------------------


@pytest.mark.parametrize(("method", "template", "who", "ok"), DIRECT_ROUTES)
def test_only_its_two_people_reach_a_direct_conversation(
    app, room, make_user, db, method, template, who, ok
):
    """Not the group's facilitator (who has both on their caseload), not a third member."""
    alex = make_user("participant", email="alex@example.test", group="Evening")
    for person in (room.therapist, alex):
        _conversations(app, person)
        client = signed_in(app, person)
        assert _call(client, method, _url(template, room), room).status_code == 404
        assert f"/messages/{room.direct_id}" not in client.get("/messages").get_data(True)
    denied = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert sorted(e.actor_id for e in denied) == sorted([room.therapist.id, alex.id])


def _join(app, user: User, group_name: str) -> None:
    from iop_pwa.accounts import services as accounts

    with app.app_context(), session_scope() as s:
        accounts.add_to_group(
            s, user=s.get(User, user.id), group=accounts.get_or_create_group(s, group_name)
        )


def test_direct_messages_are_off_until_a_facilitator_turns_them_on(app, room, make_user, db):
    alex = make_user("participant", email="alex@example.test", name="Alex", group="Evening")
    therapist = signed_in(app, room.therapist)
    assert "Turn off direct messages" in therapist.get(f"/messages/{room.room_id}").get_data(True)
    turned = therapist.post_form(f"/messages/{room.room_id}/direct-messages", {"turn": "off"})
    assert turned.status_code == 303
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "group_direct_messages_off")).one()

    sam = signed_in(app, room.sam)
    page = sam.get(f"/messages/{room.room_id}").get_data(as_text=True)
    assert "Message Alex" not in page
    refused = sam.post_form(f"/messages/{room.room_id}/direct", {"member": str(alex.id)})
    assert refused.status_code == 403
    assert "Direct messages are turned off in this group." in refused.get_data(True)
    # The conversation Sam and Jo had stays readable, with the reason it is read-only.
    direct = sam.get(f"/messages/{room.direct_id}").get_data(as_text=True)
    assert "Hi Sam, just us here" in direct and 'name="body"' not in direct
    assert "turned direct messages off, so this conversation is read-only" in direct
    sent = _outbox_send(sam, room.direct_id, "Still there?", str(uuid.uuid4()))
    assert sent.status_code == 403 and "read-only" in sent.json["errors"][0]

    therapist.post_form(f"/messages/{room.room_id}/direct-messages", {"turn": "on"})
    turned_on = select(AuditEvent).where(AuditEvent.action == "group_direct_messages_on")
    assert len(db.exec(turned_on).all()) == 2  # by the fixture, and now
    assert "Message Alex" in sam.get(f"/messages/{room.room_id}").get_data(True)
    started = sam.post_form(f"/messages/{room.room_id}/direct", {"member": str(alex.id)})
    assert started.status_code == 303
    direct_id = int(started.headers["Location"].rsplit("/", 1)[1])
    again = sam.post_form(f"/messages/{room.room_id}/direct", {"member": str(alex.id)})
    assert again.headers["Location"] == started.headers["Location"]  # one conversation a pair
    assert _outbox_send(sam, direct_id, "Hi Alex", str(uuid.uuid4())).status_code == 200
    conversation = db.get(Conversation, direct_id)
    assert {conversation.peer_a_id, conversation.peer_b_id} == {room.sam.id, alex.id}
    # Someone outside the group, or oneself, cannot be messaged from it.
    stranger = make_user("participant", group="Another group")
    for member in (stranger.id, room.sam.id, room.therapist.id):
        answer = sam.post_form(f"/messages/{room.room_id}/direct", {"member": str(member)})
        assert answer.status_code == 404


def test_a_direct_message_is_listed_counted_and_polled_for_both(app, room):
    sam = signed_in(app, room.sam)
    sam.get(f"/messages/{room.direct_id}")  # Sam reads Jo's message
    _outbox_send(sam, room.direct_id, "Hi Jo, good to hear from you", str(uuid.uuid4()))
    jo = signed_in(app, room.jo)
    listed = jo.get("/messages").get_data(as_text=True)
    assert f'aria-label="{room.sam.name}, 1 unread"' in listed
    assert "Direct message, Evening" in listed
    assert 'aria-label="Messages, 1 unread"' in listed
    polled = jo.get(f"/messages/{room.direct_id}/poll?after={room.direct_message_id}")
    assert polled.status_code == 200 and "good to hear from you" in polled.get_data(True)
    assert 'aria-label="Messages, ' not in jo.get("/today").get_data(True)  # the poll read it
    page = sam.get("/messages").get_data(as_text=True)
    assert f'class="conversation-title">{room.jo.name}<' in page
    assert (
        "Report"
        not in sam.get(f"/messages/{room.direct_id}")
        .get_data(True)
        .split("good to hear")[1]
        .split("</li>")[0]
    )  # no report link on one's own message


def test_blocking_stops_the_other_from_starting_or_continuing(app, room, db):
    sam = signed_in(app, room.sam)
    page = sam.get(f"/messages/{room.direct_id}").get_data(as_text=True)
    assert f"Block {room.jo.name}" in page
    assert sam.post_form(f"/messages/{room.direct_id}/block").status_code == 303
    [event] = db.exec(select(AuditEvent).where(AuditEvent.action == "message_peer_blocked")).all()
    assert (event.actor_id, event.subject_id) == (room.sam.id, room.jo.id)
    page = sam.get(f"/messages/{room.direct_id}").get_data(as_text=True)
    assert "You blocked" in page and f"Unblock {room.jo.name}" in page

    jo = signed_in(app, room.jo)
    page = jo.get(f"/messages/{room.direct_id}").get_data(as_text=True)
    assert f"{room.sam.name} is not taking direct messages from you" in page
    assert 'name="body"' not in page
    refused = _outbox_send(jo, room.direct_id, "Why?", str(uuid.uuid4()))
    assert refused.status_code == 403
    # Nor in another group they share.
    for person in (room.sam, room.jo, room.therapist):
        _join(app, person, "Weekend")
    with app.app_context(), session_scope() as s:
        group = s.exec(select(Group).where(Group.name == "Weekend")).one()
        s.exec(select(GroupMembership).where(GroupMembership.user_id == room.therapist.id))
        membership = s.exec(
            select(GroupMembership).where(
                GroupMembership.group_id == group.id,
                GroupMembership.user_id == room.therapist.id,
            )
        ).one()
        membership.is_facilitator = True
        s.add(membership)
    _conversations(app, room.therapist)
    weekend = db.exec(
        select(Conversation).where(Conversation.group_id == group.id, Conversation.kind == "group")
    ).one()
    signed_in(app, room.therapist).post_form(
        f"/messages/{weekend.id}/direct-messages", {"turn": "on"}
    )
    again = jo.post_form(f"/messages/{weekend.id}/direct", {"member": str(room.sam.id)})
    assert again.status_code == 403
    assert "is not taking direct messages from you" in again.get_data(True)

    assert sam.post_form(f"/messages/{room.direct_id}/unblock").status_code == 303
    assert _outbox_send(jo, room.direct_id, "Thanks", str(uuid.uuid4())).status_code == 200


def test_leaving_the_group_makes_direct_conversations_read_only(app, room):
    therapist = signed_in(app, room.therapist)
    therapist.post_form(f"/messages/{room.room_id}/remove", {"member": str(room.jo.id)})
    sam = signed_in(app, room.sam)
    page = sam.get(f"/messages/{room.direct_id}").get_data(as_text=True)
    assert f"{room.jo.name} is no longer in Evening, so this conversation is read-only." in page
    assert _outbox_send(sam, room.direct_id, "Miss you", str(uuid.uuid4())).status_code == 403
    jo = signed_in(app, room.jo)
    page = jo.get(f"/messages/{room.direct_id}").get_data(as_text=True)
    assert "Hi Sam, just us here" in page
    assert "You are no longer in Evening, so this conversation is read-only." in page
    assert _outbox_send(jo, room.direct_id, "Bye", str(uuid.uuid4())).status_code == 403


def test_a_report_in_a_direct_message_goes_to_the_groups_facilitators(app, room, db):
    sam = signed_in(app, room.sam)
    reported = sam.post_form(
        f"/messages/m/{room.direct_message_id}/report", {"reason": "unkind", "detail": ""}
    )
    assert reported.status_code == 303
    therapist = signed_in(app, room.therapist)
    queue = therapist.get("/messages/moderation").get_data(as_text=True)
    assert "Hi Sam, just us here" in queue and "a direct message between members" in queue
    assert f"/messages/{room.direct_id}#" not in queue  # facilitators do not open it
    assert (
        therapist.post_form(
            f"/messages/m/{room.direct_message_id}/hide", {"reason": "unkind"}
        ).status_code
        == 303
    )
    page = sam.get(f"/messages/{room.direct_id}").get_data(as_text=True)
    assert "Removed by a moderator" in page and "just us here" not in page
    notes = db.exec(select(Notification).where(Notification.user_id == room.jo.id)).all()
    assert [n.kind for n in notes] == ["moderation"]
    assert notes[0].object_id == room.direct_id


def test_crisis_language_in_a_direct_message_raises_a_flag(app, room, db):
    jo = signed_in(app, room.jo)
    answer = _outbox_send(jo, room.direct_id, "I want to die tonight", str(uuid.uuid4()))
    assert answer.status_code == 200 and answer.json["crisis"] is True
    [flag] = db.exec(select(CareFlag)).all()
    assert (flag.participant_id, flag.source_type) == (room.jo.id, "message")


def test_a_mute_in_the_group_holds_in_its_direct_messages_and_so_do_rate_limits(app, room):
    therapist = signed_in(app, room.therapist)
    therapist.post_form(
        f"/messages/{room.room_id}/mute", {"member": str(room.jo.id), "hours": "24"}
    )
    jo = signed_in(app, room.jo)
    refused = _outbox_send(jo, room.direct_id, "Psst", str(uuid.uuid4()))
    assert refused.status_code == 403 and "paused" in refused.json["errors"][0]
    assert "paused your posting" in jo.get(f"/messages/{room.direct_id}").get_data(True)
    sam = signed_in(app, room.sam)
    answers = [
        _outbox_send(sam, room.direct_id, f"Hi {i}", str(uuid.uuid4())).status_code
        for i in range(21)
    ]
    assert answers[:20] == [200] * 20 and answers[20] == 429


def test_a_direct_message_with_a_closed_account_is_read_only(app, room, db):
    jo = db.get(User, room.jo.id)
    jo.status = "deactivated"
    db.add(jo)
    db.commit()
    sam = signed_in(app, room.sam)
    page = sam.get(f"/messages/{room.direct_id}").get_data(as_text=True)
    assert "account is closed, so this conversation is read-only." in page
    assert 'name="body"' not in page


# --- History starts when a member joined -------------------------------------------------------


def test_a_member_who_joins_later_sees_and_counts_only_what_came_after(app, room, make_user):
    before = [send_message(app, room.room_id, room.sam, f"Before {i:02d}") for i in range(35)]
    with time_machine.travel(utcnow() + timedelta(minutes=5)):
        pat = make_user("participant", email="pat@example.test", name="Pat", group="Evening")
    with time_machine.travel(utcnow() + timedelta(minutes=10)):
        after = [send_message(app, room.room_id, room.jo, f"After {i:02d}") for i in range(32)]
        _conversations(app, pat)
        client = signed_in(app, pat)
        assert 'aria-label="Messages, 32 unread"' in client.get("/today").get_data(True)
        listed = client.get("/messages").get_data(as_text=True)
        assert 'aria-label="Evening, 32 unread"' in listed
        page = client.get(f"/messages/{room.room_id}").get_data(as_text=True)
        assert "After 31" in page and "After 01" not in page and not re.search(r"Before \d\d", page)
        assert "Load older messages" in page
        older = client.get(f"/messages/{room.room_id}/older?before={after[2]}").get_data(True)
        assert "After 00" in older and "After 01" in older
        assert not re.search(r"Before \d\d", older) and "Hello group" not in older
        assert "Load older messages" not in older  # nothing older is theirs
        earliest = client.get(f"/messages/{room.room_id}/older?before={before[-1]}")
        assert not re.search(r"Before \d\d", earliest.get_data(True))
        polled = client.get(f"/messages/{room.room_id}/poll?after=0").get_data(as_text=True)
        assert (
            "After 00" in polled
            and not re.search(r"Before \d\d", polled)
            and "Hello group" not in polled
        )
        assert "unread" not in client.get("/today").get_data(True)

        # Facilitators see the whole history.
        therapist = signed_in(app, room.therapist)
        older = therapist.get(f"/messages/{room.room_id}/older?before={after[2]}").get_data(True)
        assert "Before 34" in older and "Load older messages" in older


# --- Removing a member asks first --------------------------------------------------------------


def test_removing_a_member_asks_first_and_says_what_happens(app, room, db):
    therapist = signed_in(app, room.therapist)
    page = therapist.get(f"/messages/{room.room_id}").get_data(as_text=True)
    link = f"/messages/{room.room_id}/remove?member={room.jo.id}"
    assert f'href="{link}"' in page
    assert f"Remove {room.jo.name} from the group" in page
    confirm = therapist.get(link).get_data(as_text=True)
    assert f"Remove {room.jo.name} from Evening?" in confirm
    assert "no longer sees the group's room" in confirm and "without the reason" in confirm
    assert f'<button type="submit" class="button-primary">Remove {room.jo.name} from the group' in (
        confirm
    )
    assert db.exec(select(GroupMembership).where(GroupMembership.user_id == room.jo.id)).first()
    for someone in (room.therapist.id, 999_999, "x"):
        assert therapist.get(f"/messages/{room.room_id}/remove?member={someone}").status_code == 404
    done = therapist.post_form(
        f"/messages/{room.room_id}/remove", {"member": str(room.jo.id)}, follow_redirects=True
    )
    assert f"{room.jo.name} is no longer in the group" in done.get_data(True)
    assert not db.exec(select(GroupMembership).where(GroupMembership.user_id == room.jo.id)).first()
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "group_member_removed")).one()
    told = db.exec(select(Notification).where(Notification.user_id == room.jo.id)).all()
    assert [n.kind for n in told] == ["group_removed"]


# --- Alumni ------------------------------------------------------------------------------------


def test_an_alumni_member_posts_in_their_alumni_group_and_care_team_thread(app, make_user, db):
    therapist = make_user("therapist", email="maya@example.test", group="Alumni circle")
    morgan = make_user("participant", therapist=therapist, group="Alumni circle", name="Morgan")
    riley = make_user("participant", therapist=therapist, group="Alumni circle", name="Riley")
    for person in (morgan, riley):
        row = db.get(User, person.id)
        row.status = "alumni"
        db.add(row)
    db.commit()
    _conversations(app, therapist)
    room_id = db.exec(select(Conversation.id).where(Conversation.kind == "group")).one()
    care_id = db.exec(select(Conversation.id).where(Conversation.participant_id == morgan.id)).one()
    client = signed_in(app, morgan)
    assert client.post_form(f"/messages/{room_id}/agree").status_code == 303
    assert _outbox_send(client, room_id, "Six months today", str(uuid.uuid4())).status_code == 200
    assert (
        _outbox_send(client, care_id, "Still doing the breathing", str(uuid.uuid4())).json["status"]
        == "saved"
    )
    assert "Six months today" in signed_in(app, riley).get(f"/messages/{room_id}").get_data(True)
    staff = signed_in(app, therapist)
    assert "Still doing the breathing" in staff.get(f"/messages/{care_id}").get_data(True)
    answer = staff.post_form(
        f"/messages/{care_id}/send", {"body": "Lovely to hear", "client_id": str(uuid.uuid4())}
    )
    assert answer.status_code == 303
    # A deactivated account cannot sign in at all, and its thread takes no new messages.
    row = db.get(User, morgan.id)
    row.status = "deactivated"
    db.add(row)
    db.commit()
    assert client.get(f"/messages/{room_id}").status_code in (302, 303)
    refused = staff.post_form(
        f"/messages/{care_id}/send", {"body": "Hello?", "client_id": str(uuid.uuid4())}
    )
    assert refused.status_code == 404


# --- My data -----------------------------------------------------------------------------------


def test_my_data_has_my_messages_only_and_deletion_removes_them(app, room, db):
    send_message(app, room.room_id, room.sam, "My own words")
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


def _blocks_exported(client) -> list[str]:
    archive = zipfile.ZipFile(io.BytesIO(client.get("/account/my-data.zip").data))
    found = json.loads(archive.read("my-data.json"))["message_blocks"]
    rows = list(csv.DictReader(io.StringIO(archive.read("message_blocks.csv").decode())))
    assert [row["blocked"] for row in rows] == [b["blocked"] for b in found]
    return [b["blocked"] for b in found]


def test_my_data_lists_the_members_i_blocked(app, room):
    sam = signed_in(app, room.sam)
    assert _blocks_exported(sam) == []
    assert sam.post_form(f"/messages/{room.direct_id}/block").status_code == 303
    assert _blocks_exported(sam) == [room.jo.name]
    assert _blocks_exported(signed_in(app, room.jo)) == []  # being blocked is not Jo's record


def test_deleting_an_account_removes_its_direct_conversations_and_blocks(app, room, db):
    sam = signed_in(app, room.sam)
    sam.post_form(f"/messages/{room.direct_id}/block")
    _outbox_send(sam, room.direct_id, "Mine", str(uuid.uuid4()))
    with app.app_context(), session_scope() as s:
        from iop_pwa.accounts.my_data import delete_account

        delete_account(s, user=s.get(User, room.jo.id))
    assert db.get(Conversation, room.direct_id) is None
    assert db.exec(select(Message).where(Message.body == "Mine")).first() is None
    from iop_pwa.messages.models import Block

    assert db.exec(select(Block)).all() == []


def test_odd_moderation_and_direct_message_forms_get_a_clear_4xx(app, room, db):
    therapist = signed_in(app, room.therapist)
    odd = therapist.post_form(f"/messages/{room.room_id}/direct-messages", {"turn": "sideways"})
    assert odd.status_code == 422
    assert "Choose whether direct messages are on or off." in odd.get_data(True)
    assert db.get(Conversation, room.room_id).direct_messages is True
    nobody = therapist.post_form(f"/messages/{room.room_id}/remove", {"member": ""})
    assert nobody.status_code == 422 and "Choose who to remove" in nobody.get_data(True)
    no_time = therapist.post_form(f"/messages/{room.room_id}/mute", {"member": str(room.jo.id)})
    assert no_time.status_code == 422
    sam = signed_in(app, room.sam)
    no_one = sam.post_form(f"/messages/{room.room_id}/direct", {"member": ""})
    assert no_one.status_code == 422 and "Choose who to message." in no_one.get_data(True)
    assert sam.post_form(f"/messages/{room.care_id}/block").status_code == 404


class _Crash(Exception):
    """Stands for the process dying after the message's savepoint and before the commit."""


def test_a_crash_after_a_crisis_message_keeps_it_and_its_flag_together(app, room, db):
    """On SQLite the release of a first savepoint commits it: a flag raised after the savepoint
    would be lost in a crash in between, and the replay (same client id) finds the message and
    never flags. Message and flag stand or fall together, on either database."""
    with app.app_context(), session_scope() as setup:
        services.agree(
            setup,
            conversation=setup.get(Conversation, room.care_id),
            user=setup.get(User, room.sam.id),
        )
    with pytest.raises(_Crash), app.app_context(), session_scope() as crashing:
        services.send(
            crashing,
            conversation=crashing.get(Conversation, room.care_id),
            author=crashing.get(User, room.sam.id),
            client_id=str(uuid.uuid4()),
            body="Some nights I want to die",
            written_at=utcnow(),
        )
        raise _Crash
    db.expire_all()
    stored = db.exec(
        select(func.count()).select_from(Message).where(Message.conversation_id == room.care_id)
    ).one()
    flags = db.exec(select(CareFlag).where(CareFlag.source_type == "message")).all()
    assert (stored, len(flags)) in {(0, 0), (1, 1)}


# --- A message id shows no more than the room does (issue #22) ---------------------------------

# Every route that takes a message id: what a member may use, and a facilitator's.
MEMBER_MESSAGE_ROUTES = [("GET", "/messages/m/{id}/report"), ("POST", "/messages/m/{id}/report")]
FACILITATOR_MESSAGE_ROUTES = [("GET", "/messages/m/{id}/remove"), ("POST", "/messages/m/{id}/hide")]


def _answers(client, routes, message_id: int, room: Room) -> list[tuple[str, str, int, bool]]:
    """Each route's status, and whether its answer holds any of the message's words."""
    answers = []
    for method, template in routes:
        response = _call(client, method, template.format(id=message_id), room)
        answers.append((method, template, response.status_code, "words" in response.get_data(True)))
    return answers


def _refused(routes) -> list[tuple[str, str, int, bool]]:
    return [(method, template, 404, False) for method, template in routes]


def _discharge_and_readmit(therapist, person: User, group_id: int) -> None:
    """The therapist discharges `person` to alumni today through the page's own form, then
    re-admits them to the group."""
    path = f"/dashboard/participants/{person.id}/discharge"
    out = therapist.post_form(path, form_fields(therapist.get(path).get_data(True)))
    assert out.status_code == 303, out.get_data(True)[:2000]
    back = therapist.post_form(
        f"/dashboard/participants/{person.id}/readmit", {"group": str(group_id)}
    )
    assert back.status_code == 303, back.get_data(True)[:2000]


def test_report_never_shows_a_message_the_room_does_not(app, room, make_user, db):
    """42 CFR Part 2: walking message ids through "Report" reads nothing the room hides."""
    group_id = db.get(Conversation, room.room_id).group_id
    therapist = signed_in(app, room.therapist)
    removed = send_message(app, room.room_id, room.jo, "removed words")
    assert therapist.post_form(f"/messages/m/{removed}/hide", {"reason": "unkind"}).status_code
    hidden_direct = send_message(app, room.direct_id, room.jo, "hidden direct words")
    sam = signed_in(app, room.sam)
    sam.post_form(f"/messages/m/{hidden_direct}/report", {"reason": "unkind"})
    therapist.post_form(f"/messages/m/{hidden_direct}/hide", {"reason": "unkind"})

    # A message a moderator removed, in the room and in a direct conversation: the room shows
    # "Removed by a moderator", and so Report answers 404.
    for conversation_id, message_id in ((room.room_id, removed), (room.direct_id, hidden_direct)):
        page = sam.get(f"/messages/{conversation_id}").get_data(True)
        assert "Removed by a moderator" in page and "words" not in page
        assert _answers(sam, MEMBER_MESSAGE_ROUTES, message_id, room) == _refused(
            MEMBER_MESSAGE_ROUTES
        )

    # A member who joined later: what came before is not in their room, nor behind Report.
    with time_machine.travel(utcnow() + timedelta(minutes=5)):
        before = send_message(app, room.room_id, room.jo, "words from before Pat")
    with time_machine.travel(utcnow() + timedelta(minutes=10)):
        pat = make_user("participant", email="pat@example.test", name="Pat", group="Evening")
    with time_machine.travel(utcnow() + timedelta(minutes=15)):
        after = send_message(app, room.room_id, room.jo, "Welcome Pat")
        client = signed_in(app, pat)
        assert "words from before Pat" not in client.get(f"/messages/{room.room_id}").get_data(True)
        assert _answers(client, MEMBER_MESSAGE_ROUTES, before, room) == _refused(
            MEMBER_MESSAGE_ROUTES
        )
        assert client.get(f"/messages/m/{after}/report").status_code == 200

        # A re-admitted member: their history starts again when they came back.
        away = send_message(app, room.room_id, room.jo, "words while Sam was away")
    with time_machine.travel(utcnow() + timedelta(minutes=20)):
        therapist = signed_in(app, room.therapist)
        _discharge_and_readmit(therapist, room.sam, group_id)
    with time_machine.travel(utcnow() + timedelta(minutes=25)):
        back = send_message(app, room.room_id, room.jo, "Welcome back Sam")
        sam = signed_in(app, room.sam)
        page = sam.get(f"/messages/{room.room_id}").get_data(True)
        assert "Welcome back Sam" in page and "words" not in page
        for message_id in (room.message_id, before, away):
            assert _answers(sam, MEMBER_MESSAGE_ROUTES, message_id, room) == _refused(
                MEMBER_MESSAGE_ROUTES
            )
        assert sam.get(f"/messages/m/{back}/report").status_code == 200

        # A facilitator never reads a direct conversation: only what was reported to them.
        unreported = send_message(app, room.direct_id, room.jo, "direct words, not reported")
        therapist = signed_in(app, room.therapist)
        assert _answers(therapist, FACILITATOR_MESSAGE_ROUTES, unreported, room) == _refused(
            FACILITATOR_MESSAGE_ROUTES
        )
        assert db.get(Message, unreported).hidden_at is None
    assert db.exec(select(MessageReport).where(MessageReport.message_id == before)).first() is None
    denied = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert len(denied) == 2 * 2 + 2 + 3 * 2 + 2  # every refusal is audited


def test_removing_a_message_asks_why_and_tells_the_author_in_general_words(app, room, db):
    therapist = signed_in(app, room.therapist)
    queue = therapist.get("/messages/moderation").get_data(as_text=True)
    link = f"/messages/m/{room.message_id}/remove?next=moderation"
    assert f'href="{link}"' in queue and "Remove the message…" in queue
    confirm = therapist.get(link).get_data(as_text=True)
    assert "Remove this message?" in confirm and "Hello group" in confirm
    assert "Unkind or hurtful" in confirm and "Why is it removed?" in confirm
    assert '<button type="submit" class="button-primary">Remove message</button>' in confirm
    assert db.get(Message, room.message_id).hidden_at is None  # nothing happened yet

    no_reason = therapist.post_form(f"/messages/m/{room.message_id}/hide", {"next": "moderation"})
    assert no_reason.status_code == 422
    assert "Choose why the message is removed." in no_reason.get_data(True)
    db.expire_all()
    assert db.get(Message, room.message_id).hidden_at is None

    done = therapist.post_form(
        f"/messages/m/{room.message_id}/hide", {"reason": "unkind", "next": "moderation"}
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/messages/moderation")
    db.expire_all()
    assert db.get(Message, room.message_id).hidden_at is not None
    [note] = db.exec(select(Notification).where(Notification.user_id == room.jo.id)).all()
    assert note.kind == "moderation"
    assert "because it could hurt others in the group" in note.text and "Hello" not in note.text
    [event] = db.exec(select(AuditEvent).where(AuditEvent.action == "message_hidden")).all()
    assert event.detail == "reason=unkind"

    # In the room, "Remove" leads to the same question first.
    other = send_message(app, room.room_id, room.jo, "Another one")
    page = therapist.get(f"/messages/{room.room_id}").get_data(as_text=True)
    assert f'href="/messages/m/{other}/remove"' in page
    assert f'action="/messages/m/{other}/hide"' not in page


def _listed(page: str, title: str) -> str:
    """The Messages list's line for one conversation, as text."""
    match = re.search(
        r'<li>\s*<a [^>]*><span class="conversation-title">'
        + re.escape(title)
        + r"</span>.*?</li>",
        page,
        re.S,
    )
    assert match, title
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0))).strip()


def test_a_new_member_sees_no_last_message_for_a_room_quiet_since_they_joined(app, room, make_user):
    start = utcnow() + timedelta(hours=1)  # after the fixture's messages
    with time_machine.travel(start, tick=False):
        send_message(app, room.room_id, room.jo, "Before Pat came")
    with time_machine.travel(start + timedelta(days=1), tick=False):
        pat = make_user("participant", email="pat@example.test", name="Pat", group="Evening")
        _conversations(app, pat)
        listed = _listed(signed_in(app, pat).get("/messages").get_data(True), "Evening")
        assert "no messages yet" in listed and "last message" not in listed
    with time_machine.travel(start + timedelta(days=2), tick=False):
        send_message(app, room.room_id, room.jo, "Welcome Pat")
        listed = _listed(signed_in(app, pat).get("/messages").get_data(True), "Evening")
        assert "last message" in listed and "no messages yet" not in listed
        # Those who were there all along see the same time.
        assert _listed(signed_in(app, room.sam).get("/messages").get_data(True), "Evening") == (
            listed.replace("1 unread", "3 unread")
        )


def test_staff_reads_of_messages_are_audited_with_the_participant_as_subject(
    app, room, db, count_queries
):
    send_message(app, room.care_id, room.sam, "A hard week")
    therapist = signed_in(app, room.therapist)

    def reads_of(path: str, status: int = 200) -> list[tuple]:
        seen = db.exec(select(func.max(AuditEvent.id))).one() or 0
        assert therapist.get(path).status_code == status
        return [
            (e.subject_id, e.object_type, e.object_id, e.detail)
            for e in db.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "staff_read", AuditEvent.id > seen)
                .order_by(AuditEvent.id)
            )
        ]

    assert reads_of("/messages") == [(None, "caseload", None, "messages: 2 participants")]
    care = f"/messages/{room.care_id}"
    assert reads_of(care) == [
        (room.sam.id, "conversation", room.care_id, "conversation, messages shown: 1")
    ]
    here = f"/messages/{room.room_id}"
    assert reads_of(here) == [
        (room.jo.id, "conversation", room.room_id, "conversation, messages shown: 1")
    ]
    with count_queries() as queries:
        therapist.get(here)
    one_subject = len(queries)
    newer = send_message(app, room.room_id, room.sam, "Thanks all")
    assert reads_of(f"{here}/older?before={newer}") == [
        (room.jo.id, "conversation", room.room_id, "older, messages shown: 1")
    ]
    assert reads_of(f"{here}/poll?after={room.message_id}") == [
        (room.sam.id, "conversation", room.room_id, "poll, messages shown: 1")
    ]
    assert reads_of(f"{here}/poll?after={newer}", 204) == []  # nothing shown, nothing read
    # The queue shows Jo's reported messages, her direct one too.
    assert reads_of("/messages/moderation") == [
        (room.jo.id, "moderation_queue", None, "moderation, reports shown: 2")
    ]
    # One subject or two: the rows go in one statement, and the page's count stays the same.
    assert len({subject for subject, *_ in reads_of(here)}) == 2
    with count_queries() as two_subjects:
        therapist.get(here)
    assert len(two_subjects) == one_subject, two_subjects
    # A participant's own reading is not a staff read.
    sam = signed_in(app, room.sam)
    sam.get(care)
    sam.get(here)
    assert not db.exec(
        select(AuditEvent).where(
            AuditEvent.action == "staff_read", AuditEvent.actor_id == room.sam.id
        )
    ).all()


def test_a_peers_safety_report_flags_the_person_and_comes_first_in_the_queue(app, room, db):
    worrying = send_message(app, room.room_id, room.jo, "Gave away my things this week")
    sam = signed_in(app, room.sam)
    page = sam.get(f"/messages/m/{worrying}/report").get_data(as_text=True)
    assert "Worried about someone&#39;s safety" in page and "Get help now" in page
    done = sam.post_form(
        f"/messages/m/{worrying}/report", {"reason": "unsafe"}, follow_redirects=True
    )
    assert "Their care team and the group" in done.get_data(as_text=True)

    # Jo is flagged, like crisis language: the dashboard's top tier, and an alert.
    [flag] = db.exec(select(CareFlag)).all()
    assert (flag.participant_id, flag.reason, flag.source_type, flag.source_id) == (
        room.jo.id,
        "peer_report",
        "message",
        worrying,
    )
    [alert] = db.exec(select(Notification).where(Notification.kind == "care_flag")).all()
    assert alert.user_id == room.therapist.id and "Gave" not in alert.text
    therapist = signed_in(app, room.therapist)
    dashboard = therapist.get("/dashboard").get_data(as_text=True)
    first = dashboard.split('<li class="caseload-row')[1]
    assert first.startswith(" flagged") and room.jo.name in first
    assert "A group member is worried about their safety, after a message" in first
    assert "Gave away" not in dashboard

    # The queue puts it first, before the older "unkind" report, with Jo's page.
    queue = therapist.get("/messages/moderation").get_data(as_text=True)
    assert queue.index("Gave away my things") < queue.index("Hello group")
    assert f"Worried about {room.jo.name}'s safety." in queue
    assert f'href="/dashboard/participants/{room.jo.id}">Open {room.jo.name}\'s page' in queue

    # Reported again (by someone else, or as "unkind"): still one flag, one alert.
    sam.post_form(f"/messages/m/{worrying}/report", {"reason": "unsafe"})
    assert len(db.exec(select(CareFlag)).all()) == 1
    # Other reasons flag no one.
    sam.post_form(f"/messages/m/{room.direct_message_id}/report", {"reason": "unkind"})
    assert len(db.exec(select(CareFlag)).all()) == 1
