"""Messages' parts of the therapist's participant page: what the participant wrote to their care
team, on the timeline, and "Send a message" (their care-team thread)."""

from __future__ import annotations

from datetime import datetime

from flask import url_for
from sqlmodel import Session, col, select

from iop_pwa.accounts.models import ParticipantStatus, User
from iop_pwa.features import TimelineEntry
from iop_pwa.messages.models import Conversation, ConversationKind, Message

EXCERPT = 300


def timeline(*, db: Session, person: User, before: datetime, limit: int) -> list[TimelineEntry]:
    """The participant's messages to their care team, newest first: one query. A message a
    moderator removed is left out."""
    rows = db.exec(
        select(Message)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(
            Conversation.participant_id == person.id,
            Conversation.kind == ConversationKind.care_team,
            Message.author_id == person.id,
            col(Message.hidden_at).is_(None),
            Message.written_at < before,
        )
        .order_by(col(Message.written_at).desc(), col(Message.id).desc())
        .limit(limit)
    ).all()
    return [
        TimelineEntry(
            at=m.written_at,
            kind="message",
            key=f"message:{m.id}",
            title="Message to the care team",
            detail=m.body if len(m.body) <= EXCERPT else m.body[: EXCERPT - 1] + "…",
            url=url_for("messages.show", conversation_id=m.conversation_id),
        )
        for m in rows
    ]


def message_url(*, db: Session, person: User) -> str | None:
    """Their care-team thread (Messages makes it on first opening, so the list until then)."""
    if person.status == ParticipantStatus.deactivated:
        return None
    found = db.exec(
        select(Conversation.id).where(
            Conversation.participant_id == person.id,
            Conversation.kind == ConversationKind.care_team,
        )
    ).first()
    if found is None:
        return url_for("messages.index")
    return url_for("messages.show", conversation_id=found)
