"""Server-side, revocable sign-in sessions.

The Flask session cookie carries a random token; a `LoginSession` row (keyed by the token's SHA-256)
says whether it is still valid. Signing out, "Sign out other devices" and a password change delete
rows, so they end sessions for real, unlike flask-login's remember-me cookie (not used).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import String, bindparam
from sqlmodel import Session, col, delete, select

from iop_pwa.accounts.models import LoginSession, SessionSecret, User
from iop_pwa.db import utcnow

# last_seen_at is written at most this often, so reading a page is not a database write each time.
TOUCH_EVERY = timedelta(seconds=60)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_live(login, *, staff: bool, active: bool, now: datetime, cfg) -> bool:
    """Whether a session (a `LoginSession`, or a row with its columns) still signs its person
    in: not revoked, the account active, and within the idle and absolute timeouts (from the
    app's config `cfg`: staff sessions are short, participants' slide for weeks)."""
    idle, absolute = (
        (cfg["STAFF_IDLE_TIMEOUT"], cfg["STAFF_ABSOLUTE_TIMEOUT"])
        if staff
        else (cfg["PARTICIPANT_IDLE_TIMEOUT"], cfg["PARTICIPANT_ABSOLUTE_TIMEOUT"])
    )
    return (
        login.revoked_at is None
        and active
        and now - login.last_seen_at <= idle
        and now - login.created_at <= absolute
    )


@cache
def _session_statement():
    """The session-and-user query every signed-in request asks, built once with a bound
    parameter: building it cost more Python than running it."""
    return (
        select(LoginSession, User)
        .join(User, col(User.id) == LoginSession.user_id)
        .where(LoginSession.token_hash == bindparam("token_hash", type_=String))
    )


def start_session(db: Session, user: User, device: str, *, second_factor: bool = False) -> str:
    """Create a session row for a new sign-in and return the token for the cookie.
    `second_factor`: the sign-in itself took the person's second factor (or a passkey)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    user.last_seen_at = now
    db.add(user)
    db.add(
        LoginSession(
            user_id=user.id,
            token_hash=token_hash(token),
            device=device[:120],
            confirmed_at=now,  # signing in is proof enough for the next few minutes
            factor_confirmed_at=now if second_factor else None,
        )
    )
    db.flush()
    return token


# --- Secrets kept for one sign-in session (never in the readable cookie) -------------------------

# How many links one session keeps showing (the newest; older ones are still valid links, but
# this device no longer shows them).
SECRETS_PER_KIND = 20


def keep_secret(db: Session, login: LoginSession | None, name: str, value: str) -> None:
    """Keep `value` sealed for this sign-in session under `name` (replacing an older one); it
    goes when the session ends. Of names that share a kind ("invitation:3", "invitation:4"), the
    newest SECRETS_PER_KIND are kept. Without a session, nothing is kept."""
    if login is None:
        return
    forget_secret(db, login, name)
    db.add(SessionSecret(login_session_id=login.id, name=name, value=value))
    db.flush()
    kind = name.split(":", 1)[0] + ":"
    older = db.exec(
        select(SessionSecret.id)
        .where(
            SessionSecret.login_session_id == login.id,
            col(SessionSecret.name).startswith(kind, autoescape=True),
        )
        .order_by(col(SessionSecret.id).desc())
        .offset(SECRETS_PER_KIND)
    ).all()
    if older:
        db.exec(delete(SessionSecret).where(col(SessionSecret.id).in_(older)))


def secret(db: Session, login: LoginSession | None, name: str) -> str | None:
    """The value this sign-in session keeps under `name`, or None (another device, or gone)."""
    if login is None:
        return None
    row = db.exec(
        select(SessionSecret).where(
            SessionSecret.login_session_id == login.id, SessionSecret.name == name
        )
    ).first()
    return row.value if row is not None and row.value else None


def forget_secret(db: Session, login: LoginSession | None, name: str) -> None:
    if login is not None:
        db.exec(
            delete(SessionSecret).where(
                col(SessionSecret.login_session_id) == login.id, col(SessionSecret.name) == name
            )
        )


def find_session(db: Session, token: str | None) -> tuple[LoginSession, User] | None:
    """The live session and its user for a cookie token, or None if expired or revoked.

    Touches `last_seen_at` (at most once a minute) so the idle timeout slides with use.
    """
    if not token:
        return None
    found = db.exec(_session_statement(), params={"token_hash": token_hash(token)}).first()
    if found is None:
        return None
    login, user = found
    now = utcnow()
    if not is_live(
        login, staff=user.is_staff, active=user.is_active, now=now, cfg=current_app.config
    ):
        return None
    if now - login.last_seen_at > TOUCH_EVERY:
        login.last_seen_at = now
        user.last_seen_at = now
        db.add_all([login, user])  # committed with the request
    return login, user


def end_session(db: Session, token: str | None) -> None:
    if token:
        db.exec(delete(LoginSession).where(col(LoginSession.token_hash) == token_hash(token)))


def end_other_sessions(db: Session, user: User, keep_token: str | None) -> int:
    """Delete every session of `user` except the current one; returns how many ended."""
    stmt = delete(LoginSession).where(col(LoginSession.user_id) == user.id)
    if keep_token:
        stmt = stmt.where(col(LoginSession.token_hash) != token_hash(keep_token))
    return db.exec(stmt).rowcount


def list_sessions(db: Session, user: User) -> list[LoginSession]:
    return list(
        db.exec(
            select(LoginSession)
            .where(LoginSession.user_id == user.id)
            .order_by(col(LoginSession.last_seen_at).desc())
        )
    )


def purge_expired(db: Session, now: datetime | None = None) -> int:
    """Delete sessions that can no longer be used (run by the worker)."""
    now = now or utcnow()
    cfg = current_app.config
    oldest_idle = max(cfg["STAFF_IDLE_TIMEOUT"], cfg["PARTICIPANT_IDLE_TIMEOUT"])
    oldest_absolute = max(cfg["STAFF_ABSOLUTE_TIMEOUT"], cfg["PARTICIPANT_ABSOLUTE_TIMEOUT"])
    result = db.exec(
        delete(LoginSession).where(
            (col(LoginSession.last_seen_at) < now - oldest_idle)
            | (col(LoginSession.created_at) < now - oldest_absolute)
            | (col(LoginSession.revoked_at).is_not(None))
        )
    )
    return result.rowcount


def describe_device(user_agent: str) -> str:
    """A short, human name for a device from its User-Agent ("Chrome on Android")."""
    ua = user_agent or ""
    browser = next(
        (
            name
            for key, name in [
                ("Edg/", "Edge"),
                ("Firefox/", "Firefox"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            ]
            if key in ua
        ),
        "A browser",
    )
    system = next(
        (
            name
            for key, name in [
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "Mac"),
                ("Linux", "Linux"),
            ]
            if key in ua
        ),
        "an unknown device",
    )
    return f"{browser} on {system}"
