"""The daily digest of group activity, as a `features.ReminderSource`: messages says what is
due, the push feature decides whether and how it reaches the person (push, email, quiet hours).

A participant who chose the digest (Account → Reminders → Group activity, `digest_time` in
their `ReminderSettings`) gets at most one generic reminder a day, at their daily reminder time
in their own zone, when a group they belong to has messages they have not read that came since
the day before's digest time; nothing when there is nothing new. A member whose posting is
paused in a group gets no digest for that group; a member removed from a group is no longer a
member. Times come from the local date with zoneinfo (the same rules as the daily practice
reminder: in the spring gap 02:30 becomes 03:30, the repeated autumn hour counts once, and the
key is the local date).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, exists, func
from sqlmodel import Session, col, select

from iop_pwa.accounts.models import GroupMembership, ParticipantStatus, Role, User
from iop_pwa.features import Reminder, ReminderSettings
from iop_pwa.messages.models import Conversation, Message, Mute, ReadCursor

TOPIC = "group-digest"  # a newer digest replaces an undelivered older one


def _local_days(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def has_new(db: Session, *, user_id: int, since: datetime, until: datetime) -> bool:
    """Whether a group the person is a member of has a message they have not read, written by
    someone else, not removed, that came in (since, until], in a group where their posting is
    not paused at `until`. One query."""
    found = db.exec(
        select(Message.id)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .join(
            GroupMembership,
            and_(
                col(GroupMembership.group_id) == Conversation.group_id,
                GroupMembership.user_id == user_id,
                ~col(GroupMembership.is_facilitator),
            ),
        )
        .outerjoin(
            ReadCursor,
            and_(
                col(ReadCursor.conversation_id) == Conversation.id,
                ReadCursor.user_id == user_id,
            ),
        )
        .where(
            Message.id > func.coalesce(ReadCursor.last_read_id, 0),
            Message.author_id != user_id,
            col(Message.hidden_at).is_(None),
            col(Message.received_at) > since,
            col(Message.received_at) <= until,
            ~exists().where(
                col(Mute.conversation_id) == Conversation.id,
                Mute.user_id == user_id,
                col(Mute.until) > until,
            ),
        )
        .limit(1)
    ).first()
    return found is not None


def due(
    db: Session,
    *,
    start: datetime,
    end: datetime,
    settings: Callable[[int], ReminderSettings],
) -> Iterator[Reminder]:
    """The digests whose local time falls in [start, end): one query for the members, then
    one per person whose digest time has come."""
    members = db.exec(
        select(User.id, User.timezone)
        .join(GroupMembership, col(GroupMembership.user_id) == User.id)
        .where(
            ~col(GroupMembership.is_facilitator),
            User.role == Role.participant,
            User.status == ParticipantStatus.active,
        )
        .distinct()
    ).all()
    if not members:
        return
    url = current_app.url_map.bind("localhost").build("messages.index", {})
    for user_id, timezone in members:
        at = settings(user_id).digest_time
        if at is None:
            continue  # no digest chosen (the default)
        zone = ZoneInfo(timezone)
        for day in _local_days(start, end, zone):
            moment = _at(day, at, zone)
            if not start <= moment < end:
                continue
            since = _at(day - timedelta(days=1), at, zone)
            if not has_new(db, user_id=user_id, since=since, until=moment):
                continue
            yield Reminder(
                user_id=user_id,
                key=day.isoformat(),
                at=moment,
                url=url,
                category="group",
                topic=TOPIC,
                expires_at=_at(day + timedelta(days=1), time(0), zone),
            )
