"""Therapy sessions: scheduled video sessions, family guests, attendance and calendar feeds."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from iop_pwa.db import UTCDateTime, enum_type, utcnow


class SessionKind(enum.StrEnum):
    individual = "individual"
    group = "group"
    family = "family"


class AttendanceStatus(enum.StrEnum):
    attended = "attended"
    late = "late"
    missed = "missed"


KINDS = {
    SessionKind.individual: "Individual session",
    SessionKind.group: "Group session",
    SessionKind.family: "Family session",
}
ATTENDANCE = {
    AttendanceStatus.attended: "Attended",
    AttendanceStatus.late: "Late",
    AttendanceStatus.missed: "Missed",
}
JOIN_OPENS_BEFORE = timedelta(minutes=10)


def _moved(at: datetime, delta: timedelta) -> datetime:
    """`at + delta`, held at the end of the calendar instead of overflowing: a far date already
    stored must not break every page that shows it."""
    try:
        return at + delta
    except OverflowError:
        return (datetime.max if delta > timedelta(0) else datetime.min).replace(tzinfo=UTC)


class TherapySession(SQLModel, table=True):
    """One occurrence of a session. Weekly repeats are separate rows sharing a `series_id`, so
    each occurrence can be moved or cancelled on its own."""

    __tablename__ = "therapy_session"
    # A participant's sessions are read by source and time (`services._theirs`).
    __table_args__ = (
        Index("ix_therapy_session_participant_starts", "participant_id", "starts_at"),
        Index("ix_therapy_session_group_starts", "group_id", "starts_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    therapist_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    kind: SessionKind = Field(
        sa_column=Column(enum_type(SessionKind, "session_kind", 12), nullable=False)
    )
    title: str = Field(max_length=120)
    starts_at: datetime = Field(sa_type=UTCDateTime, index=True)
    duration_minutes: int = Field(default=60, ge=5, le=480)
    video_url: str = Field(max_length=500)
    participant_id: int | None = Field(default=None, foreign_key="user.id", ondelete="CASCADE")
    group_id: int | None = Field(default=None, foreign_key="therapy_group.id", ondelete="CASCADE")
    series_id: str | None = Field(default=None, max_length=36, index=True)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def ends_at(self) -> datetime:
        return _moved(self.starts_at, timedelta(minutes=self.duration_minutes))

    @property
    def join_opens_at(self) -> datetime:
        return _moved(self.starts_at, -JOIN_OPENS_BEFORE)

    def can_join(self, now: datetime) -> bool:
        """The join link works from 10 minutes before the start until the end."""
        return self.cancelled_at is None and self.join_opens_at <= now < self.ends_at

    @property
    def kind_name(self) -> str:
        return KINDS.get(self.kind, self.kind)


class FamilyGuest(SQLModel, table=True):
    """A family member invited to one family session through a private link (no account)."""

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="therapy_session.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Attendance(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("session_id", "participant_id"),
        # "Missed a session lately" (the dashboard, for the whole caseload) reads each person's
        # missed ones only, not their year of attendance.
        Index("ix_attendance_participant_status", "participant_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="therapy_session.id", index=True, ondelete="CASCADE")
    participant_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    status: AttendanceStatus = Field(
        sa_column=Column(enum_type(AttendanceStatus, "attendance_status", 10), nullable=False)
    )
    marked_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    marked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CalendarFeed(SQLModel, table=True):
    """A participant's private calendar subscription URL (secret token, replaceable)."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True, ondelete="CASCADE")
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    include_links: bool = False  # video links in the feed only if the participant opts in
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
