"""Delivery: notification rows and due reminders become deliveries, and the worker sends them.

Two worker jobs, run every round:

- `queue`: every new notification row, and every reminder a feature's `ReminderSource` has due
  now, becomes one `Delivery` with a key unique per (person, reason, occurrence); the insert
  ignores a key that exists, so two workers, or a worker that runs twice, queue nothing twice.
- `send`: claims due deliveries with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on
  SQLite one UPDATE inside the write lock), commits the claim, sends to each of the person's
  devices concurrently (at most PUSH_CONCURRENCY at once, each with a timeout), and records
  the results as they come, committed every PUSH_CONCURRENCY sends. A device that already
  received a delivery is not sent it again on a retry.

What a killed worker can do twice: a push the push service accepted just before the worker
died, before its result was committed (at most the sends in flight and those finished since
the last commit). When the lease ends another worker sends it again, with the same `Topic`
header and notification tag: the push service replaces a message still waiting for the phone,
and the phone's service worker replaces the shown notification instead of adding one. So a
reminder is sent at least once and shows once.

Only the worker talks to push services; requests only write rows. The lock screen only ever
reads "You have a new reminder" (or, for staff, "New alert in IOP Companion"): the payload is
`{kind, url, tag, title, body}` with the category as kind and nothing a person wrote.

Email is a second channel through the same pipeline (`push/by_email.py` sends it): where mail is
set up and the person chose email, each reason gets a second delivery with `channel` "email"
and the key "email:<the push key>", so it too is queued once, claimed with a lease, retried
with backoff and recorded.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from time import monotonic

import requests
from flask import current_app
from pywebpush import WebPushException, webpush
from sqlalchemy import delete, exists, func, insert, or_, update
from sqlmodel import Session, col, select

from iop_pwa import mail
from iop_pwa.accounts.models import ParticipantStatus, User
from iop_pwa.db import utcnow
from iop_pwa.features import Reminder, registry
from iop_pwa.notifications import Notification
from iop_pwa.push import preferences, settings
from iop_pwa.push.models import Delivery, PushSubscription, SendResult

log = logging.getLogger(__name__)

TITLE = "IOP Companion"
BODY = "You have a new reminder"
ALERT_BODY = "New alert in IOP Companion"

BATCH = 200  # deliveries claimed at once
LEASE = timedelta(minutes=2)  # a killed worker's claims are free again after this
# (PUSH_LEASE_SECONDS; it must cover a whole batch: sending stops 10 s before it ends)
MAX_ATTEMPTS = 6
BACKOFF = timedelta(seconds=30)  # 30 s, 1, 2, 4, 8 minutes
MAX_RETRY_AFTER = timedelta(hours=1)
NOTIFICATION_LOOKBACK = timedelta(hours=1)  # older rows are not pushed (first start, outages)
REMINDER_GRACE = timedelta(minutes=10)  # a reminder missed by longer (worker down) is dropped
DEFAULT_LIFETIME = timedelta(hours=24)
INSERT_CHUNK = 500


# --- Queueing ----------------------------------------------------------------------------------


def _insert_new(db: Session, rows: list[dict]) -> int:
    """Insert deliveries, ignoring any whose (user, key) exists: the one guard against sending
    the same thing twice, whichever worker queues it."""
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    added = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        statement = (
            insert(Delivery.__table__)
            .values(rows[start : start + INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=["user_id", "key"])
            .returning(Delivery.__table__.c.id)
        )
        added += len(db.exec(statement).all())
    return added


def _row(
    *,
    user_id: int,
    key: str,
    category: str,
    url: str,
    due_at: datetime,
    now: datetime,
    topic: str | None = None,
    urgent: bool = False,
    expires_at: datetime | None = None,
    notification_id: int | None = None,
    channel: str = "push",
) -> dict:
    if channel != "push":
        key = f"{channel}:{key}"  # one delivery per (person, channel, reason, occurrence)
    return {
        "user_id": user_id,
        "key": key[:120],
        "category": category,
        "url": url[:300],
        "topic": topic,
        "urgent": urgent,
        "channel": channel,
        "notification_id": notification_id,
        "created_at": now,
        "due_at": due_at,
        "expires_at": expires_at or due_at + DEFAULT_LIFETIME,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": due_at,
        "lease_until": None,
        "leased_by": None,
        "done_at": None,
    }


def _notification_path(kind: str, object_id: int | None) -> str:
    """The app path a notification leads to (built without a request); the bell otherwise."""
    found = registry().notification_kind(kind)
    adapter = current_app.url_map.bind("localhost")
    if found is not None and (found.param is None or object_id):
        values = {found.param: object_id} if found.param else {}
        return adapter.build(found.endpoint, values)
    return adapter.build("notifications.index", {})


def queue_notifications(db: Session, now: datetime) -> int:
    """A delivery for every notification row of the last hour that has none yet, on each way
    the person chose (push, email), after their quiet hours."""
    found = registry()
    pending = db.exec(
        select(Notification.id, Notification.user_id, Notification.kind, Notification.object_id)
        .where(
            col(Notification.created_at) >= now - NOTIFICATION_LOOKBACK,
            ~exists().where(Delivery.notification_id == Notification.id),
        )
        .order_by(col(Notification.id))
        .limit(5000)
    ).all()
    if not pending:
        return 0
    prefs = preferences.Cache(db, {user_id for _, user_id, _, _ in pending})
    mail_on = mail.enabled()
    rows = []
    for note_id, user_id, kind, object_id in pending:
        due = prefs.after_quiet_hours(user_id, now)
        for channel in prefs.channels(user_id, mail_on):
            rows.append(
                _row(
                    user_id=user_id,
                    key=f"n:{note_id}",
                    category=found.notification_category(kind),
                    url=_notification_path(kind, object_id),
                    due_at=due,
                    now=now,
                    notification_id=note_id,
                    channel=channel,
                )
            )
    return _insert_new(db, rows)


def queue_reminders(db: Session, now: datetime) -> int:
    """A delivery for every reminder a feature has due now (within the grace period, so a round
    that came late still sends it, and a worker that was down for hours sends nothing stale)."""
    prefs = preferences.Cache(db)
    mail_on = mail.enabled()
    rows = []
    for source in registry().reminder_sources:
        reminders: Iterable[Reminder] = source.due(
            db, start=now - REMINDER_GRACE, end=now + timedelta(seconds=1), settings=prefs.settings
        )
        for reminder in reminders:
            due = prefs.after_quiet_hours(reminder.user_id, max(reminder.at, now - REMINDER_GRACE))
            expires = reminder.expires_at or reminder.at + DEFAULT_LIFETIME
            if due >= expires:
                continue  # quiet hours last past the point of it (a session already started)
            for channel in prefs.channels(reminder.user_id, mail_on):
                rows.append(
                    _row(
                        user_id=reminder.user_id,
                        key=f"{source.name}:{reminder.key}",
                        category=reminder.category,
                        url=reminder.url,
                        due_at=due,
                        now=now,
                        topic=reminder.topic,
                        urgent=reminder.urgent,
                        expires_at=expires,
                        channel=channel,
                    )
                )
    return _insert_new(db, rows)


def queue_test(db: Session, *, user_id: int, now: datetime | None = None) -> None:
    """ "Send a test notification": one delivery to each of the person's devices, now."""
    now = now or utcnow()
    _insert_new(
        db,
        [
            _row(
                user_id=user_id,
                key=f"test:{uuid.uuid4().hex}",
                category="test",
                url=current_app.url_map.bind("localhost").build("accounts.account", {})
                + "#reminders",
                due_at=now,
                now=now,
                expires_at=now + timedelta(minutes=30),
            )
        ],
    )


