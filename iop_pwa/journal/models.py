"""The participant's journal: free-text entries and one-tap mood check-ins, private by default."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from iop_pwa.db import UTCDateTime, utcnow

MAX_TEXT = 20_000

# The mood scale: every step has a word, not just a face.
MOODS = {1: "Very low", 2: "Low", 3: "Okay", 4: "Good", 5: "Very good"}

FEELINGS = [
    "Calm",
    "Hopeful",
    "Grateful",
    "Connected",
    "Proud",
    "Tired",
    "Anxious",
    "Sad",
    "Angry",
    "Lonely",
    "Overwhelmed",
    "Ashamed",
    "Restless",
    "Numb",
]


class JournalEntry(SQLModel, table=True):
    """One journal entry or mood check-in (a check-in is an entry without text).

    `client_id` is made on the device, so a write replayed after a lost connection is stored once:
    UNIQUE(user_id, client_id). `written_at` is the device's time of writing, `received_at` the
    server's; `local_date` is the participant's date when they wrote it (their "today").
    """

    __table_args__ = (
        UniqueConstraint("user_id", "client_id"),
        Index("ix_journalentry_user_written", "user_id", "written_at"),
        # Today's check-in by the person's day; what they shared, newest first (the therapist's
        # page): each from the person's own rows, however long their history.
        Index("ix_journalentry_user_day", "user_id", "local_date"),
        Index("ix_journalentry_user_shared", "user_id", "shared", "written_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    client_id: str = Field(max_length=36)
    kind: str = Field(default="entry", max_length=10)  # "entry" or "checkin"
    mood: int | None = Field(default=None, ge=1, le=5)
    feelings: str = Field(default="", max_length=400)  # chosen feelings, comma-separated
    own_words: str = Field(default="", max_length=200)  # feelings in the participant's words
    prompt: str | None = Field(default=None, max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    shared: bool = Field(default=False)
    local_date: date
    written_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def mood_word(self) -> str | None:
        return MOODS.get(self.mood) if self.mood else None

    @property
    def feeling_list(self) -> list[str]:
        return [f for f in self.feelings.split(",") if f]
