"""Who may reach practice: exercises, assignments and completions, with the rules of
`iop_pwa.access` (the participant themself, the caseload, the groups one facilitates)."""

from __future__ import annotations

from sqlmodel import Session

from iop_pwa.access import (
    Action,
    Policy,
    group_practice_reaches,
    member_of,
    open_to_new_practice,
    staff_reaches_group,
    staff_reaches_participant,
)
from iop_pwa.accounts.models import User
from iop_pwa.practice.models import Assignment, Completion, Exercise


def _exercise(_db: Session, user: User, exercise: Exercise, action: Action) -> bool:
    """Staff see the built-in library and their own exercises; they change only their own."""
    if not user.is_staff:
        return False
    if action == Action.view and exercise.builtin:
        return True
    return exercise.owner_id == user.id


EXERCISE = Policy("exercise", Exercise, _exercise)


def _assignment(db: Session, user: User, a: Assignment, action: Action) -> bool:
    """A participant: their own assignments and their groups'. Staff: assignments for someone
    on their caseload or for a group they facilitate; changes only while the person gets practice
    (in the program: not alumni, not deactivated)."""
    if user.is_participant:
        if a.participant_id == user.id:
            return True
        return group_practice_reaches(user) and member_of(db, user.id, a.group_id)
    if a.participant_id is not None:
        if not staff_reaches_participant(db, user, a.participant_id):
            return False
        return action == Action.view or open_to_new_practice(db.get(User, a.participant_id))
    return staff_reaches_group(db, user, a.group_id)


ASSIGNMENT = Policy("assignment", Assignment, _assignment, subject=lambda a: a.participant_id)


def _completion(db: Session, user: User, c: Completion, _action: Action) -> bool:
    """The participant who did it (undo); staff with the participant on their caseload
    (feedback)."""
    if user.is_participant:
        return c.participant_id == user.id
    return staff_reaches_participant(db, user, c.participant_id)


COMPLETION = Policy("completion", Completion, _completion, subject=lambda c: c.participant_id)