def queue(db: Session, now: datetime) -> int:
    """The worker's queueing job."""
    return queue_notifications(db, now) + queue_reminders(db, now)


# --- Claiming ----------------------------------------------------------------------------------


def lease() -> timedelta:
    """How long a claim holds (PUSH_LEASE_SECONDS, 2 minutes by default)."""
    return timedelta(seconds=float(current_app.config.get("PUSH_LEASE_SECONDS", 120)))


def send_deadline(started: float) -> float:
    """When a batch stops starting new sends (monotonic seconds): before its lease ends, so
    no other worker takes over a claim while its sends are still going."""
    seconds = lease().total_seconds()
    return started + seconds - min(10.0, seconds / 4)


def claim(
    db: Session, now: datetime, *, limit: int = BATCH, channel: str = "push"
) -> tuple[str, list[int]]:
    """Lease up to `limit` due deliveries of a channel ("push" or "email") to this caller;
    returns (lease token, ids). The caller commits before sending, so other workers see the
    lease. On PostgreSQL rows another worker is claiming are skipped (`FOR UPDATE SKIP
    LOCKED`); on SQLite the claim is one UPDATE, which runs under the database's single write
    lock."""
    token = uuid.uuid4().hex
    due = (
        select(Delivery.id)
        .where(
            Delivery.status == "pending",
            Delivery.channel == channel,
            col(Delivery.next_attempt_at) <= now,
            or_(col(Delivery.lease_until).is_(None), col(Delivery.lease_until) < now),
        )
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(limit)
    )
    held = {"lease_until": now + lease(), "leased_by": token}
    if db.get_bind().dialect.name == "postgresql":
        ids = list(db.exec(due.with_for_update(skip_locked=True)).all())
        if ids:
            db.exec(update(Delivery).where(col(Delivery.id).in_(ids)).values(**held))
    else:
        db.exec(
            update(Delivery)
            .where(col(Delivery.id).in_(due.scalar_subquery()))
            .values(**held)
            .execution_options(synchronize_session=False)
        )
        ids = list(db.exec(select(Delivery.id).where(Delivery.leased_by == token)).all())
    return token, sorted(ids)


