"""In-app notifications: the bell and its list.

Every feature that needs to tell someone something calls `notify()`, which only writes a row.
Delivering those rows to phones (push) is the worker's job, never a request handler's; the text
here is shown inside the app only, and the push issue sends a generic line for the lock screen.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Index, Integer, bindparam, text
from sqlmodel import Field, Session, SQLModel, col, func, select, update

from iop_pwa.accounts.models import User
from iop_pwa.db import UTCDateTime, utcnow


class Notification(SQLModel, table=True):
    """One thing to tell a person. Where it leads is built with url_for from its `kind` (which
    a feature registered with an endpoint) and `object_id`, never stored as a path."""

    # A person's list is read newest first, and the bell counts their unread ones on every page:
    # both from indexes that lead with the person, so neither grows with their history.
    __table_args__ = (
        Index("ix_notification_user_created", "user_id", "created_at"),
        Index(
            "ix_notification_unread",
            "user_id",
            sqlite_where=text("read_at IS NULL"),
            postgresql_where=text("read_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE")
    kind: str = Field(max_length=40)  # e.g. "feedback", "assignment", "session_changed"
    text: str = Field(max_length=300)
    object_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def notify(
    db: Session, *, user_id: int, kind: str, text: str, object_id: int | None = None
) -> Notification:
    """Record one notification for a person (the one way features notify anyone). `kind` must
    be registered by a feature (`features.NotificationKind`), which says where it leads."""
    row = Notification(user_id=user_id, kind=kind, text=text[:300], object_id=object_id)
    db.add(row)
    return row


def export_records(db: Session, *, user: User) -> list[dict]:
    """The person's notifications, for "My data"."""
    return [
        {"at": n.created_at.isoformat(), "kind": n.kind, "text": n.text, "read": bool(n.read_at)}
        for n in db.exec(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(col(Notification.created_at), col(Notification.id))
        )
    ]


def unread_count(db: Session, user_id: int) -> int:
    return db.exec(_unread_statement(), params={"user_id": user_id}).one()


@cache
def _unread_statement():
    """The bell's count, asked on every participant page: built once, with a bound parameter."""
    return (
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == bindparam("user_id", type_=Integer),
            col(Notification.read_at).is_(None),
        )
    )


def recent(db: Session, user_id: int, limit: int = 50) -> list[Notification]:
    return list(
        db.exec(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
            .limit(limit)
        )
    )


def mark_all_read(db: Session, user_id: int) -> None:
    db.exec(
        update(Notification)
        .where(Notification.user_id == user_id, col(Notification.read_at).is_(None))
        .values(read_at=utcnow())
    )
