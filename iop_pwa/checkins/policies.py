"""Who may reach check-ins, with the rules of `iop_pwa.access`: a participant answers only
what is asked of them and sees only their own answers; staff see and assign for the people on
their caseload and the groups they facilitate. Anyone else gets an audited 404."""

from __future__ import annotations

from sqlmodel import Session

from iop_pwa.access import (
    Action,
    Policy,
    open_to_new_work,
    staff_reaches_group,
    staff_reaches_participant,
)
from iop_pwa.accounts.models import User
from iop_pwa.checkins import services
from iop_pwa.checkins.models import CheckinAnswer, CheckinSchedule, Questionnaire


def _questionnaire(db: Session, user: User, q: Questionnaire, action: Action) -> bool:
    """Staff: the built-in check-ins and their own (they change only their own). A participant:
    a check-in asked of them now (to answer it)."""
    if user.is_staff:
        if action == Action.view and q.builtin:
            return True
        return q.owner_id == user.id
    return services.is_asked_of(db, user, q)


QUESTIONNAIRE = Policy("checkin_questionnaire", Questionnaire, _questionnaire)


def _schedule(db: Session, user: User, s: CheckinSchedule, action: Action) -> bool:
    """Staff with the participant on their caseload, or facilitating the group. Participants
    never reach a schedule by id."""
    if not user.is_staff:
        return False
    if s.participant_id is not None:
        if not staff_reaches_participant(db, user, s.participant_id):
            return False
        return action == Action.view or open_to_new_work(db.get(User, s.participant_id))
    return staff_reaches_group(db, user, s.group_id)


SCHEDULE = Policy(
    "checkin_schedule", CheckinSchedule, _schedule, subject=lambda s: s.participant_id
)


def _answer(db: Session, user: User, a: CheckinAnswer, _action: Action) -> bool:
    if user.is_participant:
        return a.participant_id == user.id
    return staff_reaches_participant(db, user, a.participant_id)


ANSWER = Policy("checkin_answer", CheckinAnswer, _answer, subject=lambda a: a.participant_id)
