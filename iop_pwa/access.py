"""Who may see or change what: every access rule, written once.

The rules are about people. A participant reaches their own rows and their groups'. Staff reach a
participant only through a care-team link (their caseload), and a group only if they facilitate it
(an admin assigns facilitators; a therapist who starts a group facilitates it). A deactivated
participant's record can be read but nothing new is added to it. What alumni may see and do is
one table below ("What a participant's program status allows").

Each kind of object has one `Policy`, and its rule is written once, as SQL: given the reader and
the action, a condition on the object's table ("the rows of this kind this person may view /
change"). Everything derives from it: the object check (`allows`, behind `load_or_404` and
`check`: one indexed EXISTS by primary key, or, when the condition only compares the object's own
columns with values, the same condition evaluated on the loaded object without a query), and every
list, count and poll (`.where(POLICY.where(reader))`). The core policies (participant record,
group, invitation) are here; each feature writes its own in its `policies.py` with the same rules.
Views and services load objects through `load_or_404`, and form choices come from the same rules,
so a POST can never reach what a form would not offer. Anything refused answers 404 (never 403,
which would confirm that the object exists) and is audited; one person's repeated refusals are
throttled (429) so that they cannot flood the audit log.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from flask import abort, request
from flask_login import current_user
from sqlalchemy import ColumnElement, exists, false, or_
from sqlalchemy.orm.evaluator import UnevaluatableError, _EvaluatorCompiler
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BooleanClauseList, Grouping
from sqlmodel import Session, SQLModel, col, func, select

from iop_pwa.accounts.models import (
    CareTeamLink,
    Group,
    GroupKind,
    GroupMembership,
    Invitation,
    ParticipantStatus,
    Role,
    User,
)
from iop_pwa.audit import AuditEvent
from iop_pwa.db import MAX_ID, get_db, utcnow
from iop_pwa.security import audit_refusal

T = TypeVar("T", bound=SQLModel)


# Refusals one person may have written to the audit log in this window before they get 429.
DENIALS_PER_WINDOW = 30
DENIAL_WINDOW = timedelta(minutes=10)


class Action(enum.StrEnum):
    view = "view"
    change = "change"


def parse_id(value: object) -> int | None:
    """An id from a URL or a form field, or None if it can't be one (not plain digits, or
    larger than an id column holds: such a number would fail inside the query)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.strip().isdigit():
        if len(value.strip()) > 10:
            return None
        number = int(value)
    else:
        return None
    return number if 0 < number <= MAX_ID else None


# --- The rules about people ---------------------------------------------------------------------


def caseload_ids(staff_id: int):
    """The ids of the participants on a staff member's caseload (a subquery)."""
    return select(CareTeamLink.participant_id).where(CareTeamLink.therapist_id == staff_id)


def facilitated_group_ids(staff_id: int):
    """The ids of the groups a staff member facilitates (a subquery)."""
    return select(GroupMembership.group_id).where(
        GroupMembership.user_id == staff_id, col(GroupMembership.is_facilitator)
    )


def member_group_ids(participant_id: int):
    """The ids of the groups a participant belongs to (a subquery)."""
    return select(GroupMembership.group_id).where(
        GroupMembership.user_id == participant_id, ~col(GroupMembership.is_facilitator)
    )


def _in(db: Session, value: int | None, ids) -> bool:
    """Whether `value` is among the ids a subquery above selects (one indexed query)."""
    if value is None:
        return False
    return db.exec(ids.where(ids.selected_columns[0] == value).limit(1)).first() is not None


def on_caseload(db: Session, staff_id: int, participant_id: int | None) -> bool:
    return _in(db, participant_id, caseload_ids(staff_id))


def facilitates(db: Session, staff_id: int, group_id: int | None) -> bool:
    return _in(db, group_id, facilitated_group_ids(staff_id))


def member_of(db: Session, participant_id: int, group_id: int | None) -> bool:
    return _in(db, group_id, member_group_ids(participant_id))


