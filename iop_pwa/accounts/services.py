"""Account services: keyword-only, typed, take the session and never commit (the caller does)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlmodel import Session, col, func, or_, select

from iop_pwa.accounts.models import (
    CareTeamLink,
    Group,
    GroupMembership,
    Invitation,
    ParticipantStatus,
    Role,
    User,
)
from iop_pwa.accounts.passwords import hash_password, needs_rehash, verify_password
from iop_pwa.accounts.sessions import token_hash
from iop_pwa.db import utcnow


class AccountError(ValueError):
    """A request that cannot be carried out, with a message fit to show the person."""


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
) -> User:
    if find_user_by_email(db, email):
        raise AccountError("An account with that email already exists.")
    user = User(
        email=normalize_email(email),
        name=name.strip() or email.split("@")[0],
        password_hash=hash_password(password),
        role=role,
        timezone=timezone,
    )
    db.add(user)
    db.flush()
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
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    db.add(user)


def get_or_create_group(db: Session, name: str) -> Group:
    name = " ".join(name.split())
    # The exact name too: SQLite's lower() folds ASCII letters only, so "Ísland" would be missed
    # by the case-insensitive match alone and then break the UNIQUE name (a 500).
    group = db.exec(
        select(Group).where(or_(Group.name == name, func.lower(Group.name) == name.lower()))
    ).first()
    if group is None:
        group = Group(name=name)
        db.add(group)
        db.flush()
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


def groups_of(db: Session, user: User) -> list[Group]:
    return list(
        db.exec(
            select(Group)
            .join(GroupMembership, col(GroupMembership.group_id) == Group.id)
            .where(GroupMembership.user_id == user.id)
            .order_by(Group.name)
        )
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


def find_open_invitation(db: Session, token: str) -> Invitation | None:
    invitation = db.exec(
        select(Invitation).where(Invitation.token_hash == token_hash(token))
    ).first()
    if invitation is None or invitation.state(utcnow()) != "pending":
        return None
    return invitation


def accept_invitation(
    db: Session,
    *,
    invitation: Invitation,
    name: str,
    email: str,
    password: str,
    timezone: str,
) -> User:
    """Create the participant's account from an open invitation, on the inviter's caseload."""
    if invitation.state(utcnow()) != "pending":
        raise AccountError("This invitation link is no longer valid.")
    participant = create_user(
        db, role=Role.participant, email=email, password=password, name=name, timezone=timezone
    )
    therapist = db.get(User, invitation.therapist_id)
    link_care_team(db, therapist=therapist, participant=participant)
    if invitation.group_id:
        group = db.get(Group, invitation.group_id)
        if group:
            add_to_group(db, user=participant, group=group)
    invitation.accepted_at = utcnow()
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
