"""Account services: keyword-only, typed, take the session and never commit (the caller does)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from sqlalchemy import Integer, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, or_, select, update

from iop_pwa import audit
from iop_pwa.access import facilitated_group_ids
from iop_pwa.accounts.models import (
    CareTeamLink,
    Group,
    GroupMembership,
    Invitation,
    ParticipantStatus,
    Role,
    SignInLink,
    User,
)
from iop_pwa.accounts.passwords import hash_password, needs_rehash, verify_password
from iop_pwa.accounts.sessions import token_hash
from iop_pwa.db import utcnow


class AccountError(ValueError):
    """A request that cannot be carried out, with a message fit to show the person."""


class InvitationGone(AccountError):
    """The invitation was used, cancelled or has expired (perhaps a moment ago, by someone else)."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(db: Session, email: str) -> User | None:
    return db.exec(select(User).where(User.email == normalize_email(email))).first()


def create_user(
    db: Session,
    *,
    role: Role,
    email: str,
    password: str,
    name: str,
    timezone: str = "America/New_York",
    must_change_password: bool = False,
) -> User:
    """A new account. `must_change_password` when someone other than its owner chose the
    password: the owner then chooses their own at first sign-in."""
    if find_user_by_email(db, email):
        raise AccountError("An account with that email already exists.")
    user = User(
        email=normalize_email(email),
        name=name.strip() or email.split("@")[0],
        password_hash=hash_password(password),
        role=role,
        timezone=timezone,
        must_change_password=must_change_password,
    )
    db.add(user)
    try:
        db.flush()
    except IntegrityError:
        # Two requests (two invitations accepted at once with one email) can both pass the
        # check above; the unique index decides, and the loser gets the same clear answer.
        # The whole transaction is rolled back (every caller would: an AccountError keeps
        # nothing). Not a savepoint: on SQLite, pysqlite lets the release of a first savepoint
        # commit it, which would keep a half-made account.
        db.rollback()
        raise AccountError("An account with that email already exists.") from None
    return user


def authenticate(db: Session, *, email: str, password: str) -> User | None:
    """The user for these credentials, or None (same time spent whether the email exists)."""
    user = find_user_by_email(db, email)
    if not verify_password(user.password_hash if user else None, password):
        return None
    if user is None or not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.add(user)
    return user


def set_password(db: Session, *, user: User, password: str) -> None:
    """A new password; any sign-in link the person still had stops working."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    db.add(user)
    db.exec(delete(SignInLink).where(col(SignInLink.user_id) == user.id))


def _same_name(name: str):
    """A group name match that ignores case; the exact name too, as SQLite's lower() folds
    ASCII letters only ("Ísland" would miss itself)."""
    return or_(Group.name == name, func.lower(Group.name) == name.lower())


class GroupNameTaken(AccountError):
    """The therapist already facilitates a group with that name."""


def replace_temporary_password(db: Session, *, user: User, password: str) -> None:
    """The person's own password in place of the one an admin gave them (which it must not be)."""
    if verify_password(user.password_hash, password):
        raise AccountError("Choose a password different from the one you were given.")
    set_password(db, user=user, password=password)


def get_or_create_group(db: Session, name: str) -> Group:
    """A group by name, for the admin's command line and the demo only: on the web a group is
    always chosen by id (see `start_group`), so typing a name never reaches someone's group."""
    name = " ".join(name.split())
    group = db.exec(select(Group).where(_same_name(name))).first()
    if group is None:
        group = Group(name=name)
        db.add(group)
        db.flush()
    return group


def start_group(db: Session, *, name: str, by: User) -> Group:
    """A new group started by a therapist, who facilitates it. Always a new group: another
    therapist's group of the same name stays theirs."""
    name = " ".join(name.split())
    if not may_facilitate(by):
        raise GroupNameTaken("Only a therapist starts a group: an admin makes one on Groups.")
    if not name:
        raise GroupNameTaken("Give the new group a name.")
    mine = db.exec(
        select(Group.id)
        .join(GroupMembership, col(GroupMembership.group_id) == Group.id)
        .where(
            GroupMembership.user_id == by.id,
            col(GroupMembership.is_facilitator),
            _same_name(name),
        )
    ).first()
    if mine is not None:
        raise GroupNameTaken(f"You already have a group called {name}. Choose it from the list.")
    group = Group(name=name)
    db.add(group)
    db.flush()
    add_to_group(db, user=by, group=group, facilitator=True)
    audit.record(db, "group_started", actor_id=by.id, object_type="group", object_id=group.id)
    return group


