"""The daily digest of group activity: messages registers a `ReminderSource` (push never
imports messages); a participant who chose it gets at most one generic reminder a day, at their
daily reminder time, when their groups have messages they have not read since the last one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlmodel import delete, select

from iop_pwa.accounts.models import GroupMembership, User
from iop_pwa.db import session_scope
from iop_pwa.messages import services as messages
from iop_pwa.messages.models import Conversation, Message, Mute
from iop_pwa.push import delivery
from tests.test_push import add_device
from tests.test_push_reminders import FALL_BACK, SPRING_FORWARD, choose, queue_at

# Named moments (UTC). New York is UTC-5 in winter, UTC-4 in summer.
SUNDAY_NOON_NY = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
SUNDAY_1759_NY = datetime(2026, 11, 29, 22, 59, tzinfo=UTC)
SUNDAY_1800_NY = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
MONDAY_1800_NY = SUNDAY_1800_NY + timedelta(days=1)


@dataclass
class Group:
    sam: User  # chose the digest
    alex: User  # did not (the default: off)
    facilitator: User
    conversation_id: int


@pytest.fixture
def group(app, make_user):
    facilitator = make_user("therapist", group="Tuesday group")
    sam = make_user("participant", name="Sam Lee", group="Tuesday group")
    alex = make_user("participant", name="Alex Kim", group="Tuesday group")
    with app.app_context(), session_scope() as db:
        messages.ensure_conversations(db, user=db.get(User, sam.id))
        conversation = db.exec(select(Conversation).where(Conversation.kind == "group")).one()
        conversation_id = conversation.id
    choose(app, sam, group_activity=True)  # daily time: the default 18:00
    return Group(sam, alex, facilitator, conversation_id)


def post(app, group: Group, author: User, at: datetime, text="Anyone else finding Sundays hard?"):
    with app.app_context(), session_scope() as db:
        row = Message(
            conversation_id=group.conversation_id,
            author_id=author.id,
            client_id=str(uuid.uuid4()),
            body=text,
            written_at=at,
            received_at=at,
        )
        db.add(row)
        db.flush()
        return row.id


def digests(rows) -> list:
    return [r for r in rows if r.key.startswith("group_digest:")]


def test_the_digest_comes_once_at_the_daily_time_with_generic_words(app, group, fakepush):
    add_device(app, group.sam, fakepush, "phone")
    add_device(app, group.alex, fakepush, "alex")
    post(app, group, group.alex, SUNDAY_NOON_NY)
    assert digests(queue_at(app, SUNDAY_1759_NY)) == []
    [row] = digests(queue_at(app, SUNDAY_1800_NY))
    assert (row.user_id, row.key, row.category) == (
        group.sam.id,
        "group_digest:2026-11-29",
        "group",
    )
    assert row.due_at == SUNDAY_1800_NY and row.url == "/messages" and row.topic == "group-digest"
    assert len(digests(queue_at(app, SUNDAY_1800_NY + timedelta(minutes=5)))) == 1
    with app.app_context(), session_scope() as db:
        assert delivery.send(db, SUNDAY_1800_NY) == 1
    [got] = fakepush.for_("phone")
    assert got.payload["body"] == "You have a new reminder" and got.payload["kind"] == "group"
    for private in ("Sundays", "Tuesday", "Alex", "Sam"):
        assert private not in str(got.payload)
    assert fakepush.for_("alex") == [], "the digest is off by default"
    # The next day: nothing new since the last digest, nothing sent.
    assert len(digests(queue_at(app, MONDAY_1800_NY))) == 1


def test_nothing_new_means_no_digest(app, group, fakepush):
    assert digests(queue_at(app, SUNDAY_1800_NY)) == [], "an empty group"
    post(app, group, group.sam, SUNDAY_NOON_NY, "my own message")
    assert digests(queue_at(app, SUNDAY_1800_NY)) == [], "one's own messages are not news"
    read = post(app, group, group.alex, SUNDAY_NOON_NY)
    with app.app_context(), session_scope() as db:
        conversation = db.get(Conversation, group.conversation_id)
        messages.mark_read(
            db, conversation=conversation, user=db.get(User, group.sam.id), up_to=read
        )
    assert digests(queue_at(app, SUNDAY_1800_NY)) == [], "already read"
    # Unread, but it came before Saturday's digest time: yesterday's digest was for it.
    post(app, group, group.alex, SUNDAY_1800_NY - timedelta(days=1, minutes=1))
    assert digests(queue_at(app, SUNDAY_1800_NY)) == []
    with app.app_context(), session_scope() as db:
        hidden = db.get(Message, post(app, group, group.alex, SUNDAY_NOON_NY))
        hidden.hidden_at = SUNDAY_NOON_NY
        db.add(hidden)
    assert digests(queue_at(app, SUNDAY_1800_NY)) == [], "a removed message is not news"


def test_no_digest_for_a_muted_or_removed_member(app, group):
    post(app, group, group.alex, SUNDAY_NOON_NY)
    with app.app_context(), session_scope() as db:
        db.add(
            Mute(
                conversation_id=group.conversation_id,
                user_id=group.sam.id,
                until=SUNDAY_1800_NY + timedelta(days=1),
            )
        )
    assert digests(queue_at(app, SUNDAY_1800_NY)) == [], "posting paused: no digest"
    with app.app_context(), session_scope() as db:
        db.exec(delete(Mute))
        db.exec(delete(GroupMembership).where(GroupMembership.user_id == group.sam.id))
    assert digests(queue_at(app, SUNDAY_1800_NY)) == [], "removed from the group"


def test_the_digest_waits_for_quiet_hours_to_end(app, group):
    post(app, group, group.alex, SUNDAY_NOON_NY)
    choose(app, group.sam, quiet_start=time(17, 0), quiet_end=time(19, 0))
    [row] = digests(queue_at(app, SUNDAY_1800_NY))
    assert row.due_at == SUNDAY_1800_NY + timedelta(hours=1)
    assert row.next_attempt_at == SUNDAY_1800_NY + timedelta(hours=1)


def test_the_digest_keeps_local_time_across_both_dst_changes(app, group):
    choose(app, group.sam, daily_time=time(2, 30))
    # Spring: 02:30 does not exist on 8 March; it comes at 03:30 EDT (07:30 UTC).
    post(app, group, group.alex, datetime(2026, 3, 7, 20, 0, tzinfo=UTC))
    spring = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert digests(queue_at(app, spring - timedelta(minutes=11))) == []
    [row] = digests(queue_at(app, spring))
    assert row.key == f"group_digest:{SPRING_FORWARD.isoformat()}" and row.due_at == spring
    # Autumn: 01:30 happens twice on 1 November; the digest comes at the first, once.
    choose(app, group.sam, daily_time=time(1, 30))
    post(app, group, group.alex, datetime(2026, 10, 31, 20, 0, tzinfo=UTC))
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    autumn = [r for r in digests(queue_at(app, first)) if r.key.endswith(FALL_BACK.isoformat())]
    assert [r.due_at for r in autumn] == [first]
    again = [r for r in digests(queue_at(app, second)) if r.key.endswith(FALL_BACK.isoformat())]
    assert len(again) == 1


def test_the_digest_is_chosen_on_account_off_by_default(app, client, make_user, sign_in, db):
    from iop_pwa.push.models import ReminderPreference

    sam = make_user("participant")
    sign_in(sam)
    page = client.get("/account").get_data(as_text=True)
    assert "Group activity" in page and "A daily digest at my daily reminder time" in page
    assert (
        '<input checked id="group_activity-0" name="group_activity" type="radio" value="off">'
        in page
    )
    form = {"daily_time": "18:00", "session_reminders": "y", "session_minutes": ["60"]}
    assert (
        client.post_form("/push/preferences", {**form, "group_activity": "digest"}).status_code
        == 303
    )
    assert db.get(ReminderPreference, sam.id).group_activity is True
    wrong = client.post_form("/push/preferences", {**form, "group_activity": "hourly"})
    assert wrong.status_code == 422 and "Not a valid choice" in wrong.get_data(as_text=True)
    assert (
        client.post_form("/push/preferences", {**form, "group_activity": "off"}).status_code == 303
    )
    db.expire_all()
    assert db.get(ReminderPreference, sam.id).group_activity is False
