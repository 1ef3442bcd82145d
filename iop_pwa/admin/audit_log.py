"""Reading the audit log (Admin → Audit log): filters by who, whose record, what and when, newest
first (by time, then id), a fixed page size with keyset paging (`before` the last row's id), and
the people's names resolved in the same query. A page is two queries whatever the log's size:
the rows and the kinds of event for the filter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import aliased
from sqlmodel import Session, and_, col, func, or_, select

from iop_pwa.accounts.models import User
from iop_pwa.audit import AuditEvent

PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    who: str = ""
    whom: str = ""
    what: str = ""
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class Row:
    event: AuditEvent
    actor: str | None  # the name, or None: nobody signed in / a deleted account
    subject: str | None

    @property
    def actor_words(self) -> str:
        if self.actor is not None:
            return self.actor
        return "Nobody signed in" if self.event.actor_id is None else "A deleted account"

    @property
    def subject_words(self) -> str:
        if self.subject is not None:
            return self.subject
        return "" if self.event.subject_id is None else "A deleted account"


def _matches(person, term: str):
    term = term.strip().lower()
    return or_(
        func.lower(person.name).contains(term, autoescape=True),
        func.lower(person.email).contains(term, autoescape=True),
    )


def _start_of(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))


def page(
    db: Session, *, filters: Filters, before: int | None, timezone: str
) -> tuple[list[Row], int | None]:
    """A page of the log, newest first, and the id to ask `before` for the next (older) page
    (None on the last page). Dates are the reader's calendar days, both ends included."""
    actor, subject = aliased(User), aliased(User)
    query = (
        select(AuditEvent, actor.name, subject.name)
        .outerjoin(actor, col(actor.id) == AuditEvent.actor_id)
        .outerjoin(subject, col(subject.id) == AuditEvent.subject_id)
    )
    if filters.who.strip():
        query = query.where(_matches(actor, filters.who))
    if filters.whom.strip():
        query = query.where(_matches(subject, filters.whom))
    if filters.what:
        query = query.where(AuditEvent.action == filters.what)
    if filters.since:
        query = query.where(AuditEvent.at >= _start_of(filters.since, timezone))
    if filters.until:
        query = query.where(AuditEvent.at < _start_of(filters.until + timedelta(days=1), timezone))
    if before:
        # Keyset on (at, id), the page's order: rows older than the last one shown. Its time
        # comes from a subquery, so the cursor is just an id and the page stays one query.
        then = select(AuditEvent.at).where(AuditEvent.id == before).scalar_subquery()
        query = query.where(
            or_(
                col(AuditEvent.at) < then,
                and_(col(AuditEvent.at) == then, col(AuditEvent.id) < before),
            )
        )
    newest_first = (col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    found = db.exec(query.order_by(*newest_first).limit(PAGE_SIZE + 1)).all()
    rows = [Row(event, a, s) for event, a, s in found[:PAGE_SIZE]]
    older = rows[-1].event.id if len(found) > PAGE_SIZE else None
    return rows, older


def kinds(db: Session) -> list[str]:
    """Every kind of event in the log, for the "What" filter (one query)."""
    return list(db.exec(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))


# How the page names an event; anything else shows its machine name with spaces.
WORDS = {
    "access_denied": "Refused access",
    "staff_read": "Staff read a record",
    "sign_in": "Signed in",
    "sign_in_failed": "Failed sign-in",
    "participant_discharged": "Discharged to alumni",
    "participant_readmitted": "Re-admitted to the program",
    "participant_deactivated": "Account deactivated",
    "participant_reactivated": "Account reactivated",
    "audit_log_read": "Read the audit log",
    "second_factor_failed": "Failed second factor",
    "second_factor_set_up": "Set up a second factor",
    "second_factor_reset": "Second factor reset by an admin",
    "recovery_codes_made": "Made new recovery codes",
    "reauthenticated": "Confirmed it was them",
    "reauthentication_failed": "Failed to confirm it was them",
    "passkey_added": "Added a passkey",
    "passkey_removed": "Removed a passkey",
}


def words(action: str) -> str:
    return WORDS.get(action) or action.replace("_", " ").capitalize()
