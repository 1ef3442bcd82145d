"""Staff's second factor: an authenticator app (TOTP with pyotp) and ten single-use recovery
codes; a passkey (`passkeys`) counts too. Also the short-lived "confirm it's you" stamp that the
most sensitive actions ask for.

A therapist's password opens a whole caseload's records, so staff sign in with two factors
(OWASP ASVS 5.0 level 2). Services take the session and never commit (the caller does).
"""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime, timedelta

import pyotp
from flask import current_app
from sqlmodel import Session, col, delete, func, select

from iop_pwa.accounts.models import LoginSession, Passkey, RecoveryCode, TotpFactor, User
from iop_pwa.accounts.passwords import hash_password, verify_password
from iop_pwa.db import utcnow

ISSUER = "IOP Companion"
RECOVERY_CODES = 10
STEP_SECONDS = 30
# A recovery code: 10 characters of an alphabet without look-alikes, shown as two halves.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def confirmed_totp(db: Session, user: User) -> TotpFactor | None:
    return db.exec(
        select(TotpFactor).where(
            TotpFactor.user_id == user.id, col(TotpFactor.confirmed_at).is_not(None)
        )
    ).first()


def has_passkey(db: Session, user: User) -> bool:
    return db.exec(select(func.count()).where(Passkey.user_id == user.id)).one() > 0


def is_enrolled(db: Session, user: User) -> bool:
    """Whether `user` has a second factor: a confirmed authenticator app or a passkey."""
    return confirmed_totp(db, user) is not None or has_passkey(db, user)


def needs_second_factor(user: User) -> bool:
    """Staff sign in with two factors; a participant's password (or passkey) is enough."""
    return user.is_staff


# --- Authenticator app ---------------------------------------------------------------------------


def start_totp(db: Session, *, user: User) -> TotpFactor:
    """The unconfirmed secret for the set-up page, made once (a reload shows the same QR code).
    A confirmed app, if any, stays in force until a code from the new one is accepted."""
    pending = db.exec(
        select(TotpFactor).where(
            TotpFactor.user_id == user.id, col(TotpFactor.confirmed_at).is_(None)
        )
    ).first()
    if pending is not None:
        return pending
    factor = TotpFactor(user_id=user.id, secret=pyotp.random_base32())
    db.add(factor)
    db.flush()
    return factor


def drop_unconfirmed_totp(db: Session, *, user: User) -> None:
    """Forget the set-up page's app secret that was never confirmed (a passkey was chosen)."""
    db.exec(
        delete(TotpFactor).where(
            TotpFactor.user_id == user.id, col(TotpFactor.confirmed_at).is_(None)
        )
    )


def provisioning_uri(factor: TotpFactor, user: User) -> str:
    """The otpauth:// URI the QR code holds (the app shows the issuer and the email)."""
    return pyotp.TOTP(factor.secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def grouped_secret(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _clean_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def check_totp(factor: TotpFactor, code: str, now: datetime | None = None) -> int | None:
    """The time step `code` belongs to, if it is the app's code for now (give or take
    TOTP_VALID_WINDOW steps, for a phone's clock) and newer than the last code used; else None.
    A code is never accepted twice."""
    code = _clean_code(code)
    if not re.fullmatch(r"\d{6}", code) or not factor.secret:  # "": sealed under another key
        return None
    now = now or utcnow()
    totp = pyotp.TOTP(factor.secret)
    window = current_app.config["TOTP_VALID_WINDOW"]
    current = _step(now)
    for step in range(current - window, current + window + 1):
        if factor.last_step is not None and step <= factor.last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def use_totp(db: Session, *, factor: TotpFactor, code: str, now: datetime | None = None) -> bool:
    """Accept `code` for `factor` (and remember its step, so it cannot be used again)."""
    step = check_totp(factor, code, now)
    if step is None:
        return False
    factor.last_step = step
    db.add(factor)
    return True


def confirm_totp(db: Session, *, user: User, factor: TotpFactor, code: str) -> bool:
    """The first code from a newly scanned app: it becomes the person's authenticator app (any
    older one is replaced)."""
    step = check_totp(factor, code)
    if step is None:
        return False
    db.exec(
        delete(TotpFactor).where(
            col(TotpFactor.user_id) == user.id, col(TotpFactor.id) != factor.id
        )
    )
    factor.last_step = step
    factor.confirmed_at = utcnow()
    db.add(factor)
    return True


# --- Recovery codes ----------------------------------------------------------------------------


def new_recovery_codes(db: Session, *, user: User) -> list[str]:
    """Ten new single-use codes (the old ones stop working). Only hashes are stored: the codes
    are shown once, now."""
    db.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.add(RecoveryCode(user_id=user.id, code_hash=hash_password(raw)))
    return codes


def use_recovery_code(db: Session, *, user: User, code: str) -> bool:
    """Accept one of the person's unused recovery codes, once."""
    code = _clean_code(code)
    if not re.fullmatch(f"[{_RECOVERY_ALPHABET}]{{10}}", code):
        return False
    unused = db.exec(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None)
        )
    ).all()
    for row in unused:
        if verify_password(row.code_hash, code):
            row.used_at = utcnow()
            db.add(row)
            return True
    return False


