"""Who may reach practice: exercises, assignments and completions, with the rules of
`iop_pwa.access` (the participant themself, the caseload, the groups one facilitates), each
written once as a condition on its table."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_
from sqlmodel import col

from iop_pwa.access import (
    Action,
    Policy,
    caseload_ids,
    facilitated_group_ids,
    group_practice_reaches,
    member_group_ids,
    open_to_new_practice_sql,
    person_meets,
)
from iop_pwa.accounts.models import User
from iop_pwa.practice.models import Assignment, Completion, Exercise


def _exercise(user: User, action: Action) -> ColumnElement[bool]:
    """Staff see the built-in library and their own exercises; they change only their own."""
    if not user.is_staff:
        return false()
    own = Exercise.owner_id == user.id
    return or_(col(Exercise.slug).is_not(None), own) if action == Action.view else own


EXERCISE = Policy("exercise", Exercise, _exercise)


def _assignment(user: User, action: Action) -> ColumnElement[bool]:
    """A participant: their own assignments and their groups'. Staff: assignments for someone
    on their caseload or for a group they facilitate; changes only while the person gets practice
    (in the program: not alumni, not deactivated)."""
    if user.is_participant:
        own = Assignment.participant_id == user.id
        if not group_practice_reaches(user):
            return own
        return or_(own, col(Assignment.group_id).in_(member_group_ids(user.id)))
    if not user.is_staff:
        return false()
    for_person = col(Assignment.participant_id).in_(caseload_ids(user.id))
    if action != Action.view:
        for_person = and_(
            for_person,
            person_meets(Assignment.participant_id, open_to_new_practice_sql()),
        )
    return or_(
        and_(col(Assignment.participant_id).is_not(None), for_person),
        and_(
            col(Assignment.participant_id).is_(None),
            col(Assignment.group_id).in_(facilitated_group_ids(user.id)),
        ),
    )


ASSIGNMENT = Policy("assignment", Assignment, _assignment, subject=lambda a: a.participant_id)


def _completion(user: User, _action: Action) -> ColumnElement[bool]:
    """The participant who did it (undo); staff with the participant on their caseload
    (feedback)."""
    if user.is_participant:
        return Completion.participant_id == user.id
    if not user.is_staff:
        return false()
    return col(Completion.participant_id).in_(caseload_ids(user.id))


COMPLETION = Policy("completion", Completion, _completion, subject=lambda c: c.participant_id)
