"""Messages services: keyword-only, typed, take the session and never commit (the caller does).

Counting unread messages uses read cursors: a message is unread for a person when it is newer
than their cursor in its conversation, someone else wrote it and it is not hidden. Every count
here is one query, whatever the number of conversations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, literal, union_all
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, or_, select

from iop_pwa import audit
from iop_pwa.access import (
    Action,
    NotPermitted,
    caseload_ids,
    check,
    facilitated_group_ids,
    member_group_ids,
    member_of,
)
from iop_pwa.accounts.models import CareTeamLink, Group, GroupMembership, Role, User
from iop_pwa.db import utcnow
from iop_pwa.messages.models import (
    MAX_MESSAGE,
    REPORT_REASONS,
    Conversation,
    ConversationKind,
    GuidelineAgreement,
    Message,
    MessageReport,
    Mute,
    ReadCursor,
)
from iop_pwa.messages.policies import CONVERSATION, MESSAGE, moderates
from iop_pwa.notifications import Notification, notify
from iop_pwa.safety import has_crisis_language, raise_flag

PAGE_SIZE = 30
MUTE_CHOICES = {24: "For a day", 72: "For three days", 168: "For a week"}


class MessageRefused(Exception):
    """The person may see the conversation but may not post this now; the text says why."""


# --- Which conversations a person has ------------------------------------------------------------


def _visible(user: User):
    """The condition on Conversation for the ones this person belongs to."""
    if user.is_staff:
        return or_(
            col(Conversation.participant_id).in_(caseload_ids(user.id)),
            col(Conversation.group_id).in_(facilitated_group_ids(user.id)),
        )
    return or_(
        Conversation.participant_id == user.id,
        col(Conversation.group_id).in_(member_group_ids(user.id)),
    )


def _key(kind: ConversationKind, object_id: int) -> str:
    return f"{'care' if kind == ConversationKind.care_team else 'group'}:{object_id}"


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
        col(Group.id).in_(groups), ~exists().where(Conversation.group_id == Group.id)
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
    return db.exec(select(Conversation).where(Conversation.key == _key(kind, object_id))).first()


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


def conversation_rows(db: Session, *, user: User) -> list[ConversationRow]:
    """The person's conversations, newest activity first, named for them ("Care team", the
    group's name, or for staff the participant's name), with unread counts: one query."""
    query = _with_cursor(
        select(Conversation, Group.name, User.name, func.count(Message.id)),
        user.id,
        Conversation.id,
    )
    rows = db.exec(
        query.outerjoin(
            Message, and_(Message.conversation_id == Conversation.id, *_unread(user.id))
        )
        .outerjoin(Group, col(Group.id) == Conversation.group_id)
        .outerjoin(User, col(User.id) == Conversation.participant_id)
        .where(_visible(user))
        .group_by(col(Conversation.id), Group.name, User.name)
        .order_by(
            col(Conversation.last_message_at).desc().nulls_last(),
            func.lower(func.coalesce(Group.name, User.name)),
        )
    ).all()
    return [
        ConversationRow(c, title_for(c, user, group_name, person_name), count)
        for c, group_name, person_name, count in rows
    ]


def title_for(
    conversation: Conversation, user: User, group_name: str | None, person_name: str | None
) -> str:
    if conversation.is_group:
        return group_name or "Group"
    return (person_name or "Participant") if user.is_staff else "Care team"


def title_of(db: Session, *, conversation: Conversation, user: User) -> str:
    if conversation.is_group:
        group = db.get(Group, conversation.group_id)
        return title_for(conversation, user, group.name if group else None, None)
    person = db.get(User, conversation.participant_id)
    return title_for(conversation, user, None, person.name if person else None)


def unread_total(db: Session, user: User) -> int:
    """Unread messages in all of a person's conversations (the navigation's count): one query."""
    query = select(func.count(Message.id)).join(
        Conversation, col(Conversation.id) == Message.conversation_id
    )
    query = _with_cursor(query, user.id, Message.conversation_id)
    return db.exec(query.where(_visible(user), *_unread(user.id))).one()


def care_team_unread(db: Session, *, participant: User) -> int:
    """Unread messages from the participant's care team (Today): one query."""
    query = select(func.count(Message.id)).join(
        Conversation, col(Conversation.id) == Message.conversation_id
    )
    query = _with_cursor(query, participant.id, Message.conversation_id)
    return db.exec(
        query.where(Conversation.participant_id == participant.id, *_unread(participant.id))
    ).one()


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
    db: Session, *, conversation: Conversation, reader: User, before: int | None = None
) -> tuple[list[Shown], bool]:
    """A page of messages, oldest first, ending with the newest (or the newest before id
    `before`), and whether there are older ones: one query."""
    query = _with_authors().where(Message.conversation_id == conversation.id)
    if before is not None:
        query = query.where(Message.id < before)
    rows = db.exec(query.order_by(col(Message.id).desc()).limit(PAGE_SIZE + 1)).all()
    return _shown(list(reversed(rows[:PAGE_SIZE])), reader), len(rows) > PAGE_SIZE