def add_to_group(db: Session, *, user: User, group: Group, facilitator: bool = False) -> None:
    exists = db.exec(
        select(GroupMembership).where(
            GroupMembership.group_id == group.id, GroupMembership.user_id == user.id
        )
    ).first()
    if exists is None:
        db.add(GroupMembership(group_id=group.id, user_id=user.id, is_facilitator=facilitator))
        db.flush()
    elif facilitator and not exists.is_facilitator:
        exists.is_facilitator = True
        db.add(exists)


def may_facilitate(user: User) -> bool:
    """Facilitators are active therapists: a facilitator reads the group's whole history and
    its reported direct messages, so an admin never is one."""
    return user.role == Role.therapist and user.is_active


def set_facilitator(db: Session, *, group: Group, therapist: User, on: bool, by: User) -> None:
    """An admin makes an active therapist a facilitator of a group, or ends anyone's
    facilitation (audited)."""
    if on and not may_facilitate(therapist):
        raise AccountError("Only an active therapist can facilitate a group.")
    if on:
        add_to_group(db, user=therapist, group=group, facilitator=True)
    else:
        row = db.exec(
            select(GroupMembership).where(
                GroupMembership.group_id == group.id,
                GroupMembership.user_id == therapist.id,
                col(GroupMembership.is_facilitator),
            )
        ).first()
        if row is not None:
            db.delete(row)
    audit.record(
        db,
        "facilitator_added" if on else "facilitator_removed",
        actor_id=by.id,
        object_type="group",
        object_id=group.id,
        detail=f"therapist {therapist.id}",
    )


def facilitators(db: Session) -> dict[int, list[User]]:
    """Every group's facilitators, by group id (one query; for the admin's Groups page)."""
    rows = db.exec(
        select(GroupMembership.group_id, User)
        .join(User, col(User.id) == GroupMembership.user_id)
        .where(col(GroupMembership.is_facilitator))
        .order_by(func.lower(User.name))
    ).all()
    found: dict[int, list[User]] = {}
    for group_id, user in rows:
        found.setdefault(group_id, []).append(user)
    return found


def link_care_team(db: Session, *, therapist: User, participant: User) -> None:
    if therapist.role not in (Role.therapist, Role.admin):
        raise AccountError(f"{therapist.email} is not a therapist.")
    exists = db.exec(
        select(CareTeamLink).where(
            CareTeamLink.therapist_id == therapist.id,
            CareTeamLink.participant_id == participant.id,
        )
    ).first()
    if exists is None:
        db.add(CareTeamLink(therapist_id=therapist.id, participant_id=participant.id))
        db.flush()


def caseload(db: Session, staff_id: int) -> list[User]:
    """The participants on a staff member's caseload (their care-team links), by name."""
    return list(
        db.exec(
            select(User)
            .join(CareTeamLink, col(CareTeamLink.participant_id) == User.id)
            .where(CareTeamLink.therapist_id == staff_id)
            .order_by(func.lower(User.name))
        )
    )


@dataclass
class GroupRow:
    group: Group
    members: int


def groups_for(db: Session, therapist_id: int) -> list[GroupRow]:
    """The groups the therapist facilitates, with their member counts: one query."""
    members = func.count(GroupMembership.id).filter(~col(GroupMembership.is_facilitator))
    rows = db.exec(
        select(Group, members)
        .outerjoin(GroupMembership, col(GroupMembership.group_id) == Group.id)
        .where(col(Group.id).in_(facilitated_group_ids(therapist_id)))
        .group_by(col(Group.id))
        .order_by(func.lower(Group.name))
    ).all()
    return [GroupRow(group, count) for group, count in rows]


def groups_of(db: Session, user: User) -> list[Group]:
    return list(db.exec(_groups_statement(), params={"user_id": user.id}))


