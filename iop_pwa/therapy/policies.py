"""Who may reach a therapy session and its family guests, with the rules of `iop_pwa.access`."""

from __future__ import annotations

from sqlmodel import Session

from iop_pwa.access import (
    Action,
    Policy,
    first_moment,
    member_since,
    staff_reaches_group,
    staff_reaches_participant,
)
from iop_pwa.accounts.models import User
from iop_pwa.therapy.models import FamilyGuest, TherapySession


def _session(db: Session, user: User, s: TherapySession, _action: Action) -> bool:
    """A participant: their own individual and family sessions, and their groups' from the day
    they joined (their local date), as their Sessions list shows. Staff: a session for someone
    on their caseload, or for a group they facilitate."""
    if user.is_participant:
        if s.participant_id == user.id:
            return True
        joined = member_since(db, user.id, s.group_id)
        return joined is not None and first_moment(joined, user.timezone) <= s.starts_at
    if s.group_id is not None:
        return staff_reaches_group(db, user, s.group_id)
    return staff_reaches_participant(db, user, s.participant_id)


THERAPY_SESSION = Policy(
    "therapy_session", TherapySession, _session, subject=lambda s: s.participant_id
)


def _guest(db: Session, user: User, guest: FamilyGuest, action: Action) -> bool:
    """A family guest's link is managed by whoever may change its session."""
    s = db.get(TherapySession, guest.session_id)
    return user.is_staff and s is not None and _session(db, user, s, action)


FAMILY_GUEST = Policy("family_guest", FamilyGuest, _guest)