def poll(db: Session, *, conversation_id: int, after_id: int, reader: User) -> list[Shown] | None:
    """ "Anything after id N?" in one query: the conversation, if the reader belongs to it (the
    same rule as the policy, written as `_visible`), outer-joined to its messages after N on the
    (conversation_id, id) index. None when the reader does not belong (or it does not exist);
    an empty list when nothing is new, the usual answer."""
    rows = db.exec(
        select(Conversation.id, Message, User.name, User.role)
        .select_from(Conversation)
        .outerjoin(Message, and_(Message.conversation_id == Conversation.id, Message.id > after_id))
        .outerjoin(User, col(User.id) == Message.author_id)
        .where(Conversation.id == conversation_id, _visible(reader))
        .order_by(col(Message.id))
        .limit(200)
    ).all()
    if not rows:
        return None
    return _shown([(m, name, role) for _, m, name, role in rows if m is not None], reader)


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
    """Until when a person may not post here (None: they may)."""
    until = db.exec(
        select(Mute.until).where(Mute.conversation_id == conversation.id, Mute.user_id == user.id)
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
    if conversation.is_group and author.is_participant:
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
    try:
        with db.begin_nested():  # the same message may arrive twice at once (page and worker)
            db.add(message)
            db.flush()
    except IntegrityError:
        existing = _by_client_id(db, author, client_id)
        return SendResult(existing, created=False, crisis=has_crisis_language(existing.body))
    conversation.last_message_at = now
    db.add(conversation)
    mark_read(db, conversation=conversation, user=author, up_to=message.id)
    crisis = author.is_participant and has_crisis_language(text)
    if crisis:
        raise_flag(
            db,
            participant_id=author.id,
            reason="crisis_language",
            source_type="message",
            source_id=message.id,
        )
    _notify(db, conversation=conversation, author=author)
    return SendResult(message, created=True, crisis=crisis)


def _by_client_id(db: Session, author: User, client_id: str) -> Message | None:
    return db.exec(
        select(Message).where(Message.author_id == author.id, Message.client_id == client_id)
    ).first()


def _notify(db: Session, *, conversation: Conversation, author: User) -> None:
    """A care-team message tells the other side; group activity tells no one (a digest is
    push's to add). The words never name the sender or quote the message, and one unread
    notification per conversation is enough."""
    if conversation.is_group:
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


def report(db: Session, *, message: Message, reporter: User, reason: str, detail: str) -> None:
    """Ask the group's facilitators to look at a message (once per person and message)."""
    check(db, reporter, MESSAGE, message, Action.view)
    conversation = db.get(Conversation, message.conversation_id)
    if not conversation.is_group or message.author_id == reporter.id:
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
    except IntegrityError:
        return
    audit.record(
        db, "message_reported", actor_id=reporter.id, object_type="message", object_id=message.id
    )


@dataclass
class QueueRow:
    report: MessageReport
    message: Message
    group_name: str
    author_name: str
    conversation_id: int


def open_reports(db: Session, *, staff: User) -> list[QueueRow]:
    """Reports on messages in the groups a staff member facilitates, oldest first: one query."""
    rows = db.exec(
        select(MessageReport, Message, Group.name, User.name, Conversation.id)
        .join(Message, col(Message.id) == MessageReport.message_id)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .join(Group, col(Group.id) == Conversation.group_id)
        .join(User, col(User.id) == Message.author_id)
        .where(
            col(Conversation.group_id).in_(facilitated_group_ids(staff.id)),
            col(MessageReport.resolved_at).is_(None),
        )
        .order_by(col(MessageReport.created_at), col(MessageReport.id))
    ).all()
    return [QueueRow(*row) for row in rows]


def open_report_count(db: Session, *, staff: User) -> int:
    return db.exec(
        select(func.count(MessageReport.id))
        .join(Message, col(Message.id) == MessageReport.message_id)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(
            col(Conversation.group_id).in_(facilitated_group_ids(staff.id)),
            col(MessageReport.resolved_at).is_(None),
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


def hide(db: Session, *, message: Message, by: User) -> None:
    """A facilitator hides a message: others see "Removed by a moderator"; its reports close;
    the author is told; audited."""
    check(db, by, MESSAGE, message, Action.change)
    if message.hidden_at is None:
        message.hidden_at, message.hidden_by_id = utcnow(), by.id
        db.add(message)
        notify(
            db,
            user_id=message.author_id,
            kind="moderation",
            text="A moderator removed one of your messages in a group.",
            object_id=message.conversation_id,
        )
        audit.record(
            db,
            "message_hidden",
            actor_id=by.id,
            subject_id=message.author_id,
            object_type="message",
            object_id=message.id,
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
    notify(
        db,
        user_id=member.id,
        kind="moderation",
        text="A facilitator paused your posting in a group for now.",
        object_id=conversation.id,
    )
    audit.record(
        db,
        "group_member_muted",
        actor_id=by.id,
        subject_id=member.id,
        object_type="conversation",
        object_id=conversation.id,
        detail=f"hours={hours}",
    )
    return row


def remove_member(db: Session, *, conversation: Conversation, by: User, member_id: int | None):
    """A facilitator removes a member from the group: they no longer reach its room, sessions
    or practice (audited; the member is told)."""
    member = _member(db, conversation=conversation, by=by, member_id=member_id)
    db.exec(
        delete(GroupMembership).where(
            GroupMembership.group_id == conversation.group_id,
            GroupMembership.user_id == member.id,
            ~col(GroupMembership.is_facilitator),
        )
    )
    db.exec(delete(Mute).where(Mute.conversation_id == conversation.id, Mute.user_id == member.id))
    notify(
        db,
        user_id=member.id,
        kind="group_removed",
        text="A facilitator removed you from a group. Your care team can tell you more.",
    )
    audit.record(
        db,
        "group_member_removed",
        actor_id=by.id,
        subject_id=member.id,
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
            "conversation": group_name if c.is_group else "Care team",
            "written_at": m.written_at.isoformat(),
            "received_at": m.received_at.isoformat(),
            "text": m.body,
            "removed_by_moderator": m.hidden_at is not None,
        }
        for m, c, group_name in rows
    ]


def erase_records(db: Session, *, user: User) -> None:
    """Delete every message the person wrote and their care team's thread (account deletion);
    their reports, cursors, agreements and mutes go with them."""
    db.exec(delete(Message).where(Message.author_id == user.id))
    db.exec(delete(Conversation).where(Conversation.participant_id == user.id))
    for model in (MessageReport,):
        db.exec(delete(model).where(model.reporter_id == user.id))
    for model in (ReadCursor, GuidelineAgreement, Mute):
        db.exec(delete(model).where(model.user_id == user.id))
