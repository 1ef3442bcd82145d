"""The sessions feature's parts of the therapist's dashboard: missed sessions (a reason to need
attention), each row's next session, attendance on the timeline, and "Schedule a session"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

from flask import url_for
from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from iop_pwa import dates
from iop_pwa.accounts.models import GroupMembership, ParticipantStatus, User
from iop_pwa.db import UTCDateTime
from iop_pwa.features import RANK_MISSED, Fact, Need, TimelineEntry
from iop_pwa.therapy.models import ATTENDANCE, Attendance, AttendanceStatus, TherapySession

MISSED_WITHIN = timedelta(days=14)


def missed_needs(*, db: Session, participants: list[User], now: datetime) -> list[Need]:
    """Participants marked absent from a session in the last 14 days: one query."""
    rows = db.exec(
        _missed_statement(),
        params={"ids": [p.id for p in participants], "since": now - MISSED_WITHIN, "now": now},
    ).all()
    found = []
    for participant_id, count, first in rows:
        what = "a session" if count == 1 else f"{count} sessions"
        found.append(Need(participant_id, RANK_MISSED, f"Missed {what} in the last 14 days", first))
    return found


def _at(name: str):
    return bindparam(name, type_=UTCDateTime)


@cache
def _missed_statement():
    """`missed_needs`'s query, built once (the dashboard asks on every load and refresh)."""
    return (
        select(Attendance.participant_id, func.count(), func.min(TherapySession.starts_at))
        .join(TherapySession, col(TherapySession.id) == Attendance.session_id)
        .where(
            col(Attendance.participant_id).in_(bindparam("ids", expanding=True)),
            Attendance.status == AttendanceStatus.missed,
            TherapySession.starts_at >= _at("since"),
            TherapySession.starts_at <= _at("now"),
        )
        .group_by(Attendance.participant_id)
    )


@cache
def _next_statements():
    """`next_facts`'s two queries (own sessions, groups' sessions), built once."""
    ids = bindparam("ids", expanding=True)
    live = (col(TherapySession.cancelled_at).is_(None), TherapySession.starts_at > _at("now"))
    first = func.min(TherapySession.starts_at)
    own = (
        select(TherapySession.participant_id, first)
        .where(col(TherapySession.participant_id).in_(ids), *live)
        .group_by(TherapySession.participant_id)
    )
    groups = (
        select(GroupMembership.user_id, first)
        .join(TherapySession, col(TherapySession.group_id) == GroupMembership.group_id)
        .where(col(GroupMembership.user_id).in_(ids), ~col(GroupMembership.is_facilitator), *live)
        .group_by(GroupMembership.user_id)
    )
    return own, groups


def next_facts(*, db: Session, participants: list[User], now: datetime) -> dict[int, Fact]:
    """Each participant's next session (their own, or their group's): two queries."""
    ids = [p.id for p in participants]
    soonest: dict[int, datetime] = {}
    own_query, groups_query = _next_statements()
    own = db.exec(own_query, params={"ids": ids, "now": now}).all()
    groups = db.exec(groups_query, params={"ids": ids, "now": now}).all()
    for participant_id, at in (*own, *groups):
        if at is not None and (participant_id not in soonest or at < soonest[participant_id]):
            soonest[participant_id] = at
    return {
        pid: Fact(dates.short_day_time(_utc(at)) if at else "None scheduled")
        for pid in ids
        for at in [soonest.get(pid)]
    }


def _utc(at: datetime) -> datetime:
    """An aggregate's datetime as UTC (SQLite gives min() back without its zone)."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def timeline(*, db: Session, person: User, before: datetime, limit: int) -> list[TimelineEntry]:
    """Attendance marked for the participant, newest session first: one query. Their own
    sessions link to the session's page (a group's may belong to another facilitator)."""
    rows = db.exec(
        select(Attendance, TherapySession)
        .join(TherapySession, col(TherapySession.id) == Attendance.session_id)
        .where(Attendance.participant_id == person.id, TherapySession.starts_at < before)
        .order_by(col(TherapySession.starts_at).desc(), col(Attendance.id).desc())
        .limit(limit)
    ).all()
    return [
        TimelineEntry(
            at=s.starts_at,
            kind="attendance",
            key=f"attendance:{a.id}",
            title=f"{ATTENDANCE.get(a.status, a.status)}: {s.title}",
            url=url_for("sessions.manage", session_id=s.id) if s.participant_id else None,
        )
        for a, s in rows
    ]


def schedule_url(*, db: Session, person: User) -> str | None:
    if person.status != ParticipantStatus.active:
        return None
    return url_for("sessions.new", participant=person.id)
