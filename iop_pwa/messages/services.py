"""Messages services: keyword-only, typed, take the session and never commit (the caller does).

Counting unread messages uses read cursors: a message is unread for a person when it is newer
than their cursor in its conversation, someone else wrote it and it is not hidden. Every count
here is one query, whatever the number of conversations. A participant's history of a group's
room starts when they joined the group (`GroupMembership.joined_at`): they neither see nor count
what was posted before; facilitators see everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Integer, String, and_, bindparam, case, exists, literal, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, delete, func, or_, select

from iop_pwa import audit
from iop_pwa.access import (
    PARTICIPANT,
    Action,
    NotPermitted,
    caseload_ids,
    check,
    facilitated_group_ids,
    member_group_ids,
    member_of,
    member_since,
    parse_id,
)
from iop_pwa.accounts.models import CareTeamLink, Group, GroupMembership, Role, User
from iop_pwa.db import utcnow
from iop_pwa.messages.models import (
    MAX_MESSAGE,
    REMOVAL_REASONS,
    REPORT_REASONS,
    Block,
    Conversation,
    ConversationKind,
    GuidelineAgreement,
    Message,
    MessageReport,
    Mute,
    ReadCursor,
)
from iop_pwa.messages.policies import (
    CONVERSATION,
    GROUP_ROOM,
    MESSAGE,
    MESSAGE_REPORT,
    moderates,
)
from iop_pwa.messages.rules import joined_for as _joined_for
from iop_pwa.messages.rules import since_joined as _since_joined
from iop_pwa.messages.rules import visible_ids as _visible_ids
from iop_pwa.messages.rules import visible_to as _visible_to
from iop_pwa.notifications import Notification, notify
from iop_pwa.safety import has_crisis_language, raise_flag

PAGE_SIZE = 30
MUTE_CHOICES = {24: "For a day", 72: "For three days", 168: "For a week"}


class MessageRefused(Exception):
    """The person may see the conversation but may not post this now; the text says why."""


# --- Which conversations a person has ------------------------------------------------------------


def _visible(user: User):
    """The condition on Conversation for the ones this person belongs to."""
    return _visible_to(user.is_staff, user.id)


def _joined(user: User):
    """For a participant: their own membership of each group room's group, to outer-join on
    Conversation (the alias and the ON clause), so a room shows and counts only what was posted
    since they joined. None for staff: facilitators see a room's whole history."""
    return _joined_for(user.is_staff, user.id)


def history_start(db: Session, *, conversation: Conversation, user: User) -> datetime | None:
    """When a person's history of a conversation starts: for a participant in a group's room,
    the moment they joined the group; otherwise None (everything)."""
    if conversation.is_group and user.is_participant:
        return member_since(db, user.id, conversation.group_id)
    return None


def _key(kind: ConversationKind, object_id: int) -> str:
    return f"{'care' if kind == ConversationKind.care_team else 'group'}:{object_id}"


