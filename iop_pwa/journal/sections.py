"""The journal's parts of other pages: the check-in on Today, shared entries for the therapist."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from iop_pwa.accounts.models import User
from iop_pwa.journal import services
from iop_pwa.journal.forms import CheckinForm


def today(*, db: Session, person: User, now: datetime) -> dict:
    return {
        "checkin_form": CheckinForm(),
        "checked_in": services.latest_checkin(db, user=person, day=now.date()),
    }


def participant_page(*, db: Session, person: User) -> dict:
    return {"person": person, "shared": services.shared_entries(db, participant_id=person.id)}
