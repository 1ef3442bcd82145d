"""Devices: turning reminders on and off for a browser, and what the person's devices did."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Integer, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, select

from iop_pwa import mail
from iop_pwa.accounts.models import User
from iop_pwa.accounts.sessions import describe_device
from iop_pwa.db import utcnow
from iop_pwa.push import preferences, settings
from iop_pwa.push.models import Delivery, PushSubscription, ReminderPreference, SendResult


class PushError(ValueError):
    """A subscription we refuse, with a message for the person (or the program)."""


def _b64(value: object, *, length: int, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise PushError(f"The subscription's {what} key is missing.")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PushError(f"The subscription's {what} key is not base64url.") from exc
    if len(raw) != length or (what == "p256dh" and raw[0] != 4):
        raise PushError(f"The subscription's {what} key has the wrong length.")
    return value.rstrip("=")


def parse_subscription(body: object) -> tuple[str, str, str]:
    """(endpoint, p256dh, auth) from a browser's `PushSubscription.toJSON()`, checked."""
    if not isinstance(body, dict):
        raise PushError("Send the subscription as JSON.")
    endpoint = body.get("endpoint")
    keys = body.get("keys") if isinstance(body.get("keys"), dict) else {}
    if not isinstance(endpoint, str) or not settings.endpoint_allowed(endpoint):
        raise PushError("This push service is not one we send to.")
    p256dh = _b64(keys.get("p256dh"), length=65, what="p256dh")
    auth = _b64(keys.get("auth"), length=16, what="auth")
    return endpoint, p256dh, auth


def subscribe(
    db: Session, *, user: User, body: object, user_agent: str, now: datetime | None = None
) -> tuple[PushSubscription, bool]:
    """Store this browser's subscription for the person (by endpoint: a browser re-sending
    its subscription on every app open updates its row); returns (row, created). A browser
    that another account had subscribed now belongs to this person: a shared phone gets only
    the reminders of whoever signed in last."""
    endpoint, p256dh, auth = parse_subscription(body)
    now = now or utcnow()
    try:
        return _store(db, user, endpoint, p256dh, auth, user_agent, now)
    except IntegrityError:
        # Two pages of one browser sent the same new subscription at once and the other
        # request stored it first: the whole transaction is rolled back and the row, now
        # there, is updated instead.
        db.rollback()
        return _store(db, user, endpoint, p256dh, auth, user_agent, now)


def _store(db, user, endpoint, p256dh, auth, user_agent, now) -> tuple[PushSubscription, bool]:
    row = db.exec(select(PushSubscription).where(PushSubscription.endpoint == endpoint)).first()
    created = row is None or row.user_id != user.id
    if row is None:
        row = PushSubscription(user_id=user.id, endpoint=endpoint, p256dh=p256dh, auth=auth)
        row.created_at = now
    elif row.user_id != user.id:
        row.user_id, row.created_at = user.id, now
        row.last_success_at = row.last_failure_at = None
        row.failures = 0
    row.p256dh, row.auth, row.seen_at = p256dh, auth, now
    row.device = describe_device(user_agent)[:120]
    db.add(row)
    db.flush()
    return row, created


def unsubscribe(db: Session, *, user: User, endpoint: object) -> bool:
    """Forget this browser's subscription, if it is the person's."""
    if not isinstance(endpoint, str):
        return False
    return bool(
        db.exec(
            delete(PushSubscription).where(
                PushSubscription.endpoint == endpoint, PushSubscription.user_id == user.id
            )
        ).rowcount
    )


def devices(db: Session, user_id: int) -> list[PushSubscription]:
    return list(db.exec(_devices_statement(), params={"user_id": user_id}))


@cache
def _devices_statement():
    """A person's devices (Today, Account and the therapist's page ask on every load)."""
    return (
        select(PushSubscription)
        .where(PushSubscription.user_id == bindparam("user_id", type_=Integer))
        .order_by(col(PushSubscription.created_at), col(PushSubscription.id))
    )


@cache
def _preferences_statement():
    """A person's address and reminder preferences (None where never saved)."""
    return (
        select(User.email, ReminderPreference)
        .outerjoin(ReminderPreference, col(ReminderPreference.user_id) == User.id)
        .where(User.id == bindparam("user_id", type_=Integer))
    )