def member_since(db: Session, participant_id: int, group_id: int | None) -> datetime | None:
    """When a participant joined a group (None if they are not a member)."""
    if group_id is None:
        return None
    return db.exec(
        select(GroupMembership.joined_at).where(
            GroupMembership.user_id == participant_id,
            GroupMembership.group_id == group_id,
            ~col(GroupMembership.is_facilitator),
        )
    ).first()


def first_moment(joined_at: datetime, timezone: str) -> datetime:
    """The start (in UTC) of the local day on which someone joined a group: their first day
    counts whole, so a group session earlier that day is theirs too."""
    zone = ZoneInfo(timezone)
    day = joined_at.astimezone(zone).date()
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


# --- What a participant's program status allows, said once --------------------------------------
#
# | status      | signs in | journal, history | groups  | care-team thread | check-ins | practice |
# |-------------|----------|------------------|---------|------------------|-----------|----------|
# | active      | yes      | yes              | cohorts | program hours    | yes       | yes      |
# | alumni      | yes      | yes              | alumni  | alumni hours     | yes       | no new   |
# | deactivated | no       | staff read only  | none    | staff read only  | no        | no new   |
#
# Sessions: active participants have individual, family and their groups' sessions; alumni the
# same, their groups being alumni groups (never a cohort's); deactivated participants none.
#
# Alumni (discharged, `User.discharged_on`) keep their journal, their practice history (ended
# assignments, completions, feedback), the care-team thread, check-ins and Help. They belong to
# alumni groups only: discharge takes them out of their cohort groups (so cohort sessions, rooms
# and group practice stop reaching them) and into the program's alumni group. They get no new
# practice, individual or through a group. The functions below are the rule; policies and form
# choices call them.


def open_to_new_work(participant: User) -> bool:
    """Whether staff may add to a participant's record (schedule a session, give feedback, make a
    sign-in link): not deactivated. Alumni stay open: their support goes on after discharge."""
    return participant.status != ParticipantStatus.deactivated


def open_to_new_practice(participant: User) -> bool:
    """Whether a participant gets practice (assigned to them or to a group of theirs): only
    while in the program. Alumni keep their history but get no new practice."""
    return participant.status == ParticipantStatus.active


def group_practice_reaches(participant: User) -> bool:
    """Whether a group's practice is theirs: not for alumni (an alumni group has no practice
    for them). A deactivated person's past group practice still shows to their care team."""
    return participant.status != ParticipantStatus.alumni


# The same three rules as conditions on User's row, for policies' SQL rules and lists.


def open_to_new_work_sql() -> ColumnElement[bool]:
    return col(User.status) != ParticipantStatus.deactivated


def open_to_new_practice_sql() -> ColumnElement[bool]:
    return col(User.status) == ParticipantStatus.active


def group_practice_reaches_sql() -> ColumnElement[bool]:
    return col(User.status) != ParticipantStatus.alumni