def _direct_key(group_id: int, a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"direct:{group_id}:{low}:{high}"


def ensure_conversations(db: Session, *, user: User) -> int:
    """Make the conversations this person belongs to that do not exist yet (their care team's
    thread, their groups' rooms): one query when nothing is missing. Returns how many were made."""
    people = caseload_ids(user.id) if user.is_staff else select(literal(user.id))
    groups = facilitated_group_ids(user.id) if user.is_staff else member_group_ids(user.id)
    care = select(literal("care"), User.id).where(
        col(User.id).in_(people),
        User.role == Role.participant,
        ~exists().where(Conversation.participant_id == User.id),
    )
    rooms = select(literal("group"), Group.id).where(
        col(Group.id).in_(groups),
        ~exists().where(
            Conversation.group_id == Group.id, Conversation.kind == ConversationKind.group
        ),
    )
    missing = db.exec(union_all(care, rooms)).all()
    for kind_word, object_id in missing:
        kind = ConversationKind.care_team if kind_word == "care" else ConversationKind.group
        conversation = Conversation(
            key=_key(kind, object_id),
            kind=kind,
            participant_id=object_id if kind == ConversationKind.care_team else None,
            group_id=object_id if kind == ConversationKind.group else None,
        )
        try:
            with db.begin_nested():  # someone else's request may make it at the same moment
                db.add(conversation)
                db.flush()
        except IntegrityError:
            pass
    return len(missing)


def conversation_for(db: Session, *, kind: ConversationKind, object_id: int) -> Conversation | None:
    return db.exec(_conversation_statement(), params={"key": _key(kind, object_id)}).first()


@cache
def _conversation_statement():
    return select(Conversation).where(Conversation.key == bindparam("key", type_=String))


def _with_cursor(query, user_id: int, conversation_id):
    """The query joined to the person's read cursor in each conversation (none: read nothing)."""
    return query.outerjoin(
        ReadCursor,
        and_(ReadCursor.conversation_id == conversation_id, ReadCursor.user_id == user_id),
    )


def _unread(user_id: int):
    """Conditions on Message (joined to the reader's cursor) for what they have not read."""
    return (
        Message.id > func.coalesce(ReadCursor.last_read_id, 0),
        Message.author_id != user_id,
        col(Message.hidden_at).is_(None),
    )


@dataclass
class ConversationRow:
    conversation: Conversation
    title: str
    unread: int
    group_name: str | None = None
    # When the newest message the person can see came (None: none yet). A member's history of
    # a group's room starts when they joined: a room quiet since then has none for them.
    last_at: datetime | None = None


def conversation_rows(db: Session, *, user: User) -> list[ConversationRow]:
    """The person's conversations, newest activity first, named for them ("Care team", the
    group's name, the other person's in a direct conversation, or for staff the participant's
    name), with unread counts and the time of the newest message they can see: one query."""
    peer = aliased(User)
    last_at = col(Conversation.last_message_at)
    group_by = [col(Conversation.id)]
    unread = [Message.conversation_id == Conversation.id, *_unread(user.id)]
    joined = _joined(user)
    if joined is not None:
        unread.append(_since_joined(joined[0]))
        # The conversation's newest message came at `last_message_at`: it is theirs if it came
        # since they joined (`_since_joined`), and then so is the time; else nothing is.
        last_at = case(
            (
                or_(
                    col(joined[0].joined_at).is_(None),
                    col(Conversation.last_message_at) >= joined[0].joined_at,
                ),
                Conversation.last_message_at,
            ),
            else_=None,
        )
        group_by.append(col(joined[0].joined_at))
    query = _with_cursor(
        select(Conversation, Group.name, User.name, peer.name, func.count(Message.id), last_at),
        user.id,
        Conversation.id,
    )
    if joined is not None:
        query = query.outerjoin(joined[0], joined[1])
    other = case(
        (Conversation.peer_a_id == user.id, Conversation.peer_b_id), else_=Conversation.peer_a_id
    )
    rows = db.exec(
        query.outerjoin(Message, and_(*unread))
        .outerjoin(Group, col(Group.id) == Conversation.group_id)
        .outerjoin(User, col(User.id) == Conversation.participant_id)
        .outerjoin(peer, peer.id == other)
        .where(_visible(user))
        .group_by(*group_by, Group.name, User.name, peer.name)
        .order_by(
            last_at.desc().nulls_last(),
            func.lower(func.coalesce(peer.name, Group.name, User.name)),
        )
    ).all()
    return [
        ConversationRow(
            c, title_for(c, user, group_name, person_name, peer_name), count, group_name, at
        )
        for c, group_name, person_name, peer_name, count, at in rows
    ]


def title_for(
    conversation: Conversation,
    user: User,
    group_name: str | None,
    person_name: str | None,
    peer_name: str | None = None,
) -> str:
    if conversation.is_direct:
        return peer_name or "Group member"
    if conversation.is_group:
        return group_name or "Group"
    return (person_name or "Participant") if user.is_staff else "Care team"


def title_of(db: Session, *, conversation: Conversation, user: User) -> str:
    if conversation.is_direct:
        peer = db.get(User, conversation.other_peer(user.id))
        return title_for(conversation, user, None, None, peer.name if peer else None)
    if conversation.is_group:
        group = db.get(Group, conversation.group_id)
        return title_for(conversation, user, group.name if group else None, None)
    person = db.get(User, conversation.participant_id)
    return title_for(conversation, user, None, person.name if person else None)


def unread_total(db: Session, user: User) -> int:
    """Unread messages in all of a person's conversations (the navigation's count): one query."""
    return db.exec(_unread_total_statement(user.is_staff), params={"reader": user.id}).one()


@cache
def _unread_total_statement(staff: bool):
    """`unread_total`'s query, built once for staff and once for participants (every page's
    navigation asks it; see `_poll_statement`).

    Counted conversation by conversation from the reader's cursor on, so each count is a range
    of the (conversation_id, id) index: joined the other way round, PostgreSQL read every
    message of the program on every page, and SQLite every message of the person's rooms."""
    reader = bindparam("reader", type_=Integer)
    after_cursor = [Message.conversation_id == Conversation.id, *_unread(reader)]
    joined = _joined_for(staff, reader)
    if joined is not None:
        after_cursor.append(_since_joined(joined[0]))
    unread = select(func.count(Message.id)).where(*after_cursor).scalar_subquery()
    query = _with_cursor(
        select(func.coalesce(func.sum(unread), 0)).select_from(Conversation),
        reader,
        Conversation.id,
    )
    if joined is not None:
        query = query.outerjoin(joined[0], joined[1])
    return query.where(col(Conversation.id).in_(_visible_ids(staff, reader)))


def care_team_unread(db: Session, *, participant: User) -> int:
    """Unread messages from the participant's care team (Today): one query."""
    return db.exec(_care_team_unread_statement(), params={"reader": participant.id}).one()


@cache
def _care_team_unread_statement():
    reader = bindparam("reader", type_=Integer)
    query = select(func.count(Message.id)).join(
        Conversation, col(Conversation.id) == Message.conversation_id
    )
    query = _with_cursor(query, reader, Message.conversation_id)
    return query.where(Conversation.participant_id == reader, *_unread(reader))


# --- Reading -----------------------------------------------------------------------------------


@dataclass
class Shown:
    """A message as one reader sees it."""

    message: Message
    author_name: str
    author_is_staff: bool
    mine: bool

    @property
    def hidden(self) -> bool:
        return self.message.hidden_at is not None


def _shown(rows, reader: User) -> list[Shown]:
    return [
        Shown(m, name, role != Role.participant, m.author_id == reader.id) for m, name, role in rows
    ]


def _with_authors():
    return select(Message, User.name, User.role).join(User, col(User.id) == Message.author_id)


def latest(
    db: Session,
    *,
    conversation: Conversation,
    reader: User,
    before: int | None = None,
    since: datetime | None = None,
) -> tuple[list[Shown], bool]:
    """A page of messages, oldest first, ending with the newest (or the newest before id
    `before`), and whether there are older ones: one query. `since` is where the reader's
    history starts (`history_start`): nothing older is shown or offered."""
    query = _with_authors().where(Message.conversation_id == conversation.id)
    if before is not None:
        query = query.where(Message.id < before)
    if since is not None:
        query = query.where(col(Message.received_at) >= since)
    rows = db.exec(query.order_by(col(Message.id).desc()).limit(PAGE_SIZE + 1)).all()
    return _shown(list(reversed(rows[:PAGE_SIZE])), reader), len(rows) > PAGE_SIZE


def poll(db: Session, *, conversation_id: int, after_id: int, reader: User) -> list[Shown] | None:
    """ "Anything after id N?" in one query: the conversation, if the reader belongs to it (the
    same rule as the policy, written as `_visible`), outer-joined to its messages after N on the
    (conversation_id, id) index. None when the reader does not belong (or it does not exist);
    an empty list when nothing is new, the usual answer."""
    rows = db.exec(
        _poll_statement(reader.is_staff),
        params={"reader": reader.id, "conversation": conversation_id, "after": after_id},
    ).all()
    if not rows:
        return None
    return _shown([(m, name, role) for _, m, name, role in rows if m is not None], reader)


@cache
def _poll_statement(staff: bool):
    """The poll's query, built once for staff and once for participants with bound parameters
    (reader, conversation, after): every open phone asks it every few seconds, and building a
    query of this shape costs more Python than running it."""
    reader = bindparam("reader", type_=Integer)
    query = select(Conversation.id, Message, User.name, User.role).select_from(Conversation)
    new = [
        Message.conversation_id == Conversation.id,
        Message.id > bindparam("after", type_=Integer),
    ]
    joined = _joined_for(staff, reader)
    if joined is not None:  # a participant's history of a room starts when they joined
        query = query.outerjoin(joined[0], joined[1])
        new.append(_since_joined(joined[0]))
    return (
        query.outerjoin(Message, and_(*new))
        .outerjoin(User, col(User.id) == Message.author_id)
        .where(
            Conversation.id == bindparam("conversation", type_=Integer),
            _visible_to(staff, reader),
        )
        .order_by(col(Message.id))
        .limit(200)
    )


# The poll's usual answer, "nothing new", is given before Flask (`iop_pwa.quick_answers`).
POLL_PATH = re.compile(r"/messages/(?P<conversation>[0-9]{1,10})/poll")


def poll_params(match: re.Match, arguments: dict[str, str]) -> dict[str, int] | None:
    """The poll's conversation and cursor, read as the view reads them."""
    conversation = parse_id(match["conversation"])
    if conversation is None:
        return None
    return {"conversation": conversation, "after": parse_id(arguments.get("after")) or 0}


def nothing_new(reader, staff: bool):
    """True when the poll would answer 204: the conversation is the reader's (`_visible_to`)
    and holds no message after the cursor. Any newer message at all says "ask the app", even
    one from before a participant joined a room, which the app then leaves out."""
    conversation = bindparam("conversation", type_=Integer)
    mine = select(Conversation.id).where(
        Conversation.id == conversation, _visible_to(staff, reader)
    )
    newer = select(Message.id).where(
        Message.conversation_id == conversation, Message.id > bindparam("after", type_=Integer)
    )
    return and_(mine.exists(), ~newer.exists())


def mark_read(db: Session, *, conversation: Conversation, user: User, up_to: int) -> None:
    """Move the person's read cursor forward to message `up_to` (never back)."""
    cursor = db.exec(
        select(ReadCursor).where(
            ReadCursor.conversation_id == conversation.id, ReadCursor.user_id == user.id
        )
    ).first()
    if cursor is None:
        try:
            with db.begin_nested():
                db.add(
                    ReadCursor(conversation_id=conversation.id, user_id=user.id, last_read_id=up_to)
                )
                db.flush()
        except IntegrityError:
            pass  # the person's other device made it meanwhile
        return
    if cursor.last_read_id < up_to:
        cursor.last_read_id = up_to
        db.add(cursor)


# --- Posting -----------------------------------------------------------------------------------


def has_agreed(db: Session, *, conversation: Conversation, user: User) -> bool:
    """Whether a participant agreed to a group's guidelines (staff and care threads need not)."""
    if not conversation.is_group or user.is_staff:
        return True
    return (
        db.exec(
            select(GuidelineAgreement.id).where(
                GuidelineAgreement.conversation_id == conversation.id,
                GuidelineAgreement.user_id == user.id,
            )
        ).first()
        is not None
    )


def agree(db: Session, *, conversation: Conversation, user: User) -> None:
    check(db, user, CONVERSATION, conversation, Action.view)
    if has_agreed(db, conversation=conversation, user=user):
        return
    try:
        with db.begin_nested():
            db.add(GuidelineAgreement(conversation_id=conversation.id, user_id=user.id))
            db.flush()
    except IntegrityError:
        pass


def muted_until(db: Session, *, conversation: Conversation, user: User) -> datetime | None:
    """Until when a person may not post here (None: they may). A mute is set in a group's room
    and holds in the direct conversations started in that group too."""
    if conversation.group_id is None:
        return None
    until = db.exec(
        select(Mute.until)
        .join(Conversation, col(Conversation.id) == Mute.conversation_id)
        .where(
            Conversation.group_id == conversation.group_id,
            Conversation.kind == ConversationKind.group,
            Mute.user_id == user.id,
        )
    ).first()
    return until if until is not None and until > utcnow() else None


@dataclass
class SendResult:
    message: Message
    created: bool  # False for a replay of a message already stored
    crisis: bool  # its text holds crisis language: show its author help at once


def send(
    db: Session,
    *,
    conversation: Conversation,
    author: User,
    client_id: str,
    body: str,
    written_at: datetime,
) -> SendResult:
    """Store a message once (a replay with the same client id returns the original), notify
    whom it concerns and raise a care flag on crisis language. Raises MessageRefused for a
    muted member or one who has not agreed to the group's guidelines yet."""
    check(db, author, CONVERSATION, conversation, Action.change)
    existing = _by_client_id(db, author, client_id)
    if existing is not None:
        return SendResult(existing, created=False, crisis=has_crisis_language(existing.body))
    text = body.strip()
    if not text or len(text) > MAX_MESSAGE:
        raise MessageRefused(f"Write a message of up to {MAX_MESSAGE:,} characters.")
    if conversation.is_direct:
        closed = direct_closed(db, conversation=conversation, user=author)
        if closed is not None:
            raise MessageRefused(closed)
    if (conversation.is_group or conversation.is_direct) and author.is_participant:
        until = muted_until(db, conversation=conversation, user=author)
        if until is not None:
            raise MessageRefused(
                "A facilitator paused your posting in this group for now. You can read "
                "the group and post again later."
            )
        if not has_agreed(db, conversation=conversation, user=author):
            raise MessageRefused("Please read the group's guidelines and tap I agree first.")
    now = utcnow()
    message = Message(
        conversation_id=conversation.id,
        author_id=author.id,
        client_id=client_id,
        body=text,
        written_at=min(written_at, now),
        received_at=now,
    )
    crisis = author.is_participant and has_crisis_language(text)
    try:
        with db.begin_nested():  # the same message may arrive twice at once (page and worker)
            db.add(message)
            db.flush()
            # The flag goes in with the message, in the same savepoint: a message stored without
            # its flag would never flag (a replay doesn't).
            if crisis:
                raise_flag(
                    db,
                    participant_id=author.id,
                    reason="crisis_language",
                    source_type="message",
                    source_id=message.id,
                )
    except IntegrityError:
        existing = _by_client_id(db, author, client_id)
        return SendResult(existing, created=False, crisis=has_crisis_language(existing.body))
    conversation.last_message_at = now
    db.add(conversation)
    mark_read(db, conversation=conversation, user=author, up_to=message.id)
    _notify(db, conversation=conversation, author=author)
    return SendResult(message, created=True, crisis=crisis)


def _by_client_id(db: Session, author: User, client_id: str) -> Message | None:
    return db.exec(
        select(Message).where(Message.author_id == author.id, Message.client_id == client_id)
    ).first()


def _notify(db: Session, *, conversation: Conversation, author: User) -> None:
    """A care-team message tells the other side; group and direct conversations tell no one
    (their unread counts show in the navigation; a digest is push's to add). The words never name
    the sender or quote the message, and one unread notification per conversation is enough."""
    if conversation.is_group or conversation.is_direct:
        return
    if author.is_staff:
        recipients = [conversation.participant_id]
        text = "New message from your care team"
    else:
        recipients = list(
            db.exec(
                select(CareTeamLink.therapist_id).where(
                    CareTeamLink.participant_id == conversation.participant_id
                )
            )
        )
        text = "New message in a care-team thread"
    waiting = set(
        db.exec(
            select(Notification.user_id).where(
                col(Notification.user_id).in_(recipients),
                Notification.kind == "message",
                Notification.object_id == conversation.id,
                col(Notification.read_at).is_(None),
            )
        )
    )
    for user_id in recipients:
        if user_id not in waiting:
            notify(db, user_id=user_id, kind="message", text=text, object_id=conversation.id)


# --- Reports and moderation --------------------------------------------------------------------


# The report reason that is about a person's safety: it flags the message's author for their care
# team, as crisis language does, and comes first in the moderation queue.
SAFETY_REASON = "unsafe"


def report(db: Session, *, message: Message, reporter: User, reason: str, detail: str) -> None:
    """Ask the group's facilitators to look at a message, in a group's room or a direct
    conversation started in it (once per person and message). Worry about someone's safety
    also raises a care flag on the author (a participant) and alerts their care team."""
    check(db, reporter, MESSAGE, message, Action.view)
    conversation = db.get(Conversation, message.conversation_id)
    if conversation.group_id is None or message.author_id == reporter.id:
        raise NotPermitted("message", message.id)
    if reason not in REPORT_REASONS:
        raise MessageRefused("Choose a reason.")
    exists_already = db.exec(
        select(MessageReport.id).where(
            MessageReport.message_id == message.id, MessageReport.reporter_id == reporter.id
        )
    ).first()
    if exists_already:
        return
    try:
        with db.begin_nested():
            row = MessageReport(
                message_id=message.id,
                reporter_id=reporter.id,
                reason=reason,
                detail=detail.strip()[:500],
            )
            db.add(row)
            db.flush()
            # In the same savepoint (see `send`): a report stored without its flag never flags.
            if reason == SAFETY_REASON:
                author = db.get(User, message.author_id)
                if author is not None and author.is_participant:
                    raise_flag(
                        db,
                        participant_id=author.id,
                        reason="peer_report",
                        source_type="message",
                        source_id=message.id,
                    )
    except IntegrityError:
        return
    audit.record(
        db,
        "message_reported",
        actor_id=reporter.id,
        object_type="message",
        object_id=message.id,
        detail=f"reason={reason}",
    )


@dataclass
class QueueRow:
    report: MessageReport
    message: Message
    group_name: str
    author_name: str
    conversation_id: int
    kind: str
    author_role: str
    on_my_caseload: bool  # the author's page is the staff member's to open

    @property
    def about_safety(self) -> bool:
        return self.report.reason == SAFETY_REASON

    @property
    def is_direct(self) -> bool:
        return self.kind == ConversationKind.direct

    @property
    def author_is_staff(self) -> bool:
        return self.author_role != Role.participant


def open_reports(db: Session, *, staff: User) -> list[QueueRow]:
    """Reports on messages in the groups a staff member facilitates: worry about someone's
    safety first, then oldest first: one query."""
    rows = db.exec(
        select(
            MessageReport,
            Message,
            Group.name,
            User.name,
            Conversation.id,
            Conversation.kind,
            User.role,
            PARTICIPANT.where(staff),
        )
        .join(Message, col(Message.id) == MessageReport.message_id)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .join(Group, col(Group.id) == Conversation.group_id)
        .join(User, col(User.id) == Message.author_id)
        .where(
            col(MessageReport.id).in_(MESSAGE_REPORT.ids(staff)),
            col(MessageReport.resolved_at).is_(None),
        )
        .order_by(
            case((MessageReport.reason == SAFETY_REASON, 0), else_=1),
            col(MessageReport.created_at),
            col(MessageReport.id),
        )
    ).all()
    return [QueueRow(*row) for row in rows]


def open_report_count(db: Session, *, staff: User) -> int:
    return db.exec(
        select(func.count(MessageReport.id)).where(
            MESSAGE_REPORT.where(staff), col(MessageReport.resolved_at).is_(None)
        )
    ).one()


def _resolve_reports(db: Session, *, message_id: int, by: User) -> None:
    for row in db.exec(
        select(MessageReport).where(
            MessageReport.message_id == message_id, col(MessageReport.resolved_at).is_(None)
        )
    ):
        row.resolved_at, row.resolved_by_id = utcnow(), by.id
        db.add(row)


def _tell_and_audit(
    db: Session,
    *,
    by: User,
    member_id: int,
    kind: str,
    text: str,
    action: str,
    object_type: str,
    object_id: int,
    notification_object_id: int | None = None,
    detail: str | None = None,
) -> None:
    """A moderation action's two halves: the member is told (in generic words, never the
    reason or the message) and the action is written to the audit log."""
    notify(db, user_id=member_id, kind=kind, text=text, object_id=notification_object_id)
    audit.record(
        db,
        action,
        actor_id=by.id,
        subject_id=member_id,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )


def hide(db: Session, *, message: Message, by: User, reason: str) -> None:
    """A facilitator hides a message, for one of `REMOVAL_REASONS`: others see "Removed by a
    moderator"; its reports close; the author is told why in general words (never the message);
    audited with the reason."""
    check(db, by, MESSAGE, message, Action.change)
    if reason not in REMOVAL_REASONS:
        raise MessageRefused("Choose why the message is removed.")
    if message.hidden_at is None:
        message.hidden_at, message.hidden_by_id = utcnow(), by.id
        db.add(message)
        _tell_and_audit(
            db,
            by=by,
            member_id=message.author_id,
            kind="moderation",
            text=(
                "A moderator removed one of your messages in a group because "
                f"{REMOVAL_REASONS[reason][1]}. You are still welcome there; the group's "
                "guidelines are at the top of the room."
            ),
            notification_object_id=message.conversation_id,
            action="message_hidden",
            object_type="message",
            object_id=message.id,
            detail=f"reason={reason}",
        )
    _resolve_reports(db, message_id=message.id, by=by)


def dismiss_report(db: Session, *, report: MessageReport, by: User) -> None:
    """A facilitator looked and leaves the message as it is (audited)."""
    message = db.get(Message, report.message_id)
    check(db, by, MESSAGE, message, Action.change)
    _resolve_reports(db, message_id=message.id, by=by)
    audit.record(
        db, "message_report_dismissed", actor_id=by.id, object_type="message", object_id=message.id
    )


def _member(db: Session, *, conversation: Conversation, by: User, member_id: int | None) -> User:
    """A member of the group a facilitator moderates (NotPermitted otherwise)."""
    check(db, by, CONVERSATION, conversation, Action.view)
    if not moderates(db, by, conversation):
        raise NotPermitted("conversation", conversation.id)
    member = db.get(User, member_id) if member_id else None
    if member is None or not member_of(db, member.id, conversation.group_id):
        raise NotPermitted("group_member", member_id)
    return member


def mute(
    db: Session, *, conversation: Conversation, by: User, member_id: int | None, hours: int
) -> Mute:
    """A facilitator pauses a member's posting in the group for `hours` (audited; the member is
    told)."""
    member = _member(db, conversation=conversation, by=by, member_id=member_id)
    row = db.exec(
        select(Mute).where(Mute.conversation_id == conversation.id, Mute.user_id == member.id)
    ).first() or Mute(conversation_id=conversation.id, user_id=member.id, until=utcnow())
    row.until, row.by_id, row.created_at = utcnow() + timedelta(hours=hours), by.id, utcnow()
    db.add(row)
    _tell_and_audit(
        db,
        by=by,
        member_id=member.id,
        kind="moderation",
        text="A facilitator paused your posting in a group for now.",
        notification_object_id=conversation.id,
        action="group_member_muted",
        object_type="conversation",
        object_id=conversation.id,
        detail=f"hours={hours}",
    )
    return row


def member_to_remove(
    db: Session, *, conversation: Conversation, by: User, member_id: int | None
) -> User:
    """The member a facilitator is about to remove (for the confirmation step)."""
    return _member(db, conversation=conversation, by=by, member_id=member_id)


def remove_member(db: Session, *, conversation: Conversation, by: User, member_id: int | None):
    """A facilitator removes a member from the group: they no longer reach its room, sessions
    or practice, and their direct conversations there become read-only (audited; the member is
    told)."""
    member = _member(db, conversation=conversation, by=by, member_id=member_id)
    db.exec(
        delete(GroupMembership).where(
            GroupMembership.group_id == conversation.group_id,
            GroupMembership.user_id == member.id,
            ~col(GroupMembership.is_facilitator),
        )
    )
    db.exec(delete(Mute).where(Mute.conversation_id == conversation.id, Mute.user_id == member.id))
    _tell_and_audit(
        db,
        by=by,
        member_id=member.id,
        kind="group_removed",
        text="A facilitator removed you from a group. Your care team can tell you more.",
        action="group_member_removed",
        object_type="group",
        object_id=conversation.group_id,
    )
    return member


def members(db: Session, *, conversation: Conversation) -> list[User]:
    """A group's members, by name (for the facilitator's moderation controls)."""
    return list(
        db.exec(
            select(User)
            .join(GroupMembership, col(GroupMembership.user_id) == User.id)
            .where(
                GroupMembership.group_id == conversation.group_id,
                ~col(GroupMembership.is_facilitator),
            )
            .order_by(func.lower(User.name))
        )
    )


def set_guidelines(db: Session, *, conversation: Conversation, by: User, text: str) -> None:
    """A facilitator writes the group's guidelines ("" puts back the default ones)."""
    if not moderates(db, by, conversation):
        raise NotPermitted("conversation", conversation.id)
    conversation.guidelines = text.strip()
    db.add(conversation)
    audit.record(
        db,
        "group_guidelines_changed",
        actor_id=by.id,
        object_type="conversation",
        object_id=conversation.id,
    )


# --- Direct conversations between members ------------------------------------------------------


def set_direct_messages(db: Session, *, room: Conversation, by: User, on: bool) -> None:
    """A facilitator turns direct messages between the group's members on or off (audited).
    Off makes the existing direct conversations read-only; they are not deleted."""
    check(db, by, GROUP_ROOM, room, Action.change)
    if room.direct_messages == on:
        return
    room.direct_messages = on
    db.add(room)
    audit.record(
        db,
        "group_direct_messages_on" if on else "group_direct_messages_off",
        actor_id=by.id,
        object_type="group",
        object_id=room.group_id,
    )


def _blockers(db: Session, a: int, b: int) -> set[int]:
    """Who, of two people, blocked the other (an empty set: neither)."""
    return set(
        db.exec(
            select(Block.blocker_id).where(
                or_(
                    and_(Block.blocker_id == a, Block.blocked_id == b),
                    and_(Block.blocker_id == b, Block.blocked_id == a),
                )
            )
        )
    )


def blocked_by_me(db: Session, *, conversation: Conversation, user: User) -> bool:
    if not conversation.is_direct:
        return False
    return user.id in _blockers(db, user.id, conversation.other_peer(user.id))


def direct_closed(db: Session, *, conversation: Conversation, user: User) -> str | None:
    """Why a participant may not write in a direct conversation now, in a plain sentence (None:
    they may): the other's account is closed, a block, the facilitators turned direct messages
    off, or one of them is no longer in the group."""
    other = db.get(User, conversation.other_peer(user.id))
    group = db.get(Group, conversation.group_id)
    name = other.name if other is not None else "This person"
    group_name = group.name if group is not None else "the group"
    if other is None or not other.is_active:
        return f"{name}'s account is closed, so this conversation is read-only."
    blockers = _blockers(db, user.id, other.id)
    if user.id in blockers:
        return (
            f"You blocked {name}, so this conversation is read-only. Unblock them to write again."
        )
    if blockers:
        return f"{name} is not taking direct messages from you, so this conversation is read-only."
    room = conversation_for(db, kind=ConversationKind.group, object_id=conversation.group_id)
    if room is None or not room.direct_messages:
        return (
            f"The facilitators of {group_name} turned direct messages off, so this conversation "
            "is read-only."
        )
    if not member_of(db, user.id, conversation.group_id):
        return f"You are no longer in {group_name}, so this conversation is read-only."
    if not member_of(db, other.id, conversation.group_id):
        return f"{name} is no longer in {group_name}, so this conversation is read-only."
    return None


def start_direct(
    db: Session, *, room: Conversation, by: User, member_id: int | None
) -> Conversation:
    """A member opens a direct conversation with another member of the group ("Message Alex"):
    the one they already have, or a new one if the group's facilitators allow direct messages
    and neither blocked the other. Raises NotPermitted for someone who is not a fellow member,
    MessageRefused (with the reason) when it may not start."""
    check(db, by, CONVERSATION, room, Action.view)
    if not room.is_group or not by.is_participant:
        raise NotPermitted("conversation", room.id)
    other = db.get(User, member_id) if member_id else None
    if (
        other is None
        or other.id == by.id
        or not other.is_participant
        or not member_of(db, other.id, room.group_id)
    ):
        raise NotPermitted("group_member", member_id)
    key = _direct_key(room.group_id, by.id, other.id)
    existing = db.exec(select(Conversation).where(Conversation.key == key)).first()
    if existing is not None:
        return existing  # it says itself if it is read-only now
    if not room.direct_messages:
        raise MessageRefused("Direct messages are turned off in this group.")
    if not other.is_active:
        raise MessageRefused(f"{other.name}'s account is closed.")
    blockers = _blockers(db, by.id, other.id)
    if by.id in blockers:
        raise MessageRefused(f"You blocked {other.name}. Unblock them first.")
    if blockers:
        raise MessageRefused(f"{other.name} is not taking direct messages from you.")
    low, high = sorted((by.id, other.id))
    conversation = Conversation(
        key=key,
        kind=ConversationKind.direct,
        group_id=room.group_id,
        peer_a_id=low,
        peer_b_id=high,
    )
    try:
        with db.begin_nested():  # the other person may open it at the same moment
            db.add(conversation)
            db.flush()
    except IntegrityError:
        conversation = db.exec(select(Conversation).where(Conversation.key == key)).one()
    return conversation


def block(db: Session, *, conversation: Conversation, by: User) -> User:
    """A participant stops the other person in a direct conversation from messaging them
    (here and anywhere else; audited). Returns the person blocked."""
    check(db, by, CONVERSATION, conversation, Action.view)
    if not conversation.is_direct:
        raise NotPermitted("conversation", conversation.id)
    other_id = conversation.other_peer(by.id)
    if other_id is not None and by.id not in _blockers(db, by.id, other_id):
        try:
            with db.begin_nested():
                db.add(Block(blocker_id=by.id, blocked_id=other_id))
                db.flush()
        except IntegrityError:
            pass
        audit.record(
            db,
            "message_peer_blocked",
            actor_id=by.id,
            subject_id=other_id,
            object_type="conversation",
            object_id=conversation.id,
        )
    return db.get(User, other_id)


def unblock(db: Session, *, conversation: Conversation, by: User) -> User:
    """A participant lets the other person message them again (audited)."""
    check(db, by, CONVERSATION, conversation, Action.view)
    if not conversation.is_direct:
        raise NotPermitted("conversation", conversation.id)
    other_id = conversation.other_peer(by.id)
    db.exec(delete(Block).where(Block.blocker_id == by.id, Block.blocked_id == other_id))
    audit.record(
        db,
        "message_peer_unblocked",
        actor_id=by.id,
        subject_id=other_id,
        object_type="conversation",
        object_id=conversation.id,
    )
    return db.get(User, other_id)


# --- My data -----------------------------------------------------------------------------------


def export_records(db: Session, *, user: User) -> list[dict]:
    """Every message the person wrote, oldest first, with where it went, for "My data"."""
    rows = db.exec(
        select(Message, Conversation, Group.name)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .outerjoin(Group, col(Group.id) == Conversation.group_id)
        .where(Message.author_id == user.id)
        .order_by(col(Message.written_at), col(Message.id))
    ).all()
    return [
        {
            "conversation": (
                group_name
                if c.is_group
                else f"Direct message ({group_name})"
                if c.is_direct
                else "Care team"
            ),
            "written_at": m.written_at.isoformat(),
            "received_at": m.received_at.isoformat(),
            "text": m.body,
            "removed_by_moderator": m.hidden_at is not None,
        }
        for m, c, group_name in rows
    ]


def export_blocks(db: Session, *, user: User) -> list[dict]:
    """The members the person blocked, and since when, for "My data" (None blocked: nothing)."""
    rows = db.exec(
        select(User.name, Block.created_at)
        .join(Block, col(Block.blocked_id) == User.id)
        .where(Block.blocker_id == user.id)
        .order_by(col(Block.created_at))
    ).all()
    return [{"blocked": name, "since": since.isoformat()} for name, since in rows]


def erase_records(db: Session, *, user: User) -> None:
    """Delete every message the person wrote, their care team's thread and their direct
    conversations (account deletion); their reports, cursors, agreements, mutes and blocks go
    with them."""
    db.exec(delete(Message).where(Message.author_id == user.id))
    db.exec(
        delete(Conversation).where(
            or_(
                Conversation.participant_id == user.id,
                Conversation.peer_a_id == user.id,
                Conversation.peer_b_id == user.id,
            )
        )
    )
    db.exec(delete(Block).where(or_(Block.blocker_id == user.id, Block.blocked_id == user.id)))
    for model in (MessageReport,):
        db.exec(delete(model).where(model.reporter_id == user.id))
    for model in (ReadCursor, GuidelineAgreement, Mute):
        db.exec(delete(model).where(model.user_id == user.id))