@cache
def _groups_statement():
    """A person's groups by name (Today asks on every load), built once."""
    return (
        select(Group)
        .join(GroupMembership, col(GroupMembership.group_id) == Group.id)
        .where(GroupMembership.user_id == bindparam("user_id", type_=Integer))
        .order_by(Group.name)
    )


def group_members(db: Session, group_id: int) -> list[User]:
    """The participants in a group now (facilitators are not members), by name."""
    return list(
        db.exec(
            select(User)
            .join(GroupMembership, col(GroupMembership.user_id) == User.id)
            .where(GroupMembership.group_id == group_id, ~col(GroupMembership.is_facilitator))
            .order_by(User.name)
        )
    )


def set_status(db: Session, *, participant: User, status: ParticipantStatus) -> None:
    participant.status = status
    db.add(participant)


# --- Invitations -------------------------------------------------------------------------------


def create_invitation(
    db: Session,
    *,
    therapist: User,
    name: str,
    email: str | None,
    group: Group | None,
    valid_for: timedelta,
) -> tuple[Invitation, str]:
    """A new single-use invitation; returns it with the raw token (shown once, never stored)."""
    if email and find_user_by_email(db, email):
        raise AccountError("Someone already has an account with that email.")
    token = secrets.token_urlsafe(24)
    invitation = Invitation(
        token_hash=token_hash(token),
        therapist_id=therapist.id,
        name=name.strip(),
        email=normalize_email(email) if email else None,
        group_id=group.id if group else None,
        expires_at=utcnow() + valid_for,
    )
    db.add(invitation)
    db.flush()
    return invitation, token


def renew_invitation_link(db: Session, *, invitation: Invitation, valid_for: timedelta) -> str:
    """Replace the invitation's link with a new one (the old link stops working)."""
    if invitation.accepted_at:
        raise AccountError("This invitation was already used.")
    token = secrets.token_urlsafe(24)
    invitation.token_hash = token_hash(token)
    invitation.expires_at = utcnow() + valid_for
    invitation.revoked_at = None
    db.add(invitation)
    return token


def find_invitation(db: Session, token: str) -> Invitation | None:
    """The invitation a link names, in whatever state it is."""
    return db.exec(select(Invitation).where(Invitation.token_hash == token_hash(token))).first()


def find_open_invitation(db: Session, token: str) -> Invitation | None:
    invitation = find_invitation(db, token)
    if invitation is None or invitation.state(utcnow()) != "pending":
        return None
    return invitation


def claim_invitation(db: Session, *, invitation: Invitation) -> bool:
    """Mark the invitation accepted if it is still open, in one conditional UPDATE.

    Several requests posting the same link at once all read it as open; only one UPDATE can still
    match (PostgreSQL's row lock and SQLite's write lock make the others wait, then find it taken),
    so only one of them goes on to make an account.
    """
    now = utcnow()
    result = db.exec(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
            col(Invitation.expires_at) > now,
        )
        .values(accepted_at=now)
    )
    return result.rowcount == 1


def accept_invitation(
    db: Session,
    *,
    invitation: Invitation,
    name: str,
    email: str,
    password: str,
    timezone: str,
) -> User:
    """Create the participant's account from an open invitation, on the inviter's caseload.

    Raises `InvitationGone` if another request claimed the link first; on any `AccountError` the
    caller rolls back, which also releases the claim.
    """
    if not claim_invitation(db, invitation=invitation):
        raise InvitationGone("This invitation link is no longer valid.")
    participant = create_user(
        db, role=Role.participant, email=email, password=password, name=name, timezone=timezone
    )
    therapist = db.get(User, invitation.therapist_id)
    link_care_team(db, therapist=therapist, participant=participant)
    if invitation.group_id:
        group = db.get(Group, invitation.group_id)
        if group:
            add_to_group(db, user=participant, group=group)
    invitation.participant_id = participant.id
    db.add(invitation)
    return participant


def has_invitation_named(db: Session, *, therapist_id: int, name: str) -> bool:
    """Whether this therapist already invited someone by this name (keeps the demo idempotent)."""
    return (
        db.exec(
            select(Invitation.id).where(
                Invitation.therapist_id == therapist_id, Invitation.name == name
            )
        ).first()
        is not None
    )
