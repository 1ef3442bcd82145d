"""The daily practice reminder, as a `features.ReminderSource`: practice says what is due, the
push feature decides whether and how it reaches the person.

A person is reminded at their daily time (their local time, Account → Reminders), or at an
assignment's own `reminder_time` where the therapist set one, on the days something is due and
not yet done. Times are computed from the local date with zoneinfo, so they hold across both
daylight-saving changes: in the spring gap 02:30 becomes 03:30, in the autumn repeat the first
01:30 counts, and the key (the local date and time) makes the second one a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlmodel import Session, col, select

from iop_pwa.accounts.models import GroupMembership, ParticipantStatus, Role, User
from iop_pwa.features import Reminder, ReminderSettings
from iop_pwa.practice import services
from iop_pwa.practice.models import Assignment, AssignmentStatus

TOPIC = "practice-daily"  # a newer daily reminder replaces an undelivered older one


def _local_days(start: datetime, end: datetime, zone: ZoneInfo) -> list[date]:
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _theirs(db: Session) -> dict[int, list[tuple[Assignment, datetime | None]]]:
    """Every active assignment by participant (a group's for each member), two queries."""
    assignments = list(
        db.exec(select(Assignment).where(Assignment.status == AssignmentStatus.active))
    )
    group_ids = {a.group_id for a in assignments if a.group_id}
    members: dict[int, list[tuple[int, datetime]]] = {}
    if group_ids:
        for group_id, user_id, joined in db.exec(
            select(
                GroupMembership.group_id, GroupMembership.user_id, GroupMembership.joined_at
            ).where(
                col(GroupMembership.group_id).in_(group_ids), ~col(GroupMembership.is_facilitator)
            )
        ):
            members.setdefault(group_id, []).append((user_id, joined))
    found: dict[int, list[tuple[Assignment, datetime | None]]] = {}
    for a in assignments:
        if a.participant_id:
            found.setdefault(a.participant_id, []).append((a, None))
        for user_id, joined in members.get(a.group_id, []) if a.group_id else []:
            found.setdefault(user_id, []).append((a, joined))
    return found


def due(
    db: Session,
    *,
    start: datetime,
    end: datetime,
    settings: Callable[[int], ReminderSettings],
) -> Iterator[Reminder]:
    """The daily practice reminders whose local time falls in [start, end)."""
    theirs = _theirs(db)
    if not theirs:
        return
    people = db.exec(
        select(User).where(
            col(User.id).in_(theirs),
            User.role == Role.participant,
            User.status == ParticipantStatus.active,
        )
    ).all()
    url = current_app.url_map.bind("localhost").build("practice.index", {})
    for person in people:
        daily = settings(person.id).daily_time
        if daily is None:
            continue  # the person turned daily reminders off
        zone = ZoneInfo(person.timezone)
        pairs = theirs[person.id]
        times = {a.reminder_time or daily for a, _ in pairs}
        for day in _local_days(start, end, zone):
            for at in sorted(times):
                moment = _at(day, at, zone)
                if not start <= moment < end:
                    continue
                wanted = [
                    services.Assigned(a, None, services.own_start(a, joined, person.timezone))
                    for a, joined in pairs
                    if (a.reminder_time or daily) == at
                ]
                wanted = [x for x in wanted if x.is_due(day)]
                if not wanted:
                    continue
                done = services.completions_for(db, participant_id=person.id, start=day, end=day)
                if all((x.assignment.id, day) in done for x in wanted):
                    continue
                yield Reminder(
                    user_id=person.id,
                    key=f"{day.isoformat()}T{at:%H:%M}",
                    at=moment,
                    url=url,
                    category="practice",
                    topic=TOPIC,
                    expires_at=_at(day + timedelta(days=1), time(0), zone),
                )
