"""Sign-in links: the way back in after a forgotten password.

A therapist makes one on a participant's page (a link and a QR code, like an invitation), or,
where mail is set up, the person asks for one with "Forgot your password?" and the worker emails
it. Either way it works once, for SIGN_IN_LINK_HOURS: opening it lets the person choose a new
password, which ends every other session of theirs and signs them in on that device. Only the
token's hash is stored, and a new link for a person replaces the one before.

Also here: what the worker sends for the mail queue (`COMPOSERS`), which makes each link as it
sends it, so the queue never holds one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from sqlmodel import Session, col, delete, func, select

from iop_pwa import audit, mail
from iop_pwa.accounts import services
from iop_pwa.accounts.models import Invitation, SignInLink, User
from iop_pwa.accounts.sessions import token_hash
from iop_pwa.db import utcnow

# Self-service links mailed to one account per hour, whoever asks, from however many places
# (each ask from one address is limited in the view as well).
EMAILED_PER_HOUR = 3

SIGN_IN_SUBJECT = "Your link to sign in to IOP Companion"
INVITATION_SUBJECT = "Your link to join IOP Companion"


def valid_for() -> timedelta:
    return timedelta(hours=current_app.config["SIGN_IN_LINK_HOURS"])


def _new_link(db: Session, *, user: User, created_by: User | None) -> tuple[SignInLink, str]:
    token = secrets.token_urlsafe(24)
    link = SignInLink(
        user_id=user.id,
        token_hash=token_hash(token),
        created_by_id=created_by.id if created_by else None,
        expires_at=utcnow() + valid_for(),
    )
    db.add(link)
    db.flush()
    return link, token


def drop_links(db: Session, *, user_id: int, keep: SignInLink | None = None) -> None:
    """End the person's open sign-in links (all but `keep`)."""
    stmt = delete(SignInLink).where(col(SignInLink.user_id) == user_id)
    if keep is not None:
        stmt = stmt.where(col(SignInLink.id) != keep.id)
    db.exec(stmt)


def create_link(db: Session, *, user: User, created_by: User | None) -> tuple[SignInLink, str]:
    """A new link for `user`, replacing any before it; returns it with the raw token (shown
    once, never stored). The caller has checked that `created_by` may do this."""
    link, token = _new_link(db, user=user, created_by=created_by)
    drop_links(db, user_id=user.id, keep=link)
    return link, token


def find_open_link(db: Session, token: str) -> tuple[SignInLink, User] | None:
    """The link for this token and its person, if it is unused, unexpired and the account may
    still sign in."""
    found = db.exec(
        select(SignInLink, User)
        .join(User, col(User.id) == SignInLink.user_id)
        .where(SignInLink.token_hash == token_hash(token))
    ).first()
    if found is None:
        return None
    link, user = found
    if link.expires_at <= utcnow() or not user.is_active:
        return None
    return link, user


def use_link(db: Session, *, link: SignInLink, user: User, password: str) -> bool:
    """Spend the link on a new password: False if another request used it a moment ago.

    The link is claimed by one conditional DELETE, so of several requests posting it at once
    only one goes on (as with invitations). The caller ends the person's sessions and signs
    them in; on any error it rolls back, which also gives the link back."""
    claimed = db.exec(
        delete(SignInLink).where(
            col(SignInLink.id) == link.id, col(SignInLink.expires_at) > utcnow()
        )
    ).rowcount
    if claimed != 1:
        return False
    services.set_password(db, user=user, password=password)  # ends the person's other links
    return True


def prune(db: Session) -> int:
    """Delete links that have expired (run by the worker)."""
    return db.exec(delete(SignInLink).where(col(SignInLink.expires_at) <= utcnow())).rowcount


# --- Mail ---------------------------------------------------------------------------------------


def ask_by_email(db: Session, *, email: str) -> None:
    """For "Forgot your password?": queue a sign-in link for the account with this email, if
    there is one. The same statements run either way (one look-up, one row queued: for no account, a
    row the worker drops), so the answer's timing does not tell whether the email has one."""
    user = services.find_user_by_email(db, email)
    mail.queue(db, purpose="sign_in_link", user_id=user.id if user is not None else None)


