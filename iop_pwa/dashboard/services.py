"""What the therapist's dashboard shows: the caseload and who needs attention.

Each function runs a fixed number of queries however large the caseload is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from iop_pwa.accounts import services as accounts
from iop_pwa.accounts.models import (
    Group,
    GroupMembership,
    Invitation,
    ParticipantStatus,
    User,
)
from iop_pwa.db import utcnow
from iop_pwa.safety import CareFlag, open_flags_for

# A participant who has not opened the app for this long shows under "Needs attention".
QUIET_AFTER = timedelta(days=3)


@dataclass
class CaseloadRow:
    participant: User
    groups: list[str] = field(default_factory=list)
    flags: list[CareFlag] = field(default_factory=list)  # open safety flags, newest first

    @property
    def quiet_days(self) -> int | None:
        """Whole days since the participant last used the app (None: never signed in)."""
        if self.participant.last_seen_at is None:
            return None
        return (utcnow() - self.participant.last_seen_at).days

    @property
    def quiet(self) -> bool:
        """Active, and has not used the app for a while (or never signed in)."""
        if self.participant.status != ParticipantStatus.active:
            return False
        seen = self.participant.last_seen_at
        return seen is None or utcnow() - seen > QUIET_AFTER

    @property
    def needs_attention(self) -> bool:
        return bool(self.flags) or self.quiet


def caseload(db: Session, therapist_id: int) -> list[CaseloadRow]:
    """The therapist's participants with their groups and open flags: three queries."""
    participants = accounts.caseload(db, therapist_id)
    rows = {p.id: CaseloadRow(p) for p in participants}
    if rows:
        memberships = db.exec(
            select(GroupMembership.user_id, Group.name)
            .join(Group, col(Group.id) == GroupMembership.group_id)
            .where(col(GroupMembership.user_id).in_(list(rows)))
            .order_by(Group.name)
        ).all()
        for user_id, name in memberships:
            rows[user_id].groups.append(name)
        for user_id, flags in open_flags_for(db, list(rows)).items():
            rows[user_id].flags = flags
    return list(rows.values())


def open_invitations(
    db: Session, therapist_id: int, now: datetime | None = None
) -> list[Invitation]:
    """Invitations not yet accepted or revoked (expired ones included, to renew)."""
    return list(
        db.exec(
            select(Invitation)
            .where(
                Invitation.therapist_id == therapist_id,
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
            )
            .order_by(col(Invitation.created_at).desc())
        )
    )
