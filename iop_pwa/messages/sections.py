"""The messages' part of Today: unread messages from the care team."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from iop_pwa.accounts.models import User
from iop_pwa.messages import services
from iop_pwa.messages.models import ConversationKind


def today(*, db: Session, person: User, now: datetime) -> dict | None:
    """Shown only when the care team wrote something the participant has not read: two
    queries then, one otherwise."""
    unread = services.care_team_unread(db, participant=person)
    if not unread:
        return None
    conversation = services.conversation_for(
        db, kind=ConversationKind.care_team, object_id=person.id
    )
    return {"unread": unread, "conversation": conversation}


def unread_for_nav(db: Session, person: User) -> int:
    return services.unread_total(db, person)
