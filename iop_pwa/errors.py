"""Error pages in the app's look; for htmx requests only the message fragment is sent."""

from __future__ import annotations

import contextlib
import logging
import sqlite3

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

from iop_pwa.access import NotPermitted, deny
from iop_pwa.db import rollback_request_session
from iop_pwa.extensions import htmx, login_manager
from iop_pwa.web import render_page

log = logging.getLogger(__name__)

SQLITE_BUSY = ("database is locked", "unable to open database", "disk I/O error")
RETRY_AFTER_SECONDS = 10  # what a 503 asks a client to wait before trying again
UNAVAILABLE = (
    "We can't reach our records right now",
    "Please try again in a minute. Anything you wrote on this phone is kept on it and sent "
    "when we're back.",
)

MESSAGES = {
    400: ("Something in that request was not right", "Please go back and try again."),
    403: (
        "This page is not part of your account",
        "If you think you should see it, ask your care team.",
    ),
    404: ("We couldn't find that page", "It may have moved, or it isn't yours to see."),
    405: ("That didn't work", "Please go back and try again."),
    413: ("That was too large to send", "Please shorten it and try again."),
    422: ("Some details need another look", "Please go back, check the form and try again."),
    429: ("Too many tries", "For your safety, please wait a few minutes and try again."),
    500: (
        "Something went wrong on our side",
        "Nothing you did caused this. Please try again shortly.",
    ),
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def _error_response(code: int, reason: str | None = None, error_code: str | None = None):
    title, text = MESSAGES.get(code, MESSAGES[400 if code < 500 else 500])
    if wants_json():
        return jsonify(error=error_code or str(code), title=title, detail=reason or text), code
    return render_page(
        "errors/error.html", code=code, title=title, text=reason or text, status=code
    )


def database_unreachable(err: BaseException | None) -> bool:
    """The database is down, restarting or out of connections (not a bug in a query): the
    request may simply be tried again, so the answer is 503, never a 500."""
    if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
        return True
    if isinstance(err, (sa_exc.InterfaceError, sa_exc.TimeoutError)):
        return True  # a closed connection; no connection free in the pool in time
    if isinstance(err, sa_exc.OperationalError):
        if isinstance(err.orig, sqlite3.Error):  # SQLite says "no such table" this way too
            return any(word in str(err.orig) for word in SQLITE_BUSY)
        return True  # PostgreSQL: refused, reset, shutting down, too many connections
    return False


def _unavailable(err: BaseException):
    """503 with Retry-After and a calm page (or JSON for the outbox, which keeps the write and
    sends it again later). Nothing here touches the database: the page is stand-alone."""
    session = g.pop("db", None)
    if session is not None:
        # Gives back (or discards) the broken connection; if even that fails, it is gone.
        with contextlib.suppress(Exception):
            session.close()
    # The type only: the text of a database error can hold SQL parameters (personal data).
    log.warning(
        "database unreachable on %s %s: %s (answered 503)",
        request.method,
        request.url_rule,
        type(err).__name__,
    )
    if "_login_user" not in g:  # rendering must not ask the database who is signed in
        g._login_user = login_manager.anonymous_user()
    title, text = UNAVAILABLE
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    if wants_json():
        return jsonify(error="unavailable", title=title, detail=text), 503, headers
    template = "errors/_unavailable.html" if htmx else "errors/unavailable.html"
    return render_template(template, title=title, text=text), 503, headers


NUL_REFUSED = (
    "Something you sent holds a character that can't be saved (a NUL byte). "
    "Please remove it and try again."
)


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_nul_bytes():
        """No database column can hold a NUL character (PostgreSQL refuses it with an error), and
        no keyboard types one: a 400 with a clear reason, before any view sees it."""
        fields = (*request.args.lists(), *request.form.lists())
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in fields):
            return _error_response(400, NUL_REFUSED, error_code="nul_byte")
        return None

    @app.errorhandler(CSRFError)
    def _csrf(err):
        return _error_response(
            400,
            "This form had expired. Please reload the page and send it again; "
            "what you typed is still on the page if you go back.",
            error_code="csrf",
        )

    @app.errorhandler(NotPermitted)
    def _not_permitted(err: NotPermitted):
        """A service refused an object the caller may not reach: nothing it did is kept, and
        the answer is the same audited 404 as any other refusal."""
        rollback_request_session()
        try:
            deny(err.kind, err.object_id, subject_id=err.subject_id)
        except HTTPException as refusal:
            return _error_response(refusal.code)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        if err.code is None or err.code < 400:
            return err
        return _error_response(err.code)

    @app.errorhandler(sa_exc.SQLAlchemyError)
    def _database_error(err: sa_exc.SQLAlchemyError):
        if database_unreachable(err):
            return _unavailable(err)
        raise err  # any other database error is a bug: Flask logs it and answers 500

    @app.errorhandler(InternalServerError)
    def _server_error(err: InternalServerError):
        # An error outside the view (committing the request's transaction) comes here wrapped.
        if database_unreachable(err.original_exception):
            return _unavailable(err.original_exception)
        rollback_request_session()  # logged by IOPFlask.log_exception, without its message
        return _error_response(500)
