"""Email, the second way reminders reach a person: for browsers without push (an iPhone before
"Add to Home Screen"), or for whoever prefers it (Account → Reminders → How).

Email deliveries are queued with the push ones (`delivery.queue`, channel "email", key
"email:<reason>:<occurrence>", so each is queued once) and sent by the worker's `push_email`
job: claim with a lease, send over one SMTP connection, record every result, retry a mail
server that is down or busy (4xx, no connection, a timeout) after 30 s, 1, 2, 4, 8 minutes,
and give up on a message the server refuses for good (5xx).

A message says only "You have a new reminder" (staff: "New alert in IOP Companion") and holds
a link into the app: no name, no exercise, session, group or anything anyone wrote. No log line
names an address.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime
from time import monotonic

from flask import current_app
from flask_mailman import EmailMessage
from sqlmodel import Session, col, select

from iop_pwa import mail
from iop_pwa.accounts.models import ParticipantStatus, User
from iop_pwa.push import delivery, preferences
from iop_pwa.push.delivery import BATCH, Result, Task, send_deadline
from iop_pwa.push.models import Delivery, SendResult

log = logging.getLogger(__name__)

SUBJECT = "You have a new reminder"
ALERT_SUBJECT = "New alert in IOP Companion"


def subject(category: str) -> str:
    return ALERT_SUBJECT if category == "alerts" else SUBJECT


def body(category: str, link: str, account_link: str) -> str:
    """The whole message: generic words, a link into the app, and how to stop these emails."""
    first = (
        "There is a new alert in IOP Companion."
        if category == "alerts"
        else "You have a new reminder in IOP Companion."
    )
    return (
        f"{first}\n\n"
        f"Open the app to see it:\n{link}\n\n"
        "You get these emails because you chose email reminders. To change how reminders "
        f"reach you, open Account, Reminders:\n{account_link}\n"
    )


def _plan(db: Session, ids: list[int], now: datetime) -> tuple[dict[int, str], list[Task]]:
    deliveries = list(db.exec(select(Delivery).where(col(Delivery.id).in_(ids))))
    user_ids = {d.user_id for d in deliveries}
    people = {u.id: u for u in db.exec(select(User).where(col(User.id).in_(user_ids)))}
    prefs = preferences.Cache(db, user_ids)
    mail_on = mail.enabled()
    if not mail_on:  # switched off since these were queued (new reminders go by push)
        return {d.id: "off" for d in deliveries}, []
    account = mail.public_url("accounts.account") + "#reminders"
    base = current_app.config["PUBLIC_URL"]
    decided: dict[int, str] = {}
    already = set(
        db.exec(
            select(SendResult.delivery_id).where(
                col(SendResult.delivery_id).in_(ids), SendResult.outcome == "sent"
            )
        ).all()
    )
    # A Task's fields carry a message: `endpoint` is the address, `payload` the body and
    # `headers` the subject; there is no device.
    tasks: list[Task] = []
    for d in deliveries:
        person = people.get(d.user_id)
        if d.id in already:
            decided[d.id] = "sent"  # sent before the worker that claimed it died
        elif person is None or person.status == ParticipantStatus.deactivated:
            decided[d.id] = "withdrawn"
        elif d.expires_at is not None and d.expires_at <= now:
            decided[d.id] = "expired"
        elif not prefs.wants(d.user_id, d.category):
            decided[d.id] = "off"
        elif "email" not in prefs.channels(d.user_id, mail_on):
            decided[d.id] = "off"  # mail went away, or the person chose push only since
        elif not person.email:
            decided[d.id] = "no_device"
        else:
            text = body(d.category, base + d.url, account)
            tasks.append(
                Task(d.id, None, person.email, "", "", text, {"subject": subject(d.category)}, 0)
            )
    return decided, tasks


def _send_all(tasks: list[Task], deadline: float, on_result=None) -> list[Result]:
    """Send each message over one connection, in order. A mail server that cannot be reached
    stops the round (one timeout per round, not one per message): the rest wait for the next.
    `on_result` is called with each message's result as soon as it is known."""
    connection = mail.mail.get_connection(fail_silently=False)
    results: list[Result] = []
    reachable = True
    try:
        for task in tasks:
            if not reachable or monotonic() + float(connection.timeout or 10) > deadline:
                results.append(Result(task, None, "not_tried"))
                continue
            message = EmailMessage(
                subject=task.headers["subject"],
                body=task.payload,
                to=[task.endpoint],
                connection=connection,
            )
            try:
                connection.open()
                message.send()
                results.append(Result(task, 250, "sent"))
                if on_result is not None:
                    on_result(results[-1])
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _text in exc.recipients.values()]
                code = codes[0] if codes else None
                outcome = "retry" if code is not None and 400 <= code < 500 else "rejected"
                results.append(Result(task, code, outcome))
            except smtplib.SMTPResponseException as exc:
                outcome = "retry" if 400 <= exc.smtp_code < 500 else "rejected"
                if isinstance(exc, smtplib.SMTPAuthenticationError):
                    log.error("push email: the mail server refused our credentials (SMTP_URL)")
                results.append(Result(task, exc.smtp_code, outcome))
                _close(connection)
            except TimeoutError:
                results.append(Result(task, None, "timeout"))
                reachable = False
            except (smtplib.SMTPException, OSError) as exc:
                # The type only: an SMTP error's text can name the recipient.
                log.warning("push email: a send failed: %s", type(exc).__name__)
                results.append(Result(task, None, "error"))
                reachable = False
    finally:
        _close(connection)
    return results


def _close(connection) -> None:
    try:
        connection.close()
    except (smtplib.SMTPException, OSError):
        connection.connection = None


def send(db: Session, now: datetime, *, limit: int = BATCH) -> int:
    """The worker's email job: claim due email deliveries, commit the claim, send, record
    (committed by the worker). Returns how many messages went."""
    token, ids = delivery.claim(db, now, limit=limit, channel="email")
    db.commit()  # the claim must be visible to other workers before anything is sent
    if not ids:
        return 0
    started = monotonic()
    decided, tasks = _plan(db, ids, now)
    users = {
        delivery_id: user_id
        for delivery_id, user_id in db.exec(
            select(Delivery.id, Delivery.user_id).where(col(Delivery.id).in_(ids))
        ).all()
    }
    db.commit()  # no transaction stays open while we wait on the mail server

    def save(result: Result) -> None:
        """A message sent is on record at once: a worker killed mid-round leaves no doubt
        about it, and the worker that takes over its claims does not send it again."""
        delivery.save_results(db, [result], users=users, now=now, channel="email")
        db.commit()

    results = _send_all(tasks, send_deadline(started), on_result=save) if tasks else []
    unsaved = [r for r in results if r.outcome != "sent"]
    delivery.save_results(db, unsaved, users=users, now=now, channel="email")
    return delivery.record(
        db,
        ids=ids,
        decided=decided,
        results=results,
        token=token,
        now=now,
        channel="email",
        saved=True,
    )
