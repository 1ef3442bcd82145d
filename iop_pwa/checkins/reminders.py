"""Check-in reminders, as a `features.ReminderSource`: on the day a check-in falls due, at the
person's daily reminder time (their local time; Account → Reminders), if it is not answered.

The category is "practice" (the daily reminder the person chose); the words on the phone are the
push feature's generic ones, never the check-in's name. Times are local dates and times made UTC
with zoneinfo, so 18:00 stays 18:00 across daylight-saving changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlmodel import Session, col, func, select

from iop_pwa.accounts.models import GroupMembership, ParticipantStatus, Role, User
from iop_pwa.checkins import services
from iop_pwa.checkins.models import CheckinAnswer, CheckinSchedule
from iop_pwa.features import Reminder, ReminderSettings

TOPIC = "checkin"


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _wanted(db: Session) -> tuple[dict[int, list[CheckinSchedule]], list[User]]:
    """Live schedules by participant (a group's for each member) and the people: three queries."""
    schedules = list(
        db.exec(select(CheckinSchedule).where(col(CheckinSchedule.stopped_at).is_(None)))
    )
    group_ids = {s.group_id for s in schedules if s.group_id}
    members: dict[int, list[int]] = {}
    if group_ids:
        for group_id, user_id in db.exec(
            select(GroupMembership.group_id, GroupMembership.user_id).where(
                col(GroupMembership.group_id).in_(group_ids), ~col(GroupMembership.is_facilitator)
            )
        ):
            members.setdefault(group_id, []).append(user_id)
    theirs: dict[int, list[CheckinSchedule]] = {}
    for s in schedules:
        for user_id in [s.participant_id] if s.participant_id else members.get(s.group_id, []):
            theirs.setdefault(user_id, []).append(s)
    people = list(
        db.exec(
            select(User).where(
                User.role == Role.participant,
                (col(User.id).in_(theirs) & (User.status == ParticipantStatus.active))
                | (
                    (User.status == ParticipantStatus.alumni) & col(User.discharged_on).is_not(None)
                ),
            )
        )
    )
    return theirs, people


def due(
    db: Session,
    *,
    start: datetime,
    end: datetime,
    settings: Callable[[int], ReminderSettings],
) -> Iterator[Reminder]:
    """The check-in reminders whose local time falls in [start, end)."""
    theirs, people = _wanted(db)
    if not people:
        return
    builtins = services.builtins(db)
    answered = {
        (pid, qid): last
        for pid, qid, last in db.exec(
            select(
                CheckinAnswer.participant_id,
                CheckinAnswer.questionnaire_id,
                func.max(CheckinAnswer.due_on),
            )
            .where(col(CheckinAnswer.participant_id).in_([p.id for p in people]))
            .group_by(CheckinAnswer.participant_id, CheckinAnswer.questionnaire_id)
        )
    }
    months = services.alumni_months()
    urls = current_app.url_map.bind("localhost")
    for person in people:
        daily = settings(person.id).daily_time
        if daily is None:
            continue
        zone = ZoneInfo(person.timezone)
        first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        for day in (first + timedelta(days=n) for n in range((last - first).days + 1)):
            moment = _at(day, daily, zone)
            if not start <= moment < end:
                continue
            if services.is_alumnus(person):
                falling = (
                    {q.id for q in builtins.values()}
                    if day in {services.add_months(person.discharged_on, m) for m in months}
                    else set()
                )
            else:
                falling = {
                    s.questionnaire_id
                    for s in theirs.get(person.id, [])
                    if services.is_occurrence(s, day)
                }
            for qid in sorted(falling):
                last_answered = answered.get((person.id, qid))
                if last_answered is not None and last_answered >= day:
                    continue
                yield Reminder(
                    user_id=person.id,
                    key=f"{qid}:{day.isoformat()}",
                    at=moment,
                    url=urls.build("checkins.answer", {"questionnaire_id": qid}),
                    category="practice",
                    topic=TOPIC,
                    expires_at=_at(day + timedelta(days=1), time(0), zone),
                )
