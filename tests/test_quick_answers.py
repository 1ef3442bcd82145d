"""The poll's quick answer (`iop_pwa.quick_answers`): the WSGI layer in front of Flask may say
"nothing new" (204) only where the app itself would; every other poll reaches the app, which
answers as always. Each test knows who answered by counting the requests that reached the app
behind the layer (`reached_app`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
import time_machine
from sqlmodel import select

from iop_pwa.accounts import services as accounts
from iop_pwa.accounts import sessions as login_sessions
from iop_pwa.accounts.models import Group, LoginSession, ParticipantStatus, User
from iop_pwa.accounts.recent_auth import SESSION_TOKEN_KEY
from iop_pwa.audit import AuditEvent
from iop_pwa.db import session_scope, utcnow
from iop_pwa.messages import services
from iop_pwa.messages.models import Conversation
from iop_pwa.security import BASELINE_HEADERS
from tests.helpers import send_message, signed_in

SECURITY_HEADERS = [name for name, _ in BASELINE_HEADERS]


@pytest.fixture
def reached_app(app):
    """The requests (path and query) the layer passed on to the Flask app (the real app)."""
    layer = app.extensions["quick_answers"]
    inner, calls = layer.inner, []

    def counting(environ, start_response):
        query = environ.get("QUERY_STRING", "")
        calls.append(environ["PATH_INFO"] + (f"?{query}" if query else ""))
        return inner(environ, start_response)

    layer.inner = counting
    yield calls
    layer.inner = inner


@dataclass
class World:
    maya: User  # therapist: Sam's and Jo's care team, facilitator of Evening
    kim: User  # therapist: on Sam's care team too, not a facilitator of Evening
    lee: User  # therapist: Pat's care team, facilitator of Morning only
    sam: User  # participant in Evening
    jo: User  # participant in Evening
    pat: User  # participant in Morning
    room_id: int  # Evening's room
    care_id: int  # Sam's care-team thread (no messages)
    message_id: int  # Jo's message in Evening's room


def _conversations(app, user: User) -> None:
    with app.app_context(), session_scope() as s:
        services.ensure_conversations(s, user=s.get(User, user.id))


@pytest.fixture
def world(app, make_user, db) -> World:
    maya = make_user("therapist", email="maya@example.test", group="Evening")
    kim = make_user("therapist", email="kim@example.test")
    lee = make_user("therapist", email="lee@example.test", group="Morning")
    sam = make_user("participant", email="sam@example.test", therapist=maya, group="Evening")
    jo = make_user("participant", email="jo@example.test", therapist=maya, group="Evening")
    pat = make_user("participant", email="pat@example.test", therapist=lee, group="Morning")
    with app.app_context(), session_scope() as s:
        accounts.link_care_team(s, therapist=s.get(User, kim.id), participant=s.get(User, sam.id))
    for person in (maya, lee):
        _conversations(app, person)
    evening = db.exec(select(Group).where(Group.name == "Evening")).one()
    room_id = db.exec(select(Conversation.id).where(Conversation.group_id == evening.id)).one()
    care_id = db.exec(select(Conversation.id).where(Conversation.participant_id == sam.id)).one()
    message_id = send_message(app, room_id, jo, "Hello group")
    return World(maya, kim, lee, sam, jo, pat, room_id, care_id, message_id)


def _poll(conversation_id: int, after: int | str | None) -> str:
    if after is None:
        return f"/messages/{conversation_id}/poll"
    return f"/messages/{conversation_id}/poll?after={after}"


def _cookie_name(app) -> str:
    return app.config["SESSION_COOKIE_NAME"]


def _cookie(app, client) -> str:
    cookie = client.get_cookie(_cookie_name(app))
    assert cookie is not None, "the client is signed in"
    return cookie.value


def _login_row(app, db, client) -> LoginSession:
    """The server-side session row of the client's session cookie."""
    data = app.session_interface.get_signing_serializer(app).loads(_cookie(app, client))
    token_hash = login_sessions.token_hash(data[SESSION_TOKEN_KEY])
    return db.exec(select(LoginSession).where(LoginSession.token_hash == token_hash)).one()


def _age_session(app, db, client, *, seen: timedelta, created: timedelta | None = None) -> None:
    """The client's session was last seen (and, if given, started) this long ago."""
    row = _login_row(app, db, client)
    row.last_seen_at = utcnow() - seen
    if created is not None:
        row.created_at = utcnow() - created
    db.add(row)
    db.commit()


