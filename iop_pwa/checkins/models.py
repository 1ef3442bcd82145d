"""Check-ins: scored questionnaires (PHQ-9, GAD-7) and the short check-ins a team writes, the
schedules that ask for them, and the participants' answers."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from iop_pwa.db import UTCDateTime, utcnow

# How often a schedule asks, in weeks, with the words the form shows.
EVERY_WEEKS = {1: "Every week", 2: "Every 2 weeks", 4: "Every 4 weeks"}


class Questionnaire(SQLModel, table=True):
    """A check-in. The built-in ones (PHQ-9, GAD-7) have a slug and their wording in
    `questionnaires.py`; a team's own has its questions here, one a line, on a labelled 1-5
    scale."""

    __tablename__ = "checkin_questionnaire"

    id: int | None = Field(default=None, primary_key=True)
    slug: str | None = Field(default=None, sa_column=Column(String(20), unique=True))
    title: str = Field(max_length=120)
    questions: str = Field(default="", max_length=1500)  # a team's own: one question a line
    owner_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def builtin(self) -> bool:
        return self.slug is not None

    @property
    def question_list(self) -> list[str]:
        return [q.strip() for q in self.questions.splitlines() if q.strip()]


class CheckinSchedule(SQLModel, table=True):
    """A check-in asked of one participant or of a whole group (members who join later too),
    every 1, 2 or 4 weeks from `start_date` (the participant's local dates) until stopped."""

    __tablename__ = "checkin_schedule"

    id: int | None = Field(default=None, primary_key=True)
    questionnaire_id: int = Field(
        foreign_key="checkin_questionnaire.id", index=True, ondelete="CASCADE"
    )
    therapist_id: int | None = Field(
        default=None, foreign_key="user.id", index=True, ondelete="SET NULL"
    )
    participant_id: int | None = Field(
        default=None, foreign_key="user.id", index=True, ondelete="CASCADE"
    )
    group_id: int | None = Field(
        default=None, foreign_key="therapy_group.id", index=True, ondelete="CASCADE"
    )
    every_weeks: int = Field(default=1, ge=1, le=4)
    start_date: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def every_words(self) -> str:
        return EVERY_WEEKS.get(self.every_weeks, f"Every {self.every_weeks} weeks")


class CheckinAnswer(SQLModel, table=True):
    """A participant's answer to one occurrence of a check-in (`due_on`: the day it fell due).

    One answer per (participant, check-in, occurrence); `client_id` is made on the device, so an
    answer replayed by the outbox is stored once. `answers` holds the chosen values in item
    order ("0,1,3,..."); `score` and `band` are computed when it arrives."""

    __tablename__ = "checkin_answer"
    __table_args__ = (
        UniqueConstraint("participant_id", "client_id"),
        UniqueConstraint("participant_id", "questionnaire_id", "due_on"),
        Index("ix_checkin_answer_participant_answered", "participant_id", "answered_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    questionnaire_id: int = Field(
        foreign_key="checkin_questionnaire.id", index=True, ondelete="CASCADE"
    )
    client_id: str = Field(max_length=36)
    due_on: date
    answers: str = Field(max_length=100)
    score: int
    band: str = Field(default="", max_length=30)
    local_date: date
    answered_at: datetime = Field(sa_type=UTCDateTime)  # the device's time
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def values(self) -> list[int]:
        return [int(v) for v in self.answers.split(",") if v.strip().lstrip("-").isdigit()]
