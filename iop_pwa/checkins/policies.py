"""Who may reach check-ins, with the rules of `iop_pwa.access`: a participant answers only
what is asked of them and sees only their own answers; staff see and assign for the people on
their caseload and the groups they facilitate. Anyone else gets an audited 404. Each rule is
written once, as a condition on its table."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_
from sqlmodel import col

from iop_pwa.access import (
    Action,
    Policy,
    caseload_ids,
    facilitated_group_ids,
    open_to_new_work_sql,
    person_meets,
)
from iop_pwa.accounts.models import User
from iop_pwa.checkins import services
from iop_pwa.checkins.models import CheckinAnswer, CheckinSchedule, Questionnaire


def _questionnaire(user: User, action: Action) -> ColumnElement[bool]:
    """Staff: the built-in check-ins and their own (they change only their own). A participant:
    a check-in asked of them now (to answer it)."""
    if user.is_staff:
        own = Questionnaire.owner_id == user.id
        return or_(col(Questionnaire.slug).is_not(None), own) if action == Action.view else own
    return services.asked_of(user)


QUESTIONNAIRE = Policy("checkin_questionnaire", Questionnaire, _questionnaire)


def _schedule(user: User, action: Action) -> ColumnElement[bool]:
    """Staff with the participant on their caseload, or facilitating the group. Participants
    never reach a schedule by id."""
    if not user.is_staff:
        return false()
    for_person = col(CheckinSchedule.participant_id).in_(caseload_ids(user.id))
    if action != Action.view:
        for_person = and_(
            for_person, person_meets(CheckinSchedule.participant_id, open_to_new_work_sql())
        )
    return or_(
        and_(col(CheckinSchedule.participant_id).is_not(None), for_person),
        and_(
            col(CheckinSchedule.participant_id).is_(None),
            col(CheckinSchedule.group_id).in_(facilitated_group_ids(user.id)),
        ),
    )


SCHEDULE = Policy(
    "checkin_schedule", CheckinSchedule, _schedule, subject=lambda s: s.participant_id
)


def _answer(user: User, _action: Action) -> ColumnElement[bool]:
    if user.is_participant:
        return CheckinAnswer.participant_id == user.id
    if not user.is_staff:
        return false()
    return col(CheckinAnswer.participant_id).in_(caseload_ids(user.id))


ANSWER = Policy("checkin_answer", CheckinAnswer, _answer, subject=lambda a: a.participant_id)
