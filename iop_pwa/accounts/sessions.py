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

from iop_pwa.accounts.models import LoginSession, User
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


def start_session(db: Session, user: User, device: str) -> str:
    """Create a session row for a new sign-in and return the token for the cookie."""
    token = secrets.token_urlsafe(32)
    user.last_seen_at = utcnow()
    db.add(user)
    db.add(
        LoginSession(
            user_id=user.id,
            token_hash=token_hash(token),
            device=device[:120],
            confirmed_at=utcnow(),  # signing in is proof enough for the next few minutes
        )
    )
    return token


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
