"""Mail, sent by the worker from a queue (`mail_outbox`), through Flask-Mailman over SMTP.

A request never talks to a mail server: it queues a row that says what to send (a sign-in link
for a person, an invitation's link) and the worker sends it on its next round. The row holds no
address, name, link or text. The worker makes the link when it sends it (only its hash is
stored, as for every link), so nothing in the queue can be used or read if the database leaks,
and "Forgot your password?" takes the same steps whether or not the email has an account.

Mail is set up with `SMTP_URL` and `MAIL_FROM` (see `config.mail_settings`); without them nothing
is queued or sent. Messages hold a link and plain words, never health information, and no log
line names an address or holds a link.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from flask import Flask, current_app
from flask_mailman import EmailMessage, Mail
from flask_mailman.backends import smtp
from sqlmodel import Field, Session, SQLModel, col, delete, select

from iop_pwa.db import UTCDateTime, utcnow

log = logging.getLogger(__name__)

mail = Mail()

# A queued message that could not be sent is tried again after 2, 4, 8... minutes, and dropped
# after this many tries or once it is a day old (its link would be of little use by then).
MAX_ATTEMPTS = 8
GIVE_UP_AFTER = timedelta(days=1)
BATCH = 50


class QueuedMail(SQLModel, table=True):
    """A message the worker will send: what kind, and for whom (by id only)."""

    __tablename__ = "mail_outbox"

    id: int | None = Field(default=None, primary_key=True)
    purpose: str = Field(max_length=40)
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="CASCADE")
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attempts: int = 0
    next_try_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class _VerifyingSMTP(smtplib.SMTP):
    """smtplib's SMTP, except that STARTTLS checks the server's certificate and name.

    Flask-Mailman calls `starttls()` without a context, and smtplib's default context then
    checks nothing, so anyone on the path could read the links we send."""

    def starttls(self, *, context=None):
        return super().starttls(context=context or ssl.create_default_context())


class EmailBackend(smtp.EmailBackend):
    """Flask-Mailman's SMTP backend with verified STARTTLS (`smtps://` is verified already)."""

    @property
    def connection_class(self):
        return smtplib.SMTP_SSL if self.use_ssl else _VerifyingSMTP


def init_app(app: Flask) -> None:
    mail.init_app(app)


def enabled() -> bool:
    """Whether this program has set up mail (SMTP_URL and MAIL_FROM)."""
    return bool(current_app.config.get("MAIL_ENABLED"))


def queue(
    db: Session, *, purpose: str, user_id: int | None = None, invitation_id: int | None = None
) -> QueuedMail:
    """Ask the worker to send a message (committed with the request)."""
    row = QueuedMail(purpose=purpose, user_id=user_id, invitation_id=invitation_id)
    db.add(row)
    return row


def public_url(endpoint: str, **values) -> str:
    """An absolute link for a message, always on PUBLIC_URL (the worker has no request, and a
    request's Host header is whatever its sender typed)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["PUBLIC_URL"] + path


def send(*, to: str, subject: str, body: str) -> None:
    """Send one plain-text message now (raises if the server refuses it or can't be reached)."""
    EmailMessage(subject=subject, body=body, to=[to]).send()


# compose(db, row, send) sends the row's message with `send` and returns True, or returns False
# to drop a row that has nothing (left) to send; if `send` raises, it undoes what it wrote.
Composer = Callable[[Session, QueuedMail, Callable[..., None]], bool]


def deliver(db: Session, now: datetime, composers: Mapping[str, Composer]) -> int:
    """The worker's job: send what is due, oldest first; returns how many were sent.

    A message that fails stays queued and is tried again later; the round stops there, so a
    mail server that is down costs one timeout per round, not one per message."""
    gone = db.exec(
        delete(QueuedMail).where(
            (col(QueuedMail.created_at) < now - GIVE_UP_AFTER)
            | (col(QueuedMail.attempts) >= MAX_ATTEMPTS)
        )
    ).rowcount
    if gone:
        log.warning("mail outbox: dropped %d messages that could not be sent in time", gone)
    if not enabled():
        return 0
    rows = db.exec(
        select(QueuedMail)
        .where(col(QueuedMail.next_try_at) <= now)
        .order_by(col(QueuedMail.id))
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for row in rows:
        compose = composers.get(row.purpose)
        try:
            if compose is not None and compose(db, row, send):
                sent += 1
        except Exception as exc:
            row.attempts += 1
            row.next_try_at = now + timedelta(minutes=2**row.attempts)
            db.add(row)
            # The type only: an SMTP error's text can name the recipient.
            log.warning(
                "mail outbox: a %s message was not sent (try %d): %s",
                row.purpose,
                row.attempts,
                type(exc).__name__,
            )
            break
        db.delete(row)
    return sent
