"""A participant leaves the program for alumni, or comes back: discharge and re-admission.

Core does what is core's (status, the day, groups, the audit row, telling the person) and asks
every feature's `features.Lifecycle` to do the rest (practice ends assignments, sessions cancels
what was coming), without naming any feature. Services: keyword-only, never commit.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, delete, select

from iop_pwa import access, audit
from iop_pwa.accounts.models import Group, GroupKind, GroupMembership, ParticipantStatus, User
from iop_pwa.accounts.services import AccountError, add_to_group
from iop_pwa.dates import local_date
from iop_pwa.features import registry
from iop_pwa.notifications import notify

DISCHARGED_TEXT = (
    "You have finished the program: welcome to the alumni group. Your journal, your history "
    "and your messages with your care team stay with you."
)
READMITTED_TEXT = "Welcome back to the program. Your care team has put you in a group again."


def alumni_groups(db: Session) -> list[Group]:
    """The program's alumni groups (an admin marks them), by name."""
    return list(
        db.exec(select(Group).where(Group.kind == GroupKind.alumni).order_by(col(Group.name)))
    )


def _groups_of_kind(db: Session, person: User, kind: GroupKind) -> list[Group]:
    return list(
        db.exec(
            select(Group)
            .join(GroupMembership, col(GroupMembership.group_id) == Group.id)
            .where(
                GroupMembership.user_id == person.id,
                ~col(GroupMembership.is_facilitator),
                Group.kind == kind,
            )
            .order_by(col(Group.name))
        )
    )


def _leave(db: Session, person: User, groups: list[Group]) -> None:
    if groups:
        db.exec(
            delete(GroupMembership).where(
                col(GroupMembership.user_id) == person.id,
                col(GroupMembership.group_id).in_([g.id for g in groups]),
                ~col(GroupMembership.is_facilitator),
            )
        )


def joined_on(person: User) -> date:
    """The participant's first day (their account's, in their own zone)."""
    return local_date(person.created_at, person.timezone)


def preview(db: Session, *, person: User, alumni_group: Group | None) -> list[str]:
    """What discharging this person will do, in plain words, for the confirmation step."""
    lines = []
    cohorts = _groups_of_kind(db, person, GroupKind.cohort)
    if cohorts:
        names = ", ".join(g.name for g in cohorts)
        its = "its" if len(cohorts) == 1 else "their"
        lines.append(
            f"They leave {names}: {its} sessions, room and group practice stop reaching them."
        )
    if alumni_group is not None:
        lines.append(f"They join {alumni_group.name}.")
    for hook in registry().lifecycle:
        if hook.preview is not None:
            lines.extend(hook.preview(db, person=person))
    lines.append(
        "They keep their journal, their history and the thread with their care team, and can "
        "still sign in. They are told, in general words."
    )
    return lines


def discharge(
    db: Session, *, person: User, day: date, by: User, alumni_group: Group | None
) -> list[Group]:
    """Discharge a participant to alumni on `day`. Returns the cohort groups they left."""
    access.check(db, by, access.PARTICIPANT, person, access.Action.change)
    if person.status != ParticipantStatus.active:
        raise AccountError(f"{person.name} is not in the program now.")
    if alumni_group is not None and not access.may_belong_to(
        ParticipantStatus.alumni, alumni_group
    ):
        raise AccountError("Choose an alumni group.")
    left = _groups_of_kind(db, person, GroupKind.cohort)
    person.status, person.discharged_on = ParticipantStatus.alumni, day
    db.add(person)
    _leave(db, person, left)
    if alumni_group is not None:
        add_to_group(db, user=person, group=alumni_group)
    for hook in registry().lifecycle:
        if hook.on_discharge is not None:
            hook.on_discharge(db, person=person, day=day, by=by)
    _audit(db, "participant_discharged", person, by, _groups_detail(left, alumni_group))
    notify(db, user_id=person.id, kind="program_status", text=DISCHARGED_TEXT)
    return left


def readmit(db: Session, *, person: User, group: Group, by: User) -> None:
    """Bring an alumni participant back into the program, in a cohort group `by` facilitates."""
    access.check(db, by, access.PARTICIPANT, person, access.Action.change)
    access.check(db, by, access.GROUP, group, access.Action.change)
    if person.status != ParticipantStatus.alumni:
        raise AccountError(f"{person.name} is not an alumni participant.")
    if not access.may_belong_to(ParticipantStatus.active, group):
        raise AccountError("Choose a group of the program, not an alumni group.")
    left = _groups_of_kind(db, person, GroupKind.alumni)
    person.status, person.discharged_on = ParticipantStatus.active, None
    db.add(person)
    _leave(db, person, left)
    add_to_group(db, user=person, group=group)
    for hook in registry().lifecycle:
        if hook.on_readmit is not None:
            hook.on_readmit(db, person=person, by=by)
    _audit(db, "participant_readmitted", person, by, _groups_detail(left, group))
    notify(db, user_id=person.id, kind="program_status", text=READMITTED_TEXT)


def _audit(db: Session, action: str, person: User, by: User, detail: str | None = None) -> None:
    """One audit row for a change of the participant's place in the program."""
    audit.record(
        db,
        action,
        actor_id=by.id,
        subject_id=person.id,
        object_type="participant",
        object_id=person.id,
        detail=detail,
    )


def _groups_detail(left: list[Group], joined: Group | None) -> str:
    """Ids only: an audit row holds no names."""
    detail = "left " + (",".join(str(g.id) for g in left) or "none")
    return detail + (f"; joined {joined.id}" if joined else "")


def deactivate(db: Session, *, person: User, by: User) -> None:
    """The person can no longer sign in; their record stays for the care team to read."""
    access.check(db, by, access.PARTICIPANT, person, access.Action.change)
    person.status = ParticipantStatus.deactivated
    db.add(person)
    _audit(db, "participant_deactivated", person, by)


def reactivate(db: Session, *, person: User, by: User) -> None:
    """A deactivated person can sign in again, as alumni if they had been discharged."""
    access.check(db, by, access.PARTICIPANT, person, access.Action.view)
    if person.status != ParticipantStatus.deactivated:
        return
    person.status = ParticipantStatus.alumni if person.discharged_on else ParticipantStatus.active
    db.add(person)
    _audit(db, "participant_reactivated", person, by)