def person_meets(person_id, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether the person a column names meets a condition on their row, e.g. a status rule
    above: `person_meets(Thing.participant_id, open_to_new_work_sql())` (one indexed EXISTS,
    correlated to the row of Thing)."""
    return exists().where(User.id == person_id, condition)


def may_belong_to(status: ParticipantStatus, group: Group) -> bool:
    """Which groups a participant with this status may be in: alumni in alumni groups, people
    in the program in cohort groups; nobody deactivated joins a group."""
    if status == ParticipantStatus.deactivated:
        return False
    return group.is_alumni == (status == ParticipantStatus.alumni)


# --- Policies -----------------------------------------------------------------------------------


Rule = Callable[..., ColumnElement[bool]]


@dataclass(frozen=True)
class Policy(Generic[T]):
    """Who may view or change objects of one kind, as one rule: `rule(reader, action)` (or
    `rule(db, reader, action)` with `needs_db`, for a rule that must read the reader's own rows
    first) returns a condition on `model`'s table that selects the rows `reader` may `action`
    (or an iterable of conditions, their OR: see `allows`).
    Python may branch on the reader (role, status, id); what concerns the object is SQL.

    `kind` names it in the audit log; `subject` says whose record the object belongs to (audited
    with a refusal)."""

    kind: str
    model: type[T]
    rule: Rule
    subject: Callable[[T], int | None] = lambda _obj: None
    needs_db: bool = False

    def _rule(self, reader: User, action: Action, db: Session | None):
        if self.needs_db:
            return self.rule(db if db is not None else get_db(), reader, action)
        return self.rule(reader, action)

    def where(
        self, reader: User | None, action: Action = Action.view, *, db: Session | None = None
    ) -> ColumnElement[bool]:
        """The condition on `model` for the rows `reader` may `action` (false for no one
        signed in): for lists, counts and polls, `select(model).where(POLICY.where(reader))`."""
        if reader is None or not getattr(reader, "is_authenticated", False):
            return false()
        found = self._rule(reader, action, db)
        if isinstance(found, ColumnElement):
            return found
        branches = list(found)
        return or_(*branches) if branches else false()

    def ids(self, reader: User | None, action: Action = Action.view, *, db: Session | None = None):
        """The ids of those rows, as a subquery of its own (never correlated to the statement it
        is used in): for a list that joins this kind with the tables its rule reads, e.g.
        `.where(col(Report.id).in_(REPORT.ids(reader)))`."""
        return select(self.model.id).where(self.where(reader, action, db=db)).correlate(None)

    def allows(self, db: Session, user: User, obj: T | None, action: Action = Action.view) -> bool:
        """Whether `user` may `action` `obj`: the rule for this one row. A condition on the
        object's own columns alone is evaluated on the object (no query); any other is one
        indexed EXISTS by primary key. A rule given as OR-branches (an iterable, which may build
        its later branches lazily) stops at the first branch the object's columns make true."""
        if obj is None or not getattr(user, "is_authenticated", False):
            return False
        found = self._rule(user, action, db)
        if isinstance(found, ColumnElement):
            return holds(db, obj, found)
        compiler = _EvaluatorCompiler(type(obj))
        undecided = []
        for branch in found:
            known = _decided(compiler, branch, obj)
            if known:
                return True
            if known is None:
                undecided.append(branch)
        return bool(undecided) and holds(db, obj, or_(*undecided))


def holds(db: Session, obj: SQLModel, condition: ColumnElement[bool]) -> bool:
    """Whether a condition on an object's table holds for this object: evaluated on the object
    itself when it only compares the object's own columns with values (no query), else one
    indexed EXISTS by primary key (which sees the object's unflushed changes: autoflush)."""
    model = type(obj)
    known = _decided(_EvaluatorCompiler(model), condition, obj)
    if known is not None:
        return known
    if obj.id is None:
        db.flush()
    if obj.id is None:
        return False
    return db.exec(select(exists().where(model.id == obj.id, condition))).one()


def _decided(compiler: _EvaluatorCompiler, condition, obj) -> bool | None:
    """Whether `condition` is true for `obj`, if its own columns decide it (None if only the
    database can): the whole condition evaluated on the object, else an OR with a branch that is
    true (their own session) or an AND with a part that is not (a care team's thread is never
    moderated). Not true counts as false, as in a WHERE: NULL selects nothing."""
    while isinstance(condition, Grouping):
        condition = condition.element
    try:
        return bool(compiler.process(condition)(obj))
    except UnevaluatableError:
        pass
    if not isinstance(condition, BooleanClauseList):
        return None
    parts = [_decided(compiler, part, obj) for part in condition.clauses]
    if condition.operator is operators.or_:
        if True in parts:
            return True
        return False if all(part is False for part in parts) else None
    if condition.operator is operators.and_:
        return False if False in parts else None
    return None


class NotPermitted(LookupError):
    """Raised by a service asked to act on an object its caller may not reach; answered like
    any refused access (audited 404) by the error handler."""

    def __init__(self, kind: str, object_id: int | None, subject_id: int | None = None):
        super().__init__(kind)
        self.kind, self.object_id, self.subject_id = kind, object_id, subject_id


def check(
    db: Session, user: User, policy: Policy[T], obj: T | None, action: Action = Action.view
) -> None:
    """For services: raise NotPermitted unless `user` may `action` `obj` (defence in depth, so
    a service called from anywhere cannot be pointed at someone else's object)."""
    if not policy.allows(db, user, obj, action):
        raise NotPermitted(
            policy.kind,
            getattr(obj, "id", None),
            policy.subject(obj) if obj is not None else None,
        )


def load_or_404(policy: Policy[T], object_id: object, action: Action = Action.view) -> T:
    """The object with this id if the signed-in person may `action` it; else audit and 404."""
    db = get_db()
    number = parse_id(object_id)
    obj = db.get(policy.model, number) if number else None
    if not policy.allows(db, current_user, obj, action):
        deny(policy.kind, number, subject_id=policy.subject(obj) if obj is not None else None)
    return obj


def deny(object_type: str, object_id: int | None, subject_id: int | None = None):
    """Audit a refused access and answer 404 (the audit row commits on its own, alone).

    Someone who keeps asking for things that aren't theirs gets 429 after DENIALS_PER_WINDOW
    audited refusals, and nothing more is written for them until the window passes.
    """
    db = get_db()
    actor = current_user.id if current_user.is_authenticated else None
    if actor is not None and _recent_denials(db, actor) >= DENIALS_PER_WINDOW:
        abort(429)
    audit_refusal(
        "access_denied",
        object_type=object_type,
        object_id=parse_id(object_id),
        subject_id=subject_id,
        detail=request.path[:200],
    )
    abort(404)


def _recent_denials(db: Session, actor_id: int) -> int:
    return db.exec(
        select(func.count(AuditEvent.id)).where(
            AuditEvent.actor_id == actor_id,
            AuditEvent.action == "access_denied",
            AuditEvent.at >= utcnow() - DENIAL_WINDOW,
        )
    ).one()


def _participant_record(user: User, action: Action) -> ColumnElement[bool]:
    if not user.is_staff:
        return false()
    condition = (col(User.role) == Role.participant) & col(User.id).in_(caseload_ids(user.id))
    return condition if action == Action.view else condition & open_to_new_work_sql()


PARTICIPANT = Policy("participant", User, _participant_record, subject=lambda p: p.id)
"""A participant's record, for staff: view on the caseload; change (assign, schedule, give
feedback) while the person is not deactivated."""


def _group(user: User, action: Action) -> ColumnElement[bool]:
    if user.is_staff:
        return col(Group.id).in_(facilitated_group_ids(user.id))
    if action != Action.view:
        return false()
    return col(Group.id).in_(member_group_ids(user.id))


GROUP = Policy("group", Group, _group)
"""A group: its facilitators view and use it; its members view it."""

ALUMNI_GROUP = Policy(
    "group",
    Group,
    lambda user, _action: Group.kind == GroupKind.alumni if user.is_staff else false(),
)
"""An alumni group, for discharge: the program's, so any therapist may place someone they
discharge in it (they use it further only if they facilitate it: GROUP)."""

INVITATION = Policy(
    "invitation",
    Invitation,
    lambda user, _action: Invitation.therapist_id == user.id if user.is_staff else false(),
)
"""An invitation: only the therapist who made it."""


def my_groups(db: Session, staff_id: int) -> list[Group]:
    """The groups a staff member may use, for form choices: the ones they facilitate."""
    return list(
        db.exec(
            select(Group)
            .where(col(Group.id).in_(facilitated_group_ids(staff_id)))
            .order_by(func.lower(Group.name))
        )
    )