# --- Sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One send: a delivery to one device."""

    delivery_id: int
    subscription_id: int | None
    endpoint: str
    p256dh: str
    auth: str
    payload: str
    headers: dict
    ttl: int


@dataclass(frozen=True)
class Result:
    task: Task
    status_code: int | None
    outcome: str  # sent, gone, retry, timeout, rejected, refused, error, not_tried
    retry_after: timedelta | None = None

    @property
    def retryable(self) -> bool:
        return self.outcome in {"retry", "timeout", "error", "not_tried"}


class _NoRedirects(requests.Session):
    """A push service never redirects; a redirect is refused, not followed (it would send our
    VAPID token and the payload to wherever it points)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False

    def request(self, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds or an HTTP date), at most an hour."""
    if not value:
        return None
    value = value.strip()
    try:
        wait = timedelta(seconds=max(0, int(value)))
    except ValueError:
        try:
            wait = parsedate_to_datetime(value) - now
        except (TypeError, ValueError):
            return None
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Sender:
    """What every send needs, read from the app in the worker's thread (the pool's threads
    have no app context)."""

    key: object
    subject: str
    allowed: tuple[str, ...]
    timeout: float
    concurrency: int

    @classmethod
    def from_app(cls) -> Sender:
        config = current_app.config
        return cls(
            key=settings.vapid_key(),
            subject=config["VAPID_SUBJECT"],
            allowed=tuple(config["PUSH_ALLOWED_ENDPOINTS"]),
            timeout=float(config["PUSH_TIMEOUT_SECONDS"]),
            concurrency=max(1, int(config["PUSH_CONCURRENCY"])),
        )

    def send_one(self, task: Task, session: requests.Session, now: datetime) -> Result:
        """Send one push; never raises. The endpoint is checked again here, at send time."""
        if not settings.endpoint_allowed(task.endpoint, self.allowed):
            return Result(task, None, "refused")
        info = {"endpoint": task.endpoint, "keys": {"p256dh": task.p256dh, "auth": task.auth}}
        try:
            response = webpush(
                info,
                data=task.payload,
                vapid_private_key=self.key,
                vapid_claims={"sub": self.subject},  # fresh per call: webpush adds aud and exp
                ttl=task.ttl,
                timeout=self.timeout,
                headers=dict(task.headers),
                requests_session=session,
            )
            return Result(task, response.status_code, "sent")
        except WebPushException as exc:
            response = exc.response
            if response is None:
                return Result(task, None, "error")
            code = response.status_code
            if code in (404, 410):
                return Result(task, code, "gone")
            if code == 429 or code >= 500:
                wait = retry_after(response.headers.get("Retry-After"), now)
                return Result(task, code, "retry", wait)
            if code in (401, 403):
                log.error("push: the push service refused our VAPID credentials (%d)", code)
            return Result(task, code, "rejected")
        except requests.Timeout:
            return Result(task, None, "timeout")
        except (requests.RequestException, ValueError, OSError) as exc:
            log.warning("push: a send failed: %s", type(exc).__name__)
            return Result(task, None, "error")

    def send_all(
        self,
        tasks: list[Task],
        now: datetime,
        deadline: float,
        on_results: Callable[[list[Result]], None] | None = None,
    ) -> list[Result]:
        """Send every task, at most `concurrency` at once. A task whose turn comes after
        `deadline` (monotonic seconds; the lease would run out meanwhile) is not tried.
        `on_results` is called in this thread with the results as they come, `concurrency` at
        a time, so they can be committed while the next sends go."""
        local = threading.local()
        sessions: list[requests.Session] = []
        lock = threading.Lock()

        def session() -> requests.Session:
            if not hasattr(local, "session"):
                local.session = _NoRedirects()
                with lock:
                    sessions.append(local.session)
            return local.session

        def run(task: Task) -> Result:
            if monotonic() + self.timeout > deadline:
                return Result(task, None, "not_tried")
            return self.send_one(task, session(), now)

        results: list[Result] = []
        pending: list[Result] = []

        def collect(result: Result) -> None:
            results.append(result)
            pending.append(result)
            if on_results is not None and len(pending) >= self.concurrency:
                on_results(pending[:])
                pending.clear()

        try:
            if len(tasks) <= 1 or self.concurrency == 1:
                for task in tasks:
                    collect(run(task))
            else:
                with ThreadPoolExecutor(self.concurrency, thread_name_prefix="push") as pool:
                    for result in pool.map(run, tasks):
                        collect(result)
            if on_results is not None and pending:
                on_results(pending[:])
            return results
        finally:
            for opened in sessions:
                opened.close()


