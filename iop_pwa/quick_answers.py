"""Hot polls answered before Flask: "nothing new" in one SQL statement.

Every phone with a conversation open asks "anything after message N?" every few seconds, and
almost always the answer is no. Through the whole app that answer cost what any signed-in page
costs (the session cookie, the server-side session and its user through the ORM, flask-login,
every hook), several times the query itself. This WSGI layer sits in front of Flask and answers
such a request when, and only when, one statement says all of this at once:

- the session cookie's signature holds, and its token names a live server-side session of the
  same person (`accounts.sessions.is_live`: not revoked, active account, within the timeouts),
  whose last-seen time needs no touch yet and who has no password to replace;
- the feature's `nothing_new` is true for that person (see `features.QuickAnswer`).

Then it sends 204 with the same headers the app would. Anything else goes to the app, which
decides as always: the new messages, 404 for someone outside the conversation (audited), the
sign-in page, a 503 if the database is away. So this layer can only ever say "nothing new" to
someone the app would have said it to; it never refuses, renders or writes. (Once a minute per
session the app answers a poll anyway: it slides the session's idle timeout.)

The statement is written with SQLAlchemy from the same rules as the pages use, compiled once
(`Prepared`) and sent on the driver's own cursor over a connection the process keeps
(`KeptConnection`): SQLAlchemy's per-request execution machinery cost more than the query.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from flask import Flask
from itsdangerous import BadSignature
from sqlalchemy import String, bindparam, case, event, false, or_, select
from sqlalchemy.engine import Engine
from werkzeug.sansio.http import parse_cookie

from iop_pwa.accounts import sessions as login_sessions
from iop_pwa.accounts.models import LoginSession, ParticipantStatus, Role, User
from iop_pwa.accounts.recent_auth import SESSION_TOKEN_KEY
from iop_pwa.db import utcnow
from iop_pwa.features import QuickAnswer, registry
from iop_pwa.security import BASELINE_HEADERS, HSTS, NO_STORE, PERSONAL_VARY

log = logging.getLogger(__name__)

HEADERS = [*BASELINE_HEADERS, ("Cache-Control", NO_STORE), ("Vary", ", ".join(PERSONAL_VARY))]
STAFF = (Role.therapist, Role.admin)


def statement(answer: QuickAnswer):
    """The one statement: the session of a token, its person, and the feature's answer for
    them (for their audience), with bound parameters, built once per answer.

    The feature sees the reader as a scalar subquery of the token, never as the outer row's
    column: a subquery nested two deep would not correlate to that row, and would silently
    compare against every session's person instead."""
    token_hash = bindparam("token_hash", type_=String)
    reader = (
        select(LoginSession.user_id).where(LoginSession.token_hash == token_hash).scalar_subquery()
    )
    return (
        select(
            LoginSession.user_id,
            LoginSession.revoked_at,
            LoginSession.last_seen_at,
            LoginSession.created_at,
            User.role,
            User.status,
            User.must_change_password,
            case(
                (User.role == Role.participant, answer.nothing_new(reader, False)),
                (or_(*(User.role == role for role in STAFF)), answer.nothing_new(reader, True)),
                else_=false(),
            ).label("nothing_new"),
        )
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_hash == token_hash)
    )


class Prepared:
    """A statement compiled once for the engine's driver: its SQL and the order of its bound
    parameters, so each request is one `cursor.execute` (SQLAlchemy's own execution of it cost
    more Python than the database took to answer)."""

    def __init__(self, query, dialect) -> None:
        compiled = query.compile(dialect=dialect)
        self.sql = str(compiled)
        if "POSTCOMPILE" in self.sql:
            raise ValueError("a quick answer's statement cannot expand lists (IN with values)")
        # Constants of the statement (an enum's value, say) with the driver's own types.
        self.constants = {name: getattr(v, "value", v) for name, v in compiled.params.items()}
        self.positions = compiled.positiontup if dialect.positional else None

    def arguments(self, values: dict[str, Any]):
        merged = {**self.constants, **values}
        if self.positions is None:
            return merged
        return tuple(merged[name] for name in self.positions)