def _within(hours: int) -> str:
    return "1 hour" if hours == 1 else f"{hours} hours"


def _emailed_lately(db: Session, user_id: int) -> int:
    return db.exec(
        select(func.count(audit.AuditEvent.id)).where(
            audit.AuditEvent.action == "sign_in_link_emailed",
            audit.AuditEvent.subject_id == user_id,
            audit.AuditEvent.at >= utcnow() - timedelta(hours=1),
        )
    ).one()


def mail_sign_in_link(db: Session, row: mail.QueuedMail, send: Callable[..., None]) -> bool:
    """Make a sign-in link and email it. Nothing goes to an email without an account, to a
    deactivated one, or past EMAILED_PER_HOUR. A link that could not be sent is deleted, and
    only a sent one replaces the person's earlier link."""
    user = db.get(User, row.user_id) if row.user_id is not None else None
    if user is None or not user.is_active or _emailed_lately(db, user.id) >= EMAILED_PER_HOUR:
        return False
    link, token = _new_link(db, user=user, created_by=None)
    body = (
        "Hello,\n\n"
        "Here is your link to sign in to IOP Companion:\n\n"
        f"{mail.public_url('accounts.use_sign_in_link', token=token)}\n\n"
        "It lets you choose a new password and signs you out on your other devices. It works\n"
        f"once, within {_within(current_app.config['SIGN_IN_LINK_HOURS'])}.\n\n"
        "If you did not ask for it, you can ignore this email: your password stays as it is.\n"
    )
    try:
        send(to=user.email, subject=SIGN_IN_SUBJECT, body=body)
    except Exception:
        db.delete(link)
        db.flush()
        raise
    drop_links(db, user_id=user.id, keep=link)
    audit.record(db, "sign_in_link_emailed", subject_id=user.id, object_type="user")
    return True


def mail_invitation(db: Session, row: mail.QueuedMail, send: Callable[..., None]) -> bool:
    """Email an open invitation a new link (the link shown to the therapist before stops
    working, as with "Make a new link"); if sending fails, the old link stays as it was."""
    invitation = db.get(Invitation, row.invitation_id) if row.invitation_id else None
    if invitation is None or not invitation.email or invitation.state(utcnow()) != "pending":
        return False
    before = (invitation.token_hash, invitation.expires_at)
    days = timedelta(days=current_app.config["INVITATION_DAYS"])
    token = services.renew_invitation_link(db, invitation=invitation, valid_for=days)
    body = (
        "Hello,\n\n"
        "Here is your link to set up your IOP Companion account:\n\n"
        f"{mail.public_url('accounts.accept_invitation', token=token)}\n\n"
        f"It works once, within {current_app.config['INVITATION_DAYS']} days.\n"
    )
    try:
        send(to=invitation.email, subject=INVITATION_SUBJECT, body=body)
    except Exception:
        invitation.token_hash, invitation.expires_at = before
        db.add(invitation)
        raise
    audit.record(db, "invitation_emailed", object_type="invitation", object_id=invitation.id)
    return True


SIGN_IN_CHANGED_SUBJECT = "Your IOP Companion sign-in was changed"


def mail_sign_in_changed(db: Session, row: mail.QueuedMail, send: Callable[..., None]) -> bool:
    """Tell a person that their second factor or a passkey changed, in general words (no code,
    no key, no device), with where to check it."""
    user = db.get(User, row.user_id) if row.user_id is not None else None
    if user is None or not user.is_active:
        return False
    body = (
        "Hello,\n\n"
        "The way you sign in to IOP Companion was just changed: a passkey, the authenticator\n"
        "app or the recovery codes.\n\n"
        "If you did this, there is nothing more to do. If you did not, tell your program's admin\n"
        "now, and check your account:\n\n"
        f"{mail.public_url('accounts.account')}\n"
    )
    send(to=user.email, subject=SIGN_IN_CHANGED_SUBJECT, body=body)
    return True


COMPOSERS: dict[str, mail.Composer] = {
    "sign_in_link": mail_sign_in_link,
    "invitation_link": mail_invitation,
    "sign_in_changed": mail_sign_in_changed,
}
