"""The security baseline every page inherits: headers, object-level access, audit from a request.

Access rules live here once so views stay short: a participant reaches only their own rows; a
therapist reaches a participant only through a care-team link. Anything else answers 404 (never
403, which would confirm the object exists) and writes a `access_denied` audit row.
"""

from __future__ import annotations

from typing import TypeVar

from flask import Flask, abort, request
from flask_login import current_user
from sqlmodel import Session, SQLModel, select

from iop_pwa import audit
from iop_pwa.accounts.models import CareTeamLink, Role, User
from iop_pwa.db import get_db

T = TypeVar("T", bound=SQLModel)

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


def client_ip() -> str | None:
    return request.remote_addr if request else None


def audit_event(action: str, **fields) -> None:
    """Record an audit event for the current request (actor and address filled in)."""
    actor = fields.pop("actor_id", None)
    if actor is None and current_user and current_user.is_authenticated:
        actor = current_user.id
    audit.record(get_db(), action, actor_id=actor, ip=client_ip(), **fields)


def deny(object_type: str, object_id: int | None, subject_id: int | None = None):
    """Audit a refused access and answer 404, committing the audit row on its own."""
    audit_event(
        "access_denied",
        object_type=object_type,
        object_id=object_id,
        subject_id=subject_id,
        detail=request.path[:200],
    )
    get_db().commit()
    abort(404)


def own_or_404(model: type[T], object_id: int, *, owner_field: str = "user_id") -> T:
    """Load `model` by id if it belongs to the signed-in person, else 404 (and audit)."""
    db = get_db()
    obj = db.get(model, object_id)
    if obj is None or getattr(obj, owner_field) != current_user.id:
        deny(model.__name__, object_id)
    return obj


def in_caseload(db: Session, therapist_id: int, participant_id: int) -> bool:
    return (
        db.exec(
            select(CareTeamLink.id).where(
                CareTeamLink.therapist_id == therapist_id,
                CareTeamLink.participant_id == participant_id,
            )
        ).first()
        is not None
    )


def caseload_participant_or_404(participant_id: int, *, purpose: str = "view_record") -> User:
    """The participant with this id if they are on the signed-in therapist's caseload, else 404.

    Every successful read is audited as a staff read of the participant's record.
    """
    db = get_db()
    participant = db.get(User, participant_id)
    if (
        participant is None
        or participant.role != Role.participant
        or not in_caseload(db, current_user.id, participant_id)
    ):
        deny("participant", participant_id, subject_id=participant_id)
    audit_event(
        "staff_read",
        subject_id=participant_id,
        object_type="participant",
        object_id=participant_id,
        detail=purpose,
    )
    return participant


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["HSTS"] and request.is_secure:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        if (
            current_user
            and current_user.is_authenticated
            and not request.path.startswith("/static/")
        ):
            # Personal pages: never stored by the browser or a proxy; fragments differ from pages.
            headers.setdefault("Cache-Control", "no-store")  # unless the view chose
            response.vary.add("HX-Request")
            response.vary.add("Cookie")
        return response
