"""Error pages in the app's look; for htmx requests only the message fragment is sent."""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from iop_pwa.access import NotPermitted, deny
from iop_pwa.db import rollback_request_session
from iop_pwa.web import render_page

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

    @app.errorhandler(InternalServerError)
    def _server_error(err: InternalServerError):
        rollback_request_session()  # logged by IOPFlask.log_exception, without its message
        return _error_response(500)
