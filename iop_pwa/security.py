"""The security baseline every page inherits: headers, and audit rows from a request.

Who may reach which object is decided in `iop_pwa.access`.
"""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

from iop_pwa import audit
from iop_pwa.db import get_db

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

# Every answer carries these (`init_app`; `quick_answers` sends the same).
BASELINE_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
# A signed-in person's answers: never stored by the browser or a proxy; fragments differ from
# pages, and one person's answer from another's.
NO_STORE = "no-store"
PERSONAL_VARY = ("HX-Request", "Cookie")


def audit_event(action: str, **fields) -> None:
    """Record an audit event for the current request (the actor filled in here, the address by
    `audit.record`)."""
    actor = fields.pop("actor_id", None)
    if actor is None and current_user and current_user.is_authenticated:
        actor = current_user.id
    audit.record(get_db(), action, actor_id=actor, **fields)


def audit_refusal(action: str, *, also=None, **fields) -> None:
    """Audit a refused request on its own: whatever the request had changed is undone, and only
    what records the refusal is committed (the audit row, and what `also(db)` adds, such as a
    failed sign-in's count); the request's own commit never comes, as it answers 4xx."""
    db = get_db()
    db.rollback()
    audit_event(action, **fields)
    if also is not None:
        also(db)
    db.commit()


def audit_staff_list(page: str, shown: int) -> None:
    """A staff page that shows participants' names (a list, a roster, a form's choices) is a read
    of their records: one audit row per view, naming the page and how many people it showed."""
    audit_event("staff_read", object_type="caseload", detail=f"{page}: {shown} participants")


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        headers = response.headers
        for name, value in BASELINE_HEADERS:
            headers.setdefault(name, value)
        if app.config["HSTS"] and request.is_secure:
            headers.setdefault(*HSTS)
        if (
            current_user
            and current_user.is_authenticated
            and not request.path.startswith("/static/")
        ):
            headers.setdefault("Cache-Control", NO_STORE)  # unless the view chose
            response.vary.update(PERSONAL_VARY)
        return response
