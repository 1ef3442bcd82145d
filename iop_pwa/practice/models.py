"""Practice: the exercise library, assignments with a schedule, completions and feedback."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from iop_pwa import dates
from iop_pwa.db import UTCDateTime, enum_type, utcnow

# The relationship skills the program teaches (domain text), in the words the library shows.
SKILLS = {
    "active_listening": "Active listening",
    "assertiveness": "Assertiveness",
    "boundaries": "Boundaries",
    "nonverbal": "Nonverbal communication",
    "empathy": "Empathy",
    "stress": "Stress and emotions",
    "family": "Family",
    "reflection": "Reflection",
}


class Schedule(enum.StrEnum):
    once = "once"
    daily = "daily"
    weekdays = "weekdays"


class AssignmentStatus(enum.StrEnum):
    active = "active"
    paused = "paused"
    ended = "ended"


WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
LATE_DAYS = 3  # a missed day can be filled in up to three days late


class Exercise(SQLModel, table=True):
    """An exercise in the library: built in (from a data file) or written by a therapist."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str | None = Field(default=None, sa_column=Column(String(80), unique=True))
    title: str = Field(max_length=120)
    skill: str = Field(max_length=30, index=True)
    why: str = Field(max_length=600)
    steps: str = Field(sa_column=Column(Text, nullable=False))  # Markdown, numbered steps
    minutes: int = Field(default=10, ge=1, le=120)
    questions: str = Field(default="", max_length=1200)  # one reflection question a line
    timer: str | None = Field(default=None, max_length=30)  # e.g. "box-breathing"
    owner_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    source_hash: str | None = Field(default=None, max_length=64)  # built-ins: the file's hash
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def builtin(self) -> bool:
        return self.slug is not None

    @property
    def question_list(self) -> list[str]:
        return [q for q in self.questions.splitlines() if q.strip()]

    @property
    def skill_name(self) -> str:
        return SKILLS.get(self.skill, self.skill)


class Assignment(SQLModel, table=True):
    """Practice given to one participant or to a whole group (members who join later included)."""

    id: int | None = Field(default=None, primary_key=True)
    exercise_id: int = Field(foreign_key="exercise.id", index=True)
    therapist_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    participant_id: int | None = Field(
        default=None, foreign_key="user.id", index=True, ondelete="CASCADE"
    )
    group_id: int | None = Field(
        default=None, foreign_key="therapy_group.id", index=True, ondelete="CASCADE"
    )
    schedule: Schedule = Field(
        default=Schedule.daily,
        sa_column=Column(enum_type(Schedule, "schedule", 10), nullable=False),
    )
    weekdays: str = Field(default="", max_length=20)  # "0,2,4" = Monday, Wednesday, Friday
    start_date: date
    end_date: date | None = None
    note: str = Field(default="", max_length=500)
    reminder_time: time | None = None  # local time; the push issue sends reminders
    status: AssignmentStatus = Field(
        default=AssignmentStatus.active,
        sa_column=Column(enum_type(AssignmentStatus, "assignment_status", 10), nullable=False),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def weekday_set(self) -> set[int]:
        return {int(d) for d in self.weekdays.split(",") if d.strip().isdigit()}

    def is_due(self, day: date, *, since: date | None = None) -> bool:
        """Whether this assignment asks for practice on the participant's local `day`. `since` is
        the participant's own first day (a group's assignment starts for a member on the day they
        joined: see `services.Assigned`); days before it were never theirs to do."""
        first = max(self.start_date, since) if since else self.start_date
        if self.status != AssignmentStatus.active or day < first:
            return False
        if self.end_date and day > self.end_date:
            return False
        if self.schedule == Schedule.once:
            return day == self.start_date
        if self.schedule == Schedule.weekdays:
            return day.weekday() in self.weekday_set
        return True

    def describe_schedule(self) -> str:
        if self.schedule == Schedule.once:
            return f"Once, on {dates.day(self.start_date)}"
        if self.schedule == Schedule.weekdays:
            days = ", ".join(WEEKDAY_NAMES[d] for d in sorted(self.weekday_set))
            text = f"Every {days}"
        else:
            text = "Every day"
        if self.end_date:
            text += f", until {dates.month_day(self.end_date)}"
        return text


class AssignmentEvent(SQLModel, table=True):
    """The history of an assignment: created, changed, paused, resumed, ended."""

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True, ondelete="CASCADE")
    by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    action: str = Field(max_length=20)
    detail: str = Field(default="", max_length=300)


class Completion(SQLModel, table=True):
    """A participant doing an assignment for one local date. The natural key is
    (assignment, participant, date), so a replayed mark-done never counts twice."""

    __table_args__ = (
        UniqueConstraint("assignment_id", "participant_id", "local_date"),
        UniqueConstraint("participant_id", "client_id"),
        Index("ix_completion_participant_date", "participant_id", "local_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id", index=True, ondelete="CASCADE")
    participant_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    client_id: str = Field(max_length=36)
    local_date: date  # the day this completion counts for
    late: bool = False  # filled in on a later day
    reflection: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    helpful: int | None = Field(default=None, ge=1, le=5)
    difficulty: int | None = Field(default=None, ge=1, le=5)
    done_at: datetime = Field(sa_type=UTCDateTime)  # the device's time
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Feedback(SQLModel, table=True):
    """A therapist's short note on a completion."""

    id: int | None = Field(default=None, primary_key=True)
    completion_id: int = Field(foreign_key="completion.id", index=True, ondelete="CASCADE")
    therapist_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    text: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