def payload(delivery: Delivery) -> str:
    """What the service worker gets: where to go, and words that are safe on a lock screen."""
    body = ALERT_BODY if delivery.category == "alerts" else BODY
    tag = delivery.topic or f"iop-{delivery.id}"
    return json.dumps(
        {"kind": delivery.category, "url": delivery.url, "tag": tag, "title": TITLE, "body": body},
        separators=(",", ":"),
    )


def _headers(delivery: Delivery) -> dict:
    """Every push has a Topic: the reason's own (a newer daily reminder replaces an older one
    not yet delivered), else the delivery's, so a send repeated after a worker died replaces
    the first one at the push service instead of reaching the phone twice."""
    return {
        "Urgency": "high" if delivery.urgent else "normal",
        "Topic": delivery.topic or f"iop-{delivery.id}",
    }


def _ttl(delivery: Delivery, now: datetime) -> int:
    """How long the push service keeps the message for a phone that is asleep: never 0 (it
    would be dropped), never past the delivery's own end."""
    default = int(current_app.config["PUSH_TTL_SECONDS"])
    if delivery.expires_at is None:
        return default
    left = int((delivery.expires_at - now).total_seconds())
    return max(60, min(default, left))


def _plan(db: Session, ids: list[int], now: datetime):
    """The claimed deliveries, what to do with each, and the sends to make."""
    deliveries = list(db.exec(select(Delivery).where(col(Delivery.id).in_(ids))))
    user_ids = {d.user_id for d in deliveries}
    people = {u.id: u for u in db.exec(select(User).where(col(User.id).in_(user_ids))) if u}
    prefs = preferences.Cache(db, user_ids)
    mail_on = mail.enabled()
    devices: dict[int, list[PushSubscription]] = {}
    for sub in db.exec(select(PushSubscription).where(col(PushSubscription.user_id).in_(user_ids))):
        if not settings.is_placeholder(sub.endpoint):  # the demo's phone: never sent to
            devices.setdefault(sub.user_id, []).append(sub)
    already = set(
        db.exec(
            select(SendResult.delivery_id, SendResult.subscription_id).where(
                col(SendResult.delivery_id).in_(ids), SendResult.outcome == "sent"
            )
        ).all()
    )
    decided: dict[int, str] = {}
    tasks: list[Task] = []
    for delivery in deliveries:
        person = people.get(delivery.user_id)
        if person is None or person.status == ParticipantStatus.deactivated:
            decided[delivery.id] = "withdrawn"
        elif delivery.expires_at is not None and delivery.expires_at <= now:
            decided[delivery.id] = "expired"
        elif not prefs.wants(delivery.user_id, delivery.category):
            decided[delivery.id] = "off"
        elif "push" not in prefs.channels(delivery.user_id, mail_on):
            decided[delivery.id] = "off"  # the person now has reminders by email only
        elif not devices.get(delivery.user_id):
            decided[delivery.id] = "no_device"
        else:
            body, headers, ttl = payload(delivery), _headers(delivery), _ttl(delivery, now)
            ahead = len(tasks)
            for sub in devices[delivery.user_id]:
                if (delivery.id, sub.id) in already:
                    continue
                keys = (sub.endpoint, sub.p256dh, sub.auth)
                tasks.append(Task(delivery.id, sub.id, *keys, body, headers, ttl))
            if len(tasks) == ahead:
                decided[delivery.id] = "sent"  # every device had it (a worker died after it)
    return deliveries, decided, tasks


