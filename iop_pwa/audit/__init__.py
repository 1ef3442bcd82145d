"""The append-only audit log (HIPAA 164.312(b)): who did or tried what to whose record, and when.

It holds no passwords, tokens or anything a participant wrote: only ids, an action name and a short
machine-readable detail. Rows are never updated or deleted by the app (enforced below).
"""

from __future__ import annotations

from datetime import datetime

from flask import has_request_context, request
from sqlalchemy import event, insert
from sqlmodel import Field, Session, SQLModel

from iop_pwa.db import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    action: str = Field(max_length=60, index=True)
    actor_id: int | None = Field(default=None, index=True)  # no FK: the log outlives accounts
    subject_id: int | None = Field(default=None, index=True)  # the participant whose record it is
    object_type: str | None = Field(default=None, max_length=40)
    object_id: int | None = None
    ip: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=200)


def record(
    db: Session,
    action: str,
    *,
    actor_id: int | None = None,
    subject_id: int | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    ip: str | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add one audit row to the session (committed with the rest of the unit of work).

    Services call this with the person acting; inside a request the address is filled in.
    """
    if ip is None and has_request_context():
        ip = request.remote_addr
    row = AuditEvent(
        action=action,
        actor_id=actor_id,
        subject_id=subject_id,
        object_type=object_type,
        object_id=object_id,
        ip=ip,
        detail=detail,
    )
    db.add(row)
    return row


def record_for_each(
    db: Session,
    action: str,
    subject_ids: list[int | None],
    *,
    actor_id: int | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    detail: str | None = None,
) -> None:
    """One audit row per subject (a page that showed several participants' words), written at
    once in a single statement, whatever their number: the page's query count stays constant."""
    if not subject_ids:
        return
    ip = request.remote_addr if has_request_context() else None
    at = utcnow()
    db.execute(
        insert(AuditEvent),
        [
            {
                "at": at,
                "action": action,
                "actor_id": actor_id,
                "subject_id": subject_id,
                "object_type": object_type,
                "object_id": object_id,
                "ip": ip,
                "detail": detail,
            }
            for subject_id in subject_ids
        ],
    )


class AuditLogIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_changes(_mapper, _connection, _target):
    raise AuditLogIsAppendOnly("audit events are never changed or deleted")