def _denied(db) -> list[int | None]:
    events = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied"))
    return [e.actor_id for e in events]


def _vary(response) -> set[str]:
    return {v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()}


# --- 1. Nothing new: the layer answers, in one statement, with the app's headers --------------


def test_nothing_new_is_a_204_from_the_layer_in_one_statement(
    app, world, db, reached_app, count_queries
):
    sam = signed_in(app, world.sam)
    path = _poll(world.room_id, world.message_id)
    reached_app.clear()
    with count_queries() as queries:
        quick = sam.get(path)
    assert quick.status_code == 204 and quick.data == b""
    assert reached_app == [], "the layer answered, not the app"
    assert len(queries) == 1, queries

    # The app's own 204 for the same poll (a touch is due, so the layer passes it on).
    _age_session(app, db, sam, seen=timedelta(minutes=2))
    reached_app.clear()
    slow = sam.get(path)
    assert slow.status_code == 204 and slow.data == b""
    assert reached_app == [path], "the app answered"

    for response in (quick, slow):
        assert response.headers["Cache-Control"] == "no-store"
        assert {"Cookie", "HX-Request"} <= _vary(response)
    assert _vary(quick) <= _vary(slow)
    for name in SECURITY_HEADERS:
        assert quick.headers.get(name) == slow.headers.get(name), name
    assert slow.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert slow.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in quick.headers


def test_a_remembered_signature_still_expires_with_the_cookie(app, world, reached_app):
    """The layer remembers cookies whose signature held (`_signed`), but their age is checked
    on every poll, as Flask checks it: a cookie past its lifetime reaches the app."""
    layer = app.extensions["quick_answers"]
    sam = signed_in(app, world.sam)
    path = _poll(world.room_id, world.message_id)
    layer.max_age = 30  # the cookie's lifetime, shorter than the session's touch
    with time_machine.travel(utcnow(), tick=False) as clock:
        reached_app.clear()
        assert sam.get(path).status_code == 204 and reached_app == []
        assert layer._signed.cache_info().currsize >= 1
        clock.shift(timedelta(seconds=40))
        reached_app.clear()
        sam.get(path)
        assert reached_app == [path], "an expired cookie is the app's, even when remembered"


def test_staff_and_a_care_thread_get_the_quick_answer_too(app, world, reached_app):
    maya = signed_in(app, world.maya)
    kim = signed_in(app, world.kim)
    sam = signed_in(app, world.sam)
    reached_app.clear()
    assert maya.get(_poll(world.room_id, world.message_id)).status_code == 204
    assert maya.get(_poll(world.care_id, 0)).status_code == 204
    assert kim.get(_poll(world.care_id, 0)).status_code == 204
    assert sam.get(_poll(world.care_id, 0)).status_code == 204
    assert reached_app == []


# --- 2. Something new: the app answers with it ---------------------------------------------------


def test_something_new_is_brought_by_the_app(app, world, reached_app):
    sam = signed_in(app, world.sam)
    newer = send_message(app, world.room_id, world.jo, "Anyone up for a walk?")
    path = _poll(world.room_id, world.message_id)
    reached_app.clear()
    response = sam.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Anyone up for a walk?" in html and "Hello group" not in html
    assert f"poll?after={newer}" in html
    assert reached_app == [path]
    reached_app.clear()
    assert sam.get(_poll(world.room_id, newer)).status_code == 204
    assert reached_app == []


# --- 3. Outsiders: the app's audited 404, never a 204 ---------------------------------------------


def test_a_participant_outside_the_group_or_thread_gets_the_apps_404(app, world, db, reached_app):
    signed_in(app, world.sam)  # the members' sessions exist meanwhile
    signed_in(app, world.jo)
    pat = signed_in(app, world.pat)
    jo = signed_in(app, world.jo)
    reached_app.clear()
    for path in (
        _poll(world.room_id, world.message_id),  # nothing new in Evening's room, not Pat's
        _poll(world.care_id, 0),  # Sam's thread, nothing in it
    ):
        assert pat.get(path).status_code == 404
    assert jo.get(_poll(world.care_id, 0)).status_code == 404  # in the group, not Sam's thread
    assert len(reached_app) == 3
    assert _denied(db) == [world.pat.id, world.pat.id, world.jo.id]


