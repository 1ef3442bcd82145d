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
someone the app would have said it to; it never refuses, renders or writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from flask import Flask
from itsdangerous import BadSignature
from sqlalchemy import String, bindparam, case, false, select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.sansio.http import parse_cookie

from iop_pwa.accounts import sessions as login_sessions
from iop_pwa.accounts.models import LoginSession, ParticipantStatus, Role, User
from iop_pwa.accounts.recent_auth import SESSION_TOKEN_KEY
from iop_pwa.db import utcnow
from iop_pwa.features import QuickAnswer, registry
from iop_pwa.security import BASELINE_HEADERS, HSTS

log = logging.getLogger(__name__)

PERSONAL = [("Cache-Control", "no-store"), ("Vary", "HX-Request, Cookie")]


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
                (User.role == Role.therapist, answer.nothing_new(reader, True)),
                (User.role == Role.admin, answer.nothing_new(reader, True)),
                else_=false(),
            ).label("nothing_new"),
        )
        .join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_hash == token_hash)
    )


class QuickAnswers:
    """The WSGI layer (see the module's text). `app` is the Flask app whose `wsgi_app` it
    wraps: its session cookie, engine, config and registered `QuickAnswer`s."""

    def __init__(self, app: Flask, inner: Callable) -> None:
        self.inner = inner
        self.config = app.config
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        self.serializer = app.session_interface.get_signing_serializer(app)
        self.engine = app.extensions["db_read_engine"]  # see `db.make_read_engine`
        self.answers = [(a, statement(a)) for a in registry(app).quick_answers]

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET" and self.answers:
            path = environ.get("PATH_INFO", "")
            for answer, query in self.answers:
                match = answer.path.fullmatch(path)
                if match is not None:
                    if self._nothing_new(environ, answer, query, match):
                        start_response("204 No Content", self._headers(environ))
                        return []
                    break
        return self.inner(environ, start_response)

    def _nothing_new(self, environ: dict, answer: QuickAnswer, query, match) -> bool:
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
        try:
            with self.engine.connect() as conn:
                row = conn.execute(
                    query, {**params, "token_hash": login_sessions.token_hash(token)}
                ).first()
        except SQLAlchemyError as exc:  # the app answers, with its own handling (a 503)
            log.warning("quick answer %s: %s; the app answers", answer.name, type(exc).__name__)
            return False
        if row is None or str(row.user_id) != user_id or row.must_change_password:
            return False
        now = utcnow()
        staff = row.role in (Role.therapist, Role.admin)
        active = row.status != ParticipantStatus.deactivated
        return (
            bool(row.nothing_new)
            and login_sessions.is_live(row, staff=staff, active=active, now=now, cfg=self.config)
            and now - row.last_seen_at <= login_sessions.TOUCH_EVERY  # else the app touches it
        )

    def _session(self, environ: dict) -> tuple[str, str] | None:
        """The server-side session's token and flask-login's user id from the signed session
        cookie, or None (no cookie, a bad signature, too old, not signed in)."""
        if self.serializer is None:
            return None
        cookie = parse_cookie(environ.get("HTTP_COOKIE", "")).get(self.cookie_name)
        if not cookie:
            return None
        try:
            data = self.serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        token, user_id = data.get(SESSION_TOKEN_KEY), data.get("_user_id")
        if not isinstance(token, str) or not isinstance(user_id, str):
            return None
        return token, user_id

    def _headers(self, environ: dict) -> list[tuple[str, str]]:
        headers = [*BASELINE_HEADERS, *PERSONAL]
        if self.config["HSTS"] and environ.get("wsgi.url_scheme") == "https":
            headers.append(HSTS)
        return headers


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
