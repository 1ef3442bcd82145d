"""Push's part of the therapist's dashboard: reminders that reach no device (none turned on, or
every device failing), the same test as the participant page's Reminders section."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from iop_pwa.accounts.models import ParticipantStatus, User
from iop_pwa.features import RANK_REMINDERS, Need
from iop_pwa.push.models import PushSubscription
from iop_pwa.push.services import Reliability


def needs(*, db: Session, participants: list[User], now: datetime) -> list[Need]:
    """Participants in the program whose reminders reach no device: one query."""
    active = [p.id for p in participants if p.status == ParticipantStatus.active]
    devices: dict[int, list[PushSubscription]] = {pid: [] for pid in active}
    for device in db.exec(
        select(PushSubscription).where(col(PushSubscription.user_id).in_(active))
    ):
        devices[device.user_id].append(device)
    found = []
    for participant_id, theirs in devices.items():
        if not theirs:
            found.append(
                Need(participant_id, RANK_REMINDERS, "Reminders reach no device: none turned on")
            )
        elif Reliability(theirs, None, False).all_failing:
            since = min(d.last_failure_at for d in theirs if d.last_failure_at)
            found.append(
                Need(
                    participant_id,
                    RANK_REMINDERS,
                    "Reminders reach no device: every device is failing",
                    since,
                )
            )
    return found