class KeptConnection:
    """The driver connection this process keeps for quick answers, checked out of the engine's
    pool once (a checkout per request cost a third of the answer). One request uses it at a
    time; another thread meanwhile checks out a connection of its own. A driver error drops
    it; disposing of the engine gives it back. After a fork, the child makes its own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.kept = None
        self.pid = 0
        event.listen(engine, "engine_disposed", lambda _engine: self.release())

    def fetch_one(self, sql: str, arguments) -> tuple | None:
        if not self.lock.acquire(blocking=False):
            return self._fetch_one(self.engine.raw_connection(), sql, arguments, keep=False)
        try:
            if self.kept is None or self.pid != os.getpid():
                self.kept, self.pid = self.engine.raw_connection(), os.getpid()
            return self._fetch_one(self.kept, sql, arguments, keep=True)
        finally:
            self.lock.release()

    def _fetch_one(self, connection, sql: str, arguments, *, keep: bool) -> tuple | None:
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, arguments)
                rows = cursor.fetchall()  # to the end: SQLite then holds no read snapshot
            finally:
                cursor.close()
        except Exception:
            connection.invalidate()  # a broken or confused connection is never used again
            if keep:
                self.kept = None
            raise
        if not keep:
            connection.close()
        return rows[0] if rows else None

    def release(self) -> None:
        """Close the kept connection now (the engine's pool is gone or going)."""
        with self.lock:
            if self.kept is not None and self.pid == os.getpid():
                self.kept.invalidate()
            self.kept = None


class QuickAnswers:
    """The WSGI layer (see the module's text). `app` is the Flask app whose `wsgi_app` it
    wraps: its session cookie, engine, config and registered `QuickAnswer`s. Each statement
    it sends is passed to `statement_listeners` (tests and `make bench` count them)."""

    def __init__(self, app: Flask, inner: Callable) -> None:
        self.inner = inner
        self.config = app.config
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        self.serializer = app.session_interface.get_signing_serializer(app)
        self._signed = lru_cache(maxsize=4096)(self._verify)
        engine = app.extensions["db_read_engine"]  # see `db.make_read_engine`
        self.connection = KeptConnection(engine)
        self.answers = [
            (answer, Prepared(statement(answer), engine.dialect))
            for answer in registry(app).quick_answers
        ]
        self.statement_listeners: list[Callable[[str], None]] = []

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and self.answers:
            path = environ.get("PATH_INFO", "")
            for answer, prepared in self.answers:
                match = answer.path.fullmatch(path)
                if match is not None:
                    if self._nothing_new(environ, answer, prepared, match):
                        start_response("204 No Content", self._headers(environ))
                        return []
                    break
        return self.inner(environ, start_response)

    def _nothing_new(self, environ: dict, answer: QuickAnswer, prepared: Prepared, match) -> bool:
        session = self._session(environ)
        if session is None:
            return False
        token, user_id = session
        arguments = _first_values(environ.get("QUERY_STRING", ""))
        if arguments is None:
            return False
        params = answer.params(match, arguments)
        if params is None:
            return False
        for listener in self.statement_listeners:
            listener(prepared.sql)
        try:
            row = self.connection.fetch_one(
                prepared.sql,
                prepared.arguments({**params, "token_hash": login_sessions.token_hash(token)}),
            )
        except Exception as exc:  # noqa: BLE001 - the app answers, with its own handling (503)
            log.warning("quick answer %s: %s; the app answers", answer.name, type(exc).__name__)
            return False
        if row is None:
            return False
        reader, revoked, last_seen, created, role, status, must_change, nothing_new = row
        if str(reader) != user_id or must_change or not nothing_new:
            return False
        now = utcnow()
        session_row = SessionTimes(_utc(revoked), _utc(last_seen), _utc(created))
        return (
            login_sessions.is_live(
                session_row,
                staff=role in STAFF,
                active=status != ParticipantStatus.deactivated,
                now=now,
                cfg=self.config,
            )
            and now - session_row.last_seen_at <= login_sessions.TOUCH_EVERY  # else the app
        )

    def _session(self, environ: dict) -> tuple[str, str] | None:
        """The server-side session's token and flask-login's user id from the signed session
        cookie, or None (no cookie, a bad signature, too old, not signed in)."""
        cookie = parse_cookie(environ.get("HTTP_COOKIE", "")).get(self.cookie_name)
        if not cookie or self.serializer is None:
            return None
        found = self._signed(cookie)
        if found is None or not 0 <= int(time.time()) - found[2] <= self.max_age:
            return None  # as itsdangerous: not signed in the future, nor too long ago
        return found[0], found[1]

    def _verify(self, cookie: str) -> tuple[str, str, int] | None:
        """(token, user id, when signed) if the cookie's signature holds. The same phone sends
        the same cookie every few seconds, so `_signed` remembers the last few thousand answers:
        checking the signature again each time was a third of the answer's time."""
        try:
            data, signed_at = self.serializer.loads(cookie, return_timestamp=True)
        except BadSignature:
            return None
        token, user_id = data.get(SESSION_TOKEN_KEY), data.get("_user_id")
        if not isinstance(token, str) or not isinstance(user_id, str):
            return None
        return token, user_id, int(signed_at.timestamp())

    def _headers(self, environ: dict) -> list[tuple[str, str]]:
        headers = list(HEADERS)
        if self.config["HSTS"] and environ.get("wsgi.url_scheme") == "https":
            headers.append(HSTS)
        return headers


class SessionTimes(NamedTuple):
    revoked_at: datetime | None
    last_seen_at: datetime
    created_at: datetime


def _utc(value: datetime | str | None) -> datetime | None:
    """A timestamp as the driver gives it (SQLite: text in UTC; PostgreSQL: aware), aware."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _first_values(query: str) -> dict[str, str] | None:
    """The query string's first value of each name (as Flask's `request.args.get`), or None
    if it holds a NUL character (the app refuses those with a 400; see `errors`)."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return None
        found.setdefault(name, value)
    return found


def init_app(app: Flask) -> None:
    """Put the layer in front of the app, once every feature has registered."""
    app.extensions["quick_answers"] = app.wsgi_app = QuickAnswers(app, app.wsgi_app)