def test_a_therapist_outside_the_care_team_gets_the_apps_404(app, world, db, reached_app):
    maya = signed_in(app, world.maya)  # on Sam's care team, signed in at the same time
    kim = signed_in(app, world.kim)
    signed_in(app, world.sam)
    lee = signed_in(app, world.lee)
    care = _poll(world.care_id, 0)
    reached_app.clear()
    assert maya.get(care).status_code == 204
    assert kim.get(care).status_code == 204
    assert reached_app == []
    response = lee.get(care)
    assert response.status_code == 404
    assert reached_app == [care]
    assert _denied(db) == [world.lee.id]


def test_only_the_groups_facilitator_gets_its_rooms_quick_answer(app, world, db, reached_app):
    maya = signed_in(app, world.maya)  # Evening's facilitator
    kim = signed_in(app, world.kim)  # Sam's therapist, not Evening's facilitator
    lee = signed_in(app, world.lee)  # Morning's facilitator
    path = _poll(world.room_id, world.message_id)
    reached_app.clear()
    assert maya.get(path).status_code == 204
    assert reached_app == []
    assert kim.get(path).status_code == 404
    assert lee.get(path).status_code == 404
    assert reached_app == [path, path]
    assert _denied(db) == [world.kim.id, world.lee.id]


def test_a_direct_conversation_is_quick_only_for_its_two_people(app, world, db, reached_app):
    with app.app_context(), session_scope() as s:
        room = s.get(Conversation, world.room_id)
        services.set_direct_messages(s, room=room, by=s.get(User, world.maya.id), on=True)
        direct_id = services.start_direct(
            s, room=room, by=s.get(User, world.sam.id), member_id=world.jo.id
        ).id
    said = send_message(app, direct_id, world.jo, "Hi Sam, just us here")
    sam, jo = signed_in(app, world.sam), signed_in(app, world.jo)
    maya, pat = signed_in(app, world.maya), signed_in(app, world.pat)
    path = _poll(direct_id, said)
    reached_app.clear()
    assert sam.get(path).status_code == 204
    assert jo.get(path).status_code == 204
    assert reached_app == []
    assert maya.get(path).status_code == 404  # the group's facilitator: not theirs
    assert pat.get(path).status_code == 404
    assert reached_app == [path, path]
    assert _denied(db) == [world.maya.id, world.pat.id]


# --- 4. A removed member --------------------------------------------------------------------------


def test_a_removed_member_gets_the_apps_404(app, world, reached_app):
    jo = signed_in(app, world.jo)
    path = _poll(world.room_id, world.message_id)
    reached_app.clear()
    assert jo.get(path).status_code == 204
    assert reached_app == []
    maya = signed_in(app, world.maya)
    removed = maya.post_form(f"/messages/{world.room_id}/remove", {"member": str(world.jo.id)})
    assert removed.status_code == 303
    reached_app.clear()
    assert jo.get(path).status_code == 404
    assert reached_app == [path]


# --- 5. Not signed in (any more) ------------------------------------------------------------------


def _sign_out_keeping_the_cookie(app, db, client, world):
    cookie = _cookie(app, client)
    assert client.post_form("/sign-out").status_code == 303
    client.set_cookie(_cookie_name(app), cookie)  # the old cookie, replayed


def _signed_out_elsewhere(app, db, client, world):
    other = signed_in(app, world.sam)
    assert other.post_form("/account/sign-out-others").status_code == 303


def _rows_deleted(app, db, client, world):
    for row in db.exec(select(LoginSession).where(LoginSession.user_id == world.sam.id)):
        db.delete(row)
    db.commit()


def _revoked(app, db, client, world):
    row = _login_row(app, db, client)
    row.revoked_at = utcnow()
    db.add(row)
    db.commit()


def _deactivated(app, db, client, world):
    user = db.get(User, world.sam.id)
    user.status = ParticipantStatus.deactivated
    db.add(user)
    db.commit()


def _idle_expired(app, db, client, world):
    idle = app.config["PARTICIPANT_IDLE_TIMEOUT"]
    _age_session(app, db, client, seen=idle + timedelta(minutes=1))