def recovery_codes_left(db: Session, user: User) -> int:
    return db.exec(
        select(func.count()).where(
            RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None)
        )
    ).one()


def use_code(db: Session, *, user: User, code: str) -> str | None:
    """A code typed on the second-factor page: the app's code or a recovery code. Returns which
    ("app" or "recovery code"), or None when it is neither."""
    factor = confirmed_totp(db, user)
    if factor is not None and use_totp(db, factor=factor, code=code):
        return "app"
    if use_recovery_code(db, user=user, code=code):
        return "recovery code"
    return None


def reset(db: Session, *, user: User) -> None:
    """An admin's reset: the app, the recovery codes and the passkeys go; the person sets a
    second factor up again at their next sign-in."""
    for table in (TotpFactor, RecoveryCode, Passkey):
        db.exec(delete(table).where(col(table.user_id) == user.id))


# --- "Confirm it's you" --------------------------------------------------------------------------


def recently_confirmed(login: LoginSession | None, now: datetime | None = None) -> bool:
    """Whether this session's person proved it was them in the last few minutes."""
    if login is None or login.confirmed_at is None:
        return False
    limit: timedelta = current_app.config["RECENT_AUTH_WINDOW"]
    return (now or utcnow()) - login.confirmed_at <= limit


def recently_confirmed_factor(login: LoginSession | None, now: datetime | None = None) -> bool:
    """Whether this session's person proved it with their second factor in the last few
    minutes (a staff sign-in, or "Confirm it's you" with a code or a passkey)."""
    if login is None or login.factor_confirmed_at is None:
        return False
    limit: timedelta = current_app.config["RECENT_AUTH_WINDOW"]
    return (now or utcnow()) - login.factor_confirmed_at <= limit


def stamp_confirmed(db: Session, login: LoginSession, *, factor: bool = False) -> None:
    """ "Confirm it's you" succeeded (`factor`: with the second factor or a passkey)."""
    login.confirmed_at = utcnow()
    if factor:
        login.factor_confirmed_at = login.confirmed_at
    db.add(login)


def factor_guards_changes(db: Session, user: User) -> bool:
    """Whether changing `user`'s second factor (a passkey, the app, recovery codes) takes the
    current one: staff who have one. A participant's password signs them in on its own, so a
    passkey gives no more than the password does: for them the password is enough."""
    return needs_second_factor(user) and is_enrolled(db, user)


# --- Telling the person ------------------------------------------------------------------------

# What changed, in generic words (the in-app notification; the mail says less).
CHANGES = {
    "passkey_added": "a passkey was added",
    "passkey_removed": "a passkey was removed",
    "app_changed": "a new authenticator app was set up",
    "recovery_codes_made": "new recovery codes were made",
}
NOTIFICATION_KIND = "sign_in_changed"


def tell_changed(db: Session, *, user: User, change: str) -> None:
    """Tell the person their way of signing in changed: an in-app notification, and a mail
    where mail is set up (queued for the worker; it holds no code or key), so a change they did
    not make does not go unnoticed."""
    from iop_pwa import mail
    from iop_pwa.notifications import notify

    notify(
        db,
        user_id=user.id,
        kind=NOTIFICATION_KIND,
        text=f"Your sign-in changed: {CHANGES[change]}. If this wasn't you, tell your "
        "program's admin now.",
    )
    if mail.enabled():
        mail.queue(db, purpose="sign_in_changed", user_id=user.id)
