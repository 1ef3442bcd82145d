"""Failed sign-ins, counted in the database so every web process and machine sees the same count.

Three counters, each "N failures per window" (the SIGN_IN_LIMIT_* settings):

- per account *and* address (the tightest): someone mistyping on their own phone, or a person
  guessing one account's password from one place;
- per account, from every address (looser): one account's password guessed from many places;
- per address, for every account: one place guessing many people's passwords.

Once a counter holds N failures, its key waits: SIGN_IN_FIRST_WAIT after the last failure,
doubling with each further failure up to SIGN_IN_MAX_WAIT, and never longer than it takes enough
failures to leave the window. There is no lock. A refused attempt is neither checked nor counted,
so hammering during a wait does not lengthen it. Someone who knows a participant's email and tries
it from elsewhere fills their own (account, address) counter, not the owner's, so the owner signing
in from their own phone is not held up; only a guesser using many addresses reaches the looser
per-account counter, and that delays the owner by at most SIGN_IN_MAX_WAIT.

No email or address is stored or logged: keys are HMAC-SHA256 of the normalised email (and of
the address; an IPv6 address counts as its /64, which one household or phone usually holds),
keyed with SECRET_KEY, so a copy of the table or of a log line cannot be matched to a list of
emails. Check and record are two statements, not one: requests in flight at the same moment can
each get through, which the next check then counts.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlmodel import Session, col, delete, or_, select

from iop_pwa.accounts.models import SignInFailure
from iop_pwa.accounts.services import normalize_email
from iop_pwa.config import parse_limit
from iop_pwa.db import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A sign-in refused for now: how long until the next try is allowed, and by which counter."""

    retry_after: timedelta
    counter: str

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after.total_seconds() / 60))

    @property
    def message(self) -> str:
        wait = "1 minute" if self.minutes == 1 else f"{self.minutes} minutes"
        return f"Too many tries. Please wait {wait} and try again."


def _digest(kind: str, value: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def account_key(email: str) -> str:
    """The key of one account in counters and logs (never the email itself)."""
    return _digest("account", normalize_email(email))


def address_key(address: str | None) -> str:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return _digest("address", address or "unknown")
    if ip.version == 6:
        ip = ip.ipv4_mapped or ipaddress.ip_network(f"{ip}/64", strict=False)
    return _digest("address", str(ip))


def _counters() -> dict[str, tuple[int, timedelta]]:
    cfg = current_app.config
    return {
        "account_and_address": parse_limit(cfg["SIGN_IN_LIMIT_PER_ACCOUNT_AND_ADDRESS"]),
        "account": parse_limit(cfg["SIGN_IN_LIMIT_PER_ACCOUNT"]),
        "address": parse_limit(cfg["SIGN_IN_LIMIT_PER_ADDRESS"]),
    }


def _longest_window() -> timedelta:
    return max(window for _, window in _counters().values())


def _next_try(times: list[datetime], limit: int, window: timedelta) -> datetime | None:
    """When this counter allows the next try, or None if it allows one now (times: ascending)."""
    extra = len(times) - limit
    if extra < 0:
        return None
    cfg = current_app.config
    wait = min(cfg["SIGN_IN_FIRST_WAIT"] * 2 ** min(extra, 20), cfg["SIGN_IN_MAX_WAIT"])
    # ...or sooner, once enough failures have left the window to be under the limit again.
    return min(times[-1] + wait, times[extra] + window)


def check(db: Session, *, email: str, address: str | None) -> Refusal | None:
    """A refusal if this account, address or pair must wait before the next try; else None."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return None
    now = utcnow()
    account, place = account_key(email), address_key(address)
    rows = db.exec(
        select(SignInFailure.account_key, SignInFailure.address_key, SignInFailure.failed_at)
        .where(
            or_(col(SignInFailure.account_key) == account, col(SignInFailure.address_key) == place),
            col(SignInFailure.failed_at) > now - _longest_window(),
        )
        .order_by(col(SignInFailure.failed_at))
    ).all()
    matches = {
        "account_and_address": lambda r: r.account_key == account and r.address_key == place,
        "account": lambda r: r.account_key == account,
        "address": lambda r: r.address_key == place,
    }
    refusal = None
    for counter, (limit, window) in _counters().items():
        times = [r.failed_at for r in rows if matches[counter](r) and r.failed_at > now - window]
        next_try = _next_try(times, limit, window)
        if next_try is not None and next_try > now:
            if refusal is None or next_try - now > refusal.retry_after:
                refusal = Refusal(retry_after=next_try - now, counter=counter)
    if refusal is not None:
        log.info(
            "sign-in refused: too many failures (%s counter, account %s), next try in %ss",
            refusal.counter,
            account[:12],
            int(refusal.retry_after.total_seconds()),
        )
    return refusal


def record_failure(db: Session, *, email: str, address: str | None) -> None:
    """Count a failed sign-in, and drop failures too old to count for anything."""
    now = utcnow()
    db.add(
        SignInFailure(
            account_key=account_key(email), address_key=address_key(address), failed_at=now
        )
    )
    prune(db, now)


def clear(db: Session, *, email: str, address: str | None) -> None:
    """A successful sign-in forgets the failures of this account from this address."""
    db.exec(
        delete(SignInFailure).where(
            col(SignInFailure.account_key) == account_key(email),
            col(SignInFailure.address_key) == address_key(address),
        )
    )


def prune(db: Session, now: datetime | None = None) -> int:
    """Delete failures older than the longest window (also run by the worker)."""
    cutoff = (now or utcnow()) - _longest_window()
    return db.exec(delete(SignInFailure).where(col(SignInFailure.failed_at) <= cutoff)).rowcount