def _idle_before_a_touch_is_due(app, db, client, world):
    """An idle timeout shorter than the touch: the timeout itself must refuse (not the touch)."""
    app.config["PARTICIPANT_IDLE_TIMEOUT"] = timedelta(seconds=30)
    _age_session(app, db, client, seen=timedelta(seconds=45))


def _too_old(app, db, client, world):
    absolute = app.config["PARTICIPANT_ABSOLUTE_TIMEOUT"]
    _age_session(app, db, client, seen=timedelta(0), created=absolute + timedelta(minutes=1))


def _tampered(app, db, client, world):
    value = _cookie(app, client)
    i = len(value) // 2
    changed = "A" if value[i] != "A" else "B"
    client.set_cookie(_cookie_name(app), value[:i] + changed + value[i + 1 :])


def _no_cookie(app, db, client, world):
    client.delete_cookie(_cookie_name(app))


def _someone_elses_user_id(app, db, client, world):
    """A validly signed cookie (the app's own key) with Sam's token but Jo's user id."""
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(_cookie(app, client))
    data["_user_id"] = str(world.jo.id)
    signed_in(app, world.jo)  # Jo's session exists too
    client.set_cookie(_cookie_name(app), serializer.dumps(data))


def _no_token(app, db, client, world):
    """A validly signed cookie naming Sam, without a server-side session's token."""
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(_cookie(app, client))
    del data[SESSION_TOKEN_KEY]
    client.set_cookie(_cookie_name(app), serializer.dumps(data))


