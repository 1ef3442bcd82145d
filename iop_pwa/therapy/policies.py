"""Who may reach a therapy session and its family guests, with the rules of `iop_pwa.access`,
each written once as a condition on its table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, false, or_
from sqlmodel import Session, col, select

from iop_pwa.access import (
    Action,
    Policy,
    caseload_ids,
    facilitated_group_ids,
    first_moment,
)
from iop_pwa.accounts.models import GroupMembership, User
from iop_pwa.therapy.models import FamilyGuest, TherapySession


def joined_days(db: Session, participant: User) -> list[tuple[int, datetime]]:
    """Each group of a participant's with the first moment its sessions are theirs: the start
    of their local day of joining (`access.first_moment`, which SQLite can't compute). One
    query."""
    rows = db.exec(
        select(GroupMembership.group_id, GroupMembership.joined_at).where(
            GroupMembership.user_id == participant.id, ~col(GroupMembership.is_facilitator)
        )
    ).all()
    return [(group_id, first_moment(joined, participant.timezone)) for group_id, joined in rows]


def participant_branches(participant_id, groups) -> Iterator[ColumnElement[bool]]:
    """The ways a session is a participant's, one condition each: their own (individual and
    family), and each group's from the day they joined (`groups`: pairs of group and first
    moment, values or bound parameters). `THERAPY_SESSION` is their OR; the Sessions list runs
    them as a UNION ALL (`services._theirs`), one index each."""
    yield TherapySession.participant_id == participant_id
    for group, since in groups:
        yield and_(TherapySession.group_id == group, TherapySession.starts_at >= since)


def _joined_days_later(db: Session, participant: User) -> Iterator[tuple[int, datetime]]:
    """`joined_days`, read only when asked for: an own session's check needs no query."""
    yield from joined_days(db, participant)


def _session(db: Session, user: User, _action: Action) -> ColumnElement[bool]:
    """A participant: their own individual and family sessions, and their groups' from the day
    they joined (their local date), as their Sessions list shows. Staff: a session for someone
    on their caseload, or for a group they facilitate."""
    if user.is_participant:
        return participant_branches(user.id, _joined_days_later(db, user))
    if not user.is_staff:
        return false()
    return or_(
        and_(
            col(TherapySession.group_id).is_not(None),
            col(TherapySession.group_id).in_(facilitated_group_ids(user.id)),
        ),
        and_(
            col(TherapySession.group_id).is_(None),
            col(TherapySession.participant_id).in_(caseload_ids(user.id)),
        ),
    )


THERAPY_SESSION = Policy(
    "therapy_session",
    TherapySession,
    _session,
    subject=lambda s: s.participant_id,
    needs_db=True,
)


def _guest(db: Session, user: User, action: Action) -> ColumnElement[bool]:
    """A family guest's link is managed by whoever may change its session (staff)."""
    if not user.is_staff:
        return false()
    return exists().where(
        TherapySession.id == FamilyGuest.session_id, THERAPY_SESSION.where(user, action, db=db)
    )


FAMILY_GUEST = Policy("family_guest", FamilyGuest, _guest, needs_db=True)
