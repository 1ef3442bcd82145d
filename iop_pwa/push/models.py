"""Push: the devices a person turned reminders on for, their choices, and every delivery with
the result of each send."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from iop_pwa.db import UTCDateTime, utcnow


class PushSubscription(SQLModel, table=True):
    """One browser's push subscription (a device). The endpoint is the push service's URL for
    that browser: unique, as a browser re-sending its subscription updates the same row."""

    __tablename__ = "push_subscription"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    endpoint: str = Field(sa_column=Column(String(2048), unique=True, nullable=False))
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    device: str = Field(default="", max_length=120)  # "Chrome on Android", from the User-Agent
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)  # last re-sent
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_failure_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failures: int = 0  # failed sends since the last success


class ReminderPreference(SQLModel, table=True):
    """What a person wants to be reminded of, and how. No row: the defaults below."""

    __tablename__ = "reminder_preference"

    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    daily_practice: bool = True
    daily_time: time = time(18, 0)  # the person's local time
    session_reminders: bool = True
    session_minutes: str = Field(default="60,10", max_length=40)
    care_team: bool = True  # messages and feedback from the care team
    group_activity: bool = False
    alerts: bool = True  # staff: safety flags on their caseload
    quiet_start: time | None = None  # local; no push from quiet_start to quiet_end
    quiet_end: time | None = None
    by_push: bool = True
    by_email: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Delivery(SQLModel, table=True):
    """Something to send to a person once: a notification row or a due reminder. `key` names
    the reason and occurrence and is unique per person, so nothing is sent twice; a worker
    claims a delivery with a lease, and another may take it only once the lease has expired."""

    __tablename__ = "push_delivery"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    key: str = Field(max_length=120)  # e.g. "n:42", "practice:2026-11-29T18:00", "test:…"
    category: str = Field(max_length=20)
    url: str = Field(max_length=300)
    topic: str | None = Field(default=None, max_length=32)
    urgent: bool = False
    channel: str = Field(default="push", max_length=10)  # "push" or "email"
    notification_id: int | None = Field(
        default=None, foreign_key="notification.id", index=True, ondelete="SET NULL"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="pending", max_length=12, index=True)
    # pending → sent | failed | expired | no_device
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, index=True)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    leased_by: str | None = Field(default=None, max_length=40)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SendResult(SQLModel, table=True):
    """The result of one send of a delivery to one device (or by email): kept for the person,
    their therapist and whoever investigates why a reminder did not arrive."""

    __tablename__ = "push_send_result"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="push_delivery.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    subscription_id: int | None = Field(
        default=None, foreign_key="push_subscription.id", index=True, ondelete="SET NULL"
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    channel: str = Field(default="push", max_length=10)
    status_code: int | None = None  # the push service's answer; None: no answer
    outcome: str = Field(max_length=20)  # sent, gone, retry, rejected, timeout, refused, error