def record(
    db: Session,
    *,
    ids: list[int],
    decided: dict[int, str],
    results: list[Result],
    token: str,
    now: datetime,
    channel: str = "push",
    saved: bool = False,
) -> int:
    """Write every result, update each device and delivery; returns how many pushes went.
    Statements are per outcome, not per row, so recording keeps pace with sending. The
    deliveries are read afresh: one whose lease ran out meanwhile belongs to another worker.
    With `saved`, the results themselves were written already (`save_results`, as they came)."""
    current = {
        row[0]: row
        for row in db.exec(
            select(Delivery.id, Delivery.user_id, Delivery.leased_by, Delivery.attempts).where(
                col(Delivery.id).in_(ids)
            )
        ).all()
    }
    if not saved:
        save_results(
            db, results, users={k: row[1] for k, row in current.items()}, now=now, channel=channel
        )
    return _finish(db, current=current, decided=decided, results=results, token=token, now=now)


def save_results(
    db: Session, results: list[Result], *, users: dict[int, int], now: datetime, channel: str
) -> None:
    """A `SendResult` row for every send tried, and each device's success or failure count.
    `users` maps each delivery to its person."""
    tried = [r for r in results if r.outcome != "not_tried"]
    if tried:
        db.exec(
            insert(SendResult.__table__),
            params=[
                {
                    "delivery_id": r.task.delivery_id,
                    "user_id": users[r.task.delivery_id],
                    "subscription_id": r.task.subscription_id,
                    "at": now,
                    "channel": channel,
                    "status_code": r.status_code,
                    "outcome": r.outcome,
                }
                for r in tried
            ],
        )
    # Devices: a success clears the count; only 404/410 remove one; anything else counts.
    worked = {r.task.subscription_id for r in tried if r.outcome == "sent"}
    gone = {r.task.subscription_id for r in tried if r.outcome == "gone"}
    failing = {r.task.subscription_id for r in tried if r.outcome not in {"sent", "gone"}}
    failing -= worked | gone
    worked.discard(None), gone.discard(None), failing.discard(None)  # email: no device
    subs = PushSubscription
    if worked:
        db.exec(
            update(subs)
            .where(col(subs.id).in_(worked))
            .values(last_success_at=now, failures=0)
            .execution_options(synchronize_session=False)
        )
    if failing:
        db.exec(
            update(subs)
            .where(col(subs.id).in_(failing))
            .values(last_failure_at=now, failures=subs.failures + 1)
            .execution_options(synchronize_session=False)
        )
    if gone:
        db.exec(delete(subs).where(col(subs.id).in_(gone)))