@pytest.mark.parametrize(
    "end",
    [
        _sign_out_keeping_the_cookie,
        _signed_out_elsewhere,
        _rows_deleted,
        _revoked,
        _deactivated,
        _idle_expired,
        _idle_before_a_touch_is_due,
        _too_old,
        _tampered,
        _no_cookie,
        _someone_elses_user_id,
        _no_token,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_no_live_session_reaches_the_app_and_is_sent_to_sign_in(app, world, db, reached_app, end):
    sam = signed_in(app, world.sam)
    path = _poll(world.care_id, 0)  # nothing new in Sam's thread: a 204 while signed in
    reached_app.clear()
    assert sam.get(path).status_code == 204
    assert reached_app == []
    end(app, db, sam, world)
    reached_app.clear()
    response = sam.get(path)
    assert response.status_code == 303, response.status_code
    assert "/sign-in" in response.headers["Location"]
    assert reached_app == [path]


@pytest.mark.parametrize("idle", [timedelta(minutes=5), None], ids=["5-minutes", "below-the-touch"])
def test_a_therapists_idle_session_reaches_the_app(app, world, db, reached_app, idle):
    """Staff time out sooner; with a (short) timeout below the touch's minute, the timeout
    alone must send the poll to the app."""
    maya = signed_in(app, world.maya)
    path = _poll(world.care_id, 0)
    if idle is not None:
        app.config["STAFF_IDLE_TIMEOUT"] = idle
        seen = idle + timedelta(seconds=30)
    else:
        app.config["STAFF_IDLE_TIMEOUT"] = timedelta(seconds=30)
        seen = timedelta(seconds=45)
    _age_session(app, db, maya, seen=seen)
    reached_app.clear()
    response = maya.get(path)
    assert response.status_code == 303 and "/sign-in" in response.headers["Location"]
    assert reached_app == [path]


# --- 6. A password to replace ---------------------------------------------------------------------


def test_a_password_to_replace_is_the_apps_redirect(app, world, db, reached_app):
    sam = signed_in(app, world.sam)
    user = db.get(User, world.sam.id)
    user.must_change_password = True
    db.add(user)
    db.commit()
    path = _poll(world.care_id, 0)
    reached_app.clear()
    response = sam.get(path)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/account/choose-password")
    assert reached_app == [path]


# --- 7. A touch is due ----------------------------------------------------------------------------


def test_a_due_touch_goes_to_the_app_which_moves_last_seen_forward(app, world, db, reached_app):
    sam = signed_in(app, world.sam)
    path = _poll(world.care_id, 0)
    _age_session(app, db, sam, seen=login_sessions.TOUCH_EVERY + timedelta(seconds=5))
    before = utcnow()
    reached_app.clear()
    response = sam.get(path)
    assert response.status_code == 204 and response.data == b""
    assert reached_app == [path], "the app answered and touched the session"
    assert _login_row(app, db, sam).last_seen_at >= before
    reached_app.clear()
    assert sam.get(path).status_code == 204
    assert reached_app == [], "the next poll is the layer's"


# --- 8. Odd input ---------------------------------------------------------------------------------


def _app_alone(app, client, url: str):
    """The app's answer to the same request without the layer in front."""
    layer = app.extensions["quick_answers"]
    app.wsgi_app = layer.inner
    try:
        return client.get(url)
    finally:
        app.wsgi_app = layer


@pytest.mark.parametrize(
    ("template", "status"),
    [
        ("/messages/{room}/poll?after=abc", 200),  # read as 0: Jo's message is new
        ("/messages/{room}/poll", 200),
        ("/messages/{room}/poll?after=", 200),
        ("/messages/{room}/poll?after=99999999999", 200),
        ("/messages/{room}/poll?after=-1", 200),
        ("/messages/{room}/poll?after={message}&after=0", 204),  # the first value, as Flask
        ("/messages/{room}/poll?after=0&after={message}", 200),
        ("/messages/{care}/poll?after=1%00", 400),
        ("/messages/{care}/poll?after=%00", 400),
        ("/messages/{care}/poll?after=0&x=%00", 400),
        ("/messages/{care}/poll?after=0&%00=1", 400),
        ("/messages/{room}/poll?after={message}%00", 400),
        ("/messages/0/poll?after=0", 404),
        ("/messages/99999999999/poll?after=0", 404),
        ("/messages/{room}/poll?after=+{message}", 204),  # " N", as Flask reads it
        ("/messages/{room}/poll?after=%D9%A1", 200),  # a digit, not an ASCII one: 0
        # Whatever the app says to these, the layer agrees.
        ("/messages/0{care}/poll?after=0", None),
        ("/messages/000000000{care}/poll?after=0", None),
        ("/messages/{care}/poll/?after=0", None),
        ("/messages/{care}/poll?after={message}0", None),
    ],
)
def test_odd_input_is_answered_as_the_app_answers_it(app, world, reached_app, template, status):
    sam = signed_in(app, world.sam)
    url = template.format(room=world.room_id, care=world.care_id, message=world.message_id)
    reached_app.clear()
    response = sam.get(url)
    by_layer = reached_app == []
    alone = _app_alone(app, sam, url)
    if status is not None:
        assert response.status_code == status
    assert response.status_code == alone.status_code
    if by_layer:
        assert alone.status_code == 204, "the layer answered where the app would not say 204"
    if response.status_code != 204:
        assert not by_layer


# --- 9. History starts when a member joined -------------------------------------------------------


def test_a_member_who_joined_later_is_answered_by_the_app_without_older_messages(
    app, world, make_user, reached_app
):
    before = send_message(app, world.room_id, world.jo, "Before you came")
    with time_machine.travel(utcnow() + timedelta(minutes=5)):
        newcomer = make_user("participant", email="alex@example.test", group="Evening")
    with time_machine.travel(utcnow() + timedelta(minutes=10)):
        alex = signed_in(app, newcomer)
        reached_app.clear()
        # Newer messages exist, all from before Alex joined: the app's 204, not the layer's.
        for after in (0, world.message_id):
            path = _poll(world.room_id, after)
            assert alex.get(path).status_code == 204
        assert reached_app == [_poll(world.room_id, 0), _poll(world.room_id, world.message_id)]

        later = send_message(app, world.room_id, world.jo, "Welcome Alex")
        reached_app.clear()
        response = alex.get(_poll(world.room_id, 0))
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "Welcome Alex" in html
        assert "Before you came" not in html and "Hello group" not in html
        assert reached_app == [_poll(world.room_id, 0)]
        reached_app.clear()
        assert alex.get(_poll(world.room_id, before)).status_code == 200
        assert alex.get(_poll(world.room_id, later)).status_code == 204
        assert reached_app == [_poll(world.room_id, before)]


# --- 10. Only GET ---------------------------------------------------------------------------------


def test_head_and_post_are_not_the_layers(app, world, reached_app):
    sam = signed_in(app, world.sam)
    path = _poll(world.care_id, 0)
    reached_app.clear()
    head = sam.head(path)
    assert head.status_code == 204  # the app's: HEAD runs the view
    assert reached_app == [path]
    reached_app.clear()
    posted = sam.post(path)
    assert posted.status_code != 204
    assert reached_app == [path]