@dataclass(frozen=True)
class Reliability:
    """What the person and their therapist see: are reminders on, and do they arrive? Email
    counts as a way reminders reach the person (where mail is set up and they chose it)."""

    devices: list[PushSubscription]
    last_received: datetime | None  # the last push to a device or email that went
    email_on: bool = False
    last_email: datetime | None = None
    email_failing: bool = False  # the latest email could not be sent

    @property
    def by_email(self) -> bool:
        return self.email_on

    @property
    def on(self) -> bool:
        """Whether any way reaches the person: a device or email."""
        return bool(self.devices) or self.email_on

    @property
    def reaching(self) -> bool:
        """False when nothing can reach the person: no device and no email, or every way
        they have is failing."""
        device_ok = bool(self.devices) and not self.all_failing
        email_ok = self.email_on and not self.email_failing
        return device_ok or email_ok

    @property
    def all_failing(self) -> bool:
        """Every device failed its latest send (and none has succeeded since)."""
        return bool(self.devices) and all(
            d.failures > 0
            and d.last_failure_at is not None
            and (d.last_success_at is None or d.last_failure_at > d.last_success_at)
            for d in self.devices
        )


def reliability(db: Session, user_id: int) -> Reliability:
    """At most four queries: the devices, the preferences (with the person's address), and,
    when email is on, its latest result and its last success."""
    found = devices(db, user_id)
    received = [d.last_success_at for d in found if d.last_success_at]
    row = db.exec(_preferences_statement(), params={"user_id": user_id}).first()
    address, pref = row if row else (None, None)
    email_on = bool(address and pref and "email" in preferences.channels(pref, mail.enabled()))
    last_email = email_failing = None
    if email_on:
        latest = db.exec(
            select(SendResult.at, SendResult.outcome)
            .where(SendResult.user_id == user_id, SendResult.channel == "email")
            .order_by(col(SendResult.at).desc(), col(SendResult.id).desc())
            .limit(1)
        ).first()
        last_email = db.exec(
            select(func.max(SendResult.at)).where(
                SendResult.user_id == user_id,
                SendResult.channel == "email",
                SendResult.outcome == "sent",
            )
        ).one()
        email_failing = latest is not None and latest[1] != "sent"
    received += [last_email] if last_email else []
    return Reliability(
        devices=found,
        last_received=max(received) if received else None,
        email_on=email_on,
        last_email=last_email,
        email_failing=bool(email_failing),
    )


def export_records(db: Session, *, user: User) -> list[dict]:
    """For "My data": the person's devices, preferences and what was sent (no endpoints:
    they are the push service's addresses, not the person's data to read)."""
    records: list[dict] = []
    for d in devices(db, user.id):
        records.append(
            {
                "record": "device",
                "device": d.device,
                "added": d.created_at.isoformat(),
                "last_received": d.last_success_at.isoformat() if d.last_success_at else "",
            }
        )
    pref = db.get(ReminderPreference, user.id)
    if pref:
        records.append(
            {
                "record": "preferences",
                "daily_practice": pref.daily_practice,
                "daily_time": pref.daily_time.strftime("%H:%M"),
                "session_reminders": pref.session_minutes if pref.session_reminders else "",
                "care_team": pref.care_team,
                "group_activity": pref.group_activity,
                "quiet_hours": (
                    f"{pref.quiet_start:%H:%M}-{pref.quiet_end:%H:%M}"
                    if pref.quiet_start and pref.quiet_end
                    else ""
                ),
                "by_push": pref.by_push,
                "by_email": pref.by_email,
            }
        )
    rows = db.exec(
        select(Delivery.category, Delivery.created_at, SendResult.at, SendResult.outcome)
        .join(SendResult, col(SendResult.delivery_id) == Delivery.id)
        .where(Delivery.user_id == user.id)
        .order_by(col(SendResult.at), col(SendResult.id))
    ).all()
    for category, created, at, outcome in rows:
        records.append(
            {
                "record": "delivery",
                "category": category,
                "queued": created.isoformat(),
                "sent": at.isoformat(),
                "result": outcome,
            }
        )
    return records