def _finish(
    db: Session,
    *,
    current: dict,
    decided: dict[int, str],
    results: list[Result],
    token: str,
    now: datetime,
) -> int:
    """Each delivery of the batch done, or back in the queue; returns how many pushes went."""
    # Deliveries: done (sent, failed or decided before sending) or back in the queue.
    by_delivery: dict[int, list[Result]] = {}
    for result in results:
        by_delivery.setdefault(result.task.delivery_id, []).append(result)
    finished: dict[str, list[int]] = {}
    sent = 0
    for delivery_id, (_id, _user, leased_by, attempts) in current.items():
        if leased_by != token:
            continue  # our lease ran out and another worker has it now
        outcomes = by_delivery.get(delivery_id, [])
        sent += sum(r.outcome == "sent" for r in outcomes)
        if delivery_id in decided:
            finished.setdefault(decided[delivery_id], []).append(delivery_id)
        elif any(r.retryable for r in outcomes):
            was_tried = any(r.outcome != "not_tried" for r in outcomes)
            attempts += 1 if was_tried else 0
            if attempts >= MAX_ATTEMPTS:
                finished.setdefault("failed", []).append(delivery_id)
                continue
            waits = [r.retry_after for r in outcomes if r.retry_after is not None]
            backoff = BACKOFF * 2 ** max(0, attempts - 1) if was_tried else timedelta(0)
            db.exec(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    attempts=attempts,
                    next_attempt_at=now + max([backoff, *waits]),
                    lease_until=None,
                    leased_by=None,
                )
                .execution_options(synchronize_session=False)
            )
        elif any(r.outcome == "sent" for r in outcomes) or (not outcomes and attempts):
            finished.setdefault("sent", []).append(delivery_id)
        else:
            finished.setdefault("failed", []).append(delivery_id)
    for status, done in finished.items():
        db.exec(
            update(Delivery)
            .where(col(Delivery.id).in_(done), Delivery.leased_by == token)
            .values(status=status, done_at=now, lease_until=None, leased_by=None)
            .execution_options(synchronize_session=False)
        )
    return sent


def send(db: Session, now: datetime, *, limit: int = BATCH) -> int:
    """The worker's sending job: claim, commit the claim, send, record (committed by the
    worker). Returns how many pushes were sent."""
    if current_app.config.get("VAPID_SUBJECT") is None:
        return 0
    token, ids = claim(db, now, limit=limit)
    db.commit()  # the claim must be visible to other workers before anything is sent
    if not ids:
        return 0
    started = monotonic()
    deliveries, decided, tasks = _plan(db, ids, now)
    db.commit()  # end the read: no transaction stays open while we wait on push services
    users = {d.id: d.user_id for d in deliveries}

    def save(results: list[Result]) -> None:
        """Results committed as they come: a worker killed mid-batch leaves on record every
        push that went, so the one that takes over its claims sends only the others."""
        save_results(db, results, users=users, now=now, channel="push")
        db.commit()

    results = Sender.from_app().send_all(tasks, now, send_deadline(started), on_results=save)
    return record(db, ids=ids, decided=decided, results=results, token=token, now=now, saved=True)


def last_success(db: Session, user_ids: list[int]) -> dict[int, datetime]:
    """When each person last received a push on any device (one query)."""
    if not user_ids:
        return {}
    rows = db.exec(
        select(SendResult.user_id, func.max(SendResult.at))
        .where(col(SendResult.user_id).in_(user_ids), SendResult.outcome == "sent")
        .group_by(SendResult.user_id)
    ).all()
    return dict(rows)
