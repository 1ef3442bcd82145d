"""The journal's parts of other pages: the check-in on Today; for the therapist, mood check-ins
and the entries the participant shared."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from iop_pwa.accounts.models import User
from iop_pwa.journal import charts, services
from iop_pwa.journal.forms import CheckinForm
from iop_pwa.journal.models import MOODS
from iop_pwa.web import local_today

MOOD_DAYS = 30  # the therapist's view of mood check-ins


def today(*, db: Session, person: User, now: datetime) -> dict:
    return {
        "checkin_form": CheckinForm(),
        "checked_in": services.latest_checkin(db, user=person, day=now.date()),
    }


def participant_page(*, db: Session, person: User) -> dict:
    """Mood over the last 30 days from check-ins (and shared entries), as a chart and a table,
    and the shared entries. A private entry's mood is never counted: the privacy notice promises
    the care team check-ins and shared entries only. Two queries."""
    series = services.mood_days(
        db, user=person, today=local_today(person.timezone), days=MOOD_DAYS, care_team=True
    )
    recorded = [d for d in series if d.mood is not None]
    average = sum(d.mood for d in recorded) / len(recorded) if recorded else None
    return {
        "person": person,
        "shared": services.shared_entries(db, participant_id=person.id),
        "mood_days": MOOD_DAYS,
        "mood_recorded": recorded,
        "mood_average": average,
        "mood_chart": charts.mood_chart(series) if recorded else None,
        "moods": MOODS,
    }
