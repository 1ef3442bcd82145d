"""People and how they are connected: users, groups, care teams, sign-in sessions, invitations."""

from __future__ import annotations

import base64
import enum
import logging
from datetime import date, datetime
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, has_app_context
from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel

from iop_pwa.db import UTCDateTime, enum_type, utcnow


class Role(enum.StrEnum):
    participant = "participant"
    therapist = "therapist"
    admin = "admin"


class ParticipantStatus(enum.StrEnum):
    active = "active"
    alumni = "alumni"
    deactivated = "deactivated"


class GroupKind(enum.StrEnum):
    """A cohort of the program (its members are in treatment) or an alumni group (people who
    finished it). An admin sets it; discharge moves a participant from the first to the second."""

    cohort = "cohort"
    alumni = "alumni"


class User(SQLModel, table=True):
    """A person who signs in: a participant, a therapist or an admin."""

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(254), unique=True, index=True, nullable=False))
    name: str = Field(max_length=120)
    password_hash: str = Field(max_length=255)
    role: Role = Field(sa_column=Column(enum_type(Role, "role"), nullable=False))
    status: ParticipantStatus = Field(
        default=ParticipantStatus.active,
        sa_column=Column(enum_type(ParticipantStatus, "participant_status"), nullable=False),
    )
    timezone: str = Field(default="America/New_York", max_length=64)
    # "12" or "24" hours, or "" for the locale's own habit (iop_pwa.dates).
    clock: str = Field(default="", max_length=2, sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    password_changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Set when someone else chose the password (an admin, `flask users create`): the person must
    # choose their own before anything else.
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # When the person last used the app (written at most once a minute, with the session touch).
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The day a participant was discharged to alumni (None while in the program, and again after
    # re-admission). Alumni check-ins and the alumni care-team hours count from it.
    discharged_on: date | None = Field(default=None)

    # flask-login protocol. `is_active` is False for a deactivated account, so it cannot sign in.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.status != ParticipantStatus.deactivated

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.therapist, Role.admin)

    @property
    def is_participant(self) -> bool:
        return self.role == Role.participant

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.name


class Group(SQLModel, table=True):
    """A therapy or peer group (a cohort of the program, or an alumni group). Names need not be
    unique: a group is always chosen by id, and only its facilitators may use it."""

    __tablename__ = "therapy_group"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    kind: GroupKind = Field(
        default=GroupKind.cohort,
        sa_column=Column(
            enum_type(GroupKind, "group_kind", 10), nullable=False, server_default="cohort"
        ),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def is_alumni(self) -> bool:
        return self.kind == GroupKind.alumni


class GroupMembership(SQLModel, table=True):
    """A participant's place in a group, or a therapist's role as its facilitator."""

    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="therapy_group.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    is_facilitator: bool = False
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CareTeamLink(SQLModel, table=True):
    """A therapist's responsibility for a participant: the therapist's caseload is these links."""

    __table_args__ = (UniqueConstraint("therapist_id", "participant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    therapist_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    participant_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LoginSession(SQLModel, table=True):
    """One signed-in device. The cookie holds a random token; only its hash is stored, so a
    database leak does not hand out sessions. Deleting or revoking the row ends the session."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    device: str = Field(default="", max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the person last proved it was them (signing in, or "Confirm it's you"): the most
    # sensitive actions (`second_factor.recent_auth_required`) ask again after a few minutes.
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When they last proved it with their second factor (a staff sign-in, or "Confirm it's you"
    # with the app's code, a recovery code or a passkey): changing a second factor asks for it
    # (`recent_auth.second_factor_required`), so a stolen session and the password are not enough.
    factor_confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Invitation(SQLModel, table=True):
    """A single-use link a therapist gives a new participant; only the token's hash is stored."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    therapist_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    group_id: int | None = Field(default=None, foreign_key="therapy_group.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    participant_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")

    def state(self, now: datetime) -> str:
        """'accepted', 'revoked', 'expired' or 'pending', in that order of precedence."""
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"


class SignInFailure(SQLModel, table=True):
    """One failed sign-in, kept about an hour so every web process can slow down password
    guessing (see `throttle`). Keys are HMACs: no email or address is stored."""

    __tablename__ = "sign_in_failure"

    id: int | None = Field(default=None, primary_key=True)
    account_key: str = Field(sa_column=Column(String(64), index=True, nullable=False))
    address_key: str = Field(sa_column=Column(String(64), index=True, nullable=False))
    failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class SignInLink(SQLModel, table=True):
    """A single-use link that lets a person who forgot their password choose a new one and sign
    in. A therapist makes one (shown as a link and a QR code), or the worker emails one after
    "Forgot your password?". Only the token's hash is stored; using the link deletes it, and a
    new link for the same person replaces the old one."""

    __tablename__ = "sign_in_link"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    # The staff member who made it; None when the person asked for it by email.
    created_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class SealedSecret(TypeDecorator):
    """A short secret the app must read back (an authenticator app's key), stored encrypted
    (Fernet: AES-128-CBC with HMAC-SHA256) under a key derived from SECRET_KEY with HKDF, so a
    copy of the database alone does not give anyone a staff member's second factor. A row sealed
    under another SECRET_KEY reads back as "" (never a valid key): that person uses a recovery
    code or a passkey, or an admin resets their second factor."""

    impl = String(255)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else _sealer().encrypt(value.encode()).decode()

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return _sealer().decrypt(value.encode()).decode()
        except InvalidToken:
            logging.getLogger(__name__).warning("a sealed secret was sealed under another key")
            return ""


class SealedText(SealedSecret):
    """A sealed secret of any length (several recovery codes at once)."""

    impl = Text
    cache_ok = True


_sealing_key: list[str | bytes] = []  # the last app's SECRET_KEY, for reads outside a request


def remember_sealing_key(app) -> None:
    """Let sealed secrets be read where no app is current (a script or a test's own session)."""
    _sealing_key[:] = [app.config["SECRET_KEY"]]


def _sealer() -> Fernet:
    if has_app_context():
        secret_key = current_app.config["SECRET_KEY"]
    elif _sealing_key:
        secret_key = _sealing_key[0]
    else:
        raise RuntimeError("no SECRET_KEY to seal or unseal with: create the app first")
    return _fernet(secret_key if isinstance(secret_key, bytes) else secret_key.encode())


@lru_cache(maxsize=4)
def _fernet(secret_key: bytes) -> Fernet:
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"iop-pwa sealed secrets")
    return Fernet(base64.urlsafe_b64encode(derived.derive(secret_key)))


class TotpFactor(SQLModel, table=True):
    """A staff member's authenticator app (TOTP, RFC 6238). Unconfirmed (`confirmed_at` None)
    while they scan the QR code; it counts only once a code from the app has been accepted.
    `last_step` is the time step of the last accepted code: a code works only once. A person has
    at most one confirmed row, and one unconfirmed while they set up a new app."""

    __tablename__ = "totp_factor"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    secret: str = Field(sa_type=SealedSecret)  # the key, encrypted at rest
    last_step: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RecoveryCode(SQLModel, table=True):
    """One of a staff member's ten single-use recovery codes, stored only as an Argon2 hash."""

    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=255)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Passkey(SQLModel, table=True):
    """A passkey (WebAuthn credential) of a person: a participant signs in with it instead of a
    password; staff use it as their second factor. Only the public key is stored."""

    __tablename__ = "passkey"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    # base64url of the credential id the authenticator chose.
    credential_id: str = Field(sa_column=Column(String(1400), unique=True, nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sign_count: int = Field(default=0, sa_type=BigInteger)
    name: str = Field(default="Passkey", max_length=60)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SessionSecret(SQLModel, table=True):
    """A capability a page must show again on the device that made it, and only there: a sign-in
    link or an invitation link a therapist just made, or the recovery codes made with a passkey
    set-up. Kept sealed on the server, tied to the sign-in session (deleted with it), never in
    the session cookie, which is only signed and so readable by anyone who holds it."""

    __tablename__ = "session_secret"
    __table_args__ = (UniqueConstraint("login_session_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    login_session_id: int = Field(foreign_key="loginsession.id", index=True, ondelete="CASCADE")
    # What it is: "invitation:<id>", "sign_in_link:<participant id>", "recovery_codes".
    name: str = Field(max_length=60)
    value: str = Field(sa_type=SealedText)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebAuthnChallenge(SQLModel, table=True):
    """A passkey challenge the server gave out, by its SHA-256, for one purpose ("sign-in:" and
    the person's id, or "register:" and the id), until it expires; deleted when it is used, so a
    captured answer to it cannot be replayed."""

    __tablename__ = "webauthn_challenge"

    id: int | None = Field(default=None, primary_key=True)
    challenge_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    purpose: str = Field(max_length=60)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
