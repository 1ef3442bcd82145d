"""Messages: a participant's thread with their care team, and each group's room.

A conversation is made once per care team (keyed by the participant) and once per group, the
first time someone who belongs to it opens Messages. A message is plain text; `client_id` is
made on the device, so a message written offline and sent again after a lost connection is
stored once (UNIQUE(author_id, client_id)). Read cursors give unread counts without a row per
message and reader. Moderation (groups): reports, hidden messages, mutes; removing a member is
the group membership going.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from iop_pwa.db import UTCDateTime, utcnow

MAX_MESSAGE = 2_000


class ConversationKind(enum.StrEnum):
    care_team = "care_team"
    group = "group"
    direct = "direct"  # two members of a group, when its facilitators turn direct messages on


DEFAULT_GUIDELINES = """Be kind. Everyone here is working on something hard.
Keep what others share in this group inside this group.
Speak from your own experience ("I" statements); no advice unless someone asks for it.
No names of other people, addresses or phone numbers.
This room is not watched around the clock: in a crisis, use "Get help now"."""


class Conversation(SQLModel, table=True):
    """A care team's thread (`participant_id`), a group's room (`group_id`), or a direct
    conversation between two members of a group (`group_id` with `peer_a_id` < `peer_b_id`: the
    group whose facilitators allowed it and moderate its reports). `key` ("care:12", "group:5",
    "direct:5:12:14") makes each one unique, so two requests creating it at once make one."""

    __tablename__ = "conversation"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=40, unique=True)
    kind: str = Field(max_length=20)
    participant_id: int | None = Field(
        default=None, foreign_key="user.id", index=True, ondelete="CASCADE"
    )
    group_id: int | None = Field(
        default=None, foreign_key="therapy_group.id", index=True, ondelete="CASCADE"
    )
    peer_a_id: int | None = Field(
        default=None, foreign_key="user.id", index=True, ondelete="CASCADE"
    )
    peer_b_id: int | None = Field(
        default=None, foreign_key="user.id", index=True, ondelete="CASCADE"
    )
    # A group's guidelines as its facilitators wrote them ("" means the default ones).
    guidelines: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # A group's room: whether its members may start direct conversations with each other.
    direct_messages: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_message_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def is_group(self) -> bool:
        return self.kind == ConversationKind.group

    @property
    def is_direct(self) -> bool:
        return self.kind == ConversationKind.direct

    def other_peer(self, user_id: int) -> int | None:
        """In a direct conversation, the other person's id."""
        return self.peer_b_id if self.peer_a_id == user_id else self.peer_a_id

    @property
    def guideline_lines(self) -> list[str]:
        text = self.guidelines.strip() or DEFAULT_GUIDELINES
        return [line.strip() for line in text.splitlines() if line.strip()]


class Message(SQLModel, table=True):
    """One message. A hidden one stays (for the audit trail and the author's own copy) but
    everyone else sees "Removed by a moderator"."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("author_id", "client_id"),
        # The "anything after id N?" poll and the pages of older messages.
        Index("ix_message_conversation_id_id", "conversation_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    author_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    client_id: str = Field(max_length=36)
    body: str = Field(sa_column=Column(Text, nullable=False))
    written_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    hidden_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    hidden_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")


class ReadCursor(SQLModel, table=True):
    """The newest message a person has seen in a conversation: unread is what comes after."""

    __tablename__ = "message_read"
    __table_args__ = (UniqueConstraint("conversation_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    last_read_id: int = 0


class GuidelineAgreement(SQLModel, table=True):
    """A member said "I agree" to a group's guidelines (asked before their first post)."""

    __tablename__ = "guideline_agreement"
    __table_args__ = (UniqueConstraint("conversation_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    agreed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


REPORT_REASONS = {
    "unkind": "Unkind or hurtful",
    "private": "Shares someone's private information",
    "unsafe": "Worried about someone's safety",
    "spam": "Spam or selling something",
    "other": "Something else",
}


# Why a facilitator removes a message: the choice on the confirmation page, and the calm, general
# words its author is told (the notification says why, never what the message said).
REMOVAL_REASONS = {
    "unkind": ("Unkind or hurtful", "it could hurt others in the group"),
    "private": ("Shares someone's private information", "it shared private information"),
    "spam": ("Spam or selling something", "it looked like selling or spam"),
    "other": ("Another of the group's guidelines", "it did not fit the group's guidelines"),
}


class MessageReport(SQLModel, table=True):
    """Someone asked the facilitators to look at a message. Open until a facilitator acts."""

    __tablename__ = "message_report"
    __table_args__ = (UniqueConstraint("message_id", "reporter_id"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True, ondelete="CASCADE")
    reporter_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    reason: str = Field(max_length=20)
    detail: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")

    @property
    def reason_words(self) -> str:
        return REPORT_REASONS.get(self.reason, self.reason)


class Mute(SQLModel, table=True):
    """A member may not post in a group's room until `until` (set by a facilitator)."""

    __tablename__ = "conversation_mute"
    __table_args__ = (UniqueConstraint("conversation_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    until: datetime = Field(sa_type=UTCDateTime)
    by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Block(SQLModel, table=True):
    """A participant stopped another from messaging them directly: neither can start or
    continue a direct conversation with the other until the blocker unblocks."""

    __tablename__ = "message_block"
    __table_args__ = (UniqueConstraint("blocker_id", "blocked_id"),)

    id: int | None = Field(default=None, primary_key=True)
    blocker_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    blocked_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
