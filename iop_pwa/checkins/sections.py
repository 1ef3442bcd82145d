"""Check-ins on other pages: what is due on Today, a link on Account, and for the therapist the
schedules, the scheduling form and the scores on the participant's page. Each runs a fixed
number of queries however many answers there are."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from iop_pwa.accounts.models import User
from iop_pwa.checkins import charts, services
from iop_pwa.checkins.forms import StopForm
from iop_pwa.checkins.staff_views import schedule_form


def today(*, db: Session, person: User, now: datetime) -> dict | None:
    """What is due now ("Check-in due: PHQ-9"), or when the next check-in is, and a link to
    the scores; nothing for someone who is asked no check-in."""
    plans = services.plans_for(db, person, now.date())
    if not plans:
        return None
    upcoming = [p.next_on for p in plans if p.next_on]
    return {"due": [p for p in plans if p.due], "next_on": min(upcoming) if upcoming else None}


def account(*, db: Session, person: User) -> dict | None:
    return {} if person.is_participant else None


def participant_page(*, db: Session, person: User) -> dict:
    series = services.history(db, participant_id=person.id)
    return {
        "person": person,
        "alumnus": services.is_alumnus(person),
        "schedules": services.schedules_of(db, participant_id=person.id),
        "form": schedule_form(),
        "stop_form": StopForm(),
        "series": series,
        "charts": {
            s.questionnaire.id: charts.score_chart(s, f"staff-chart-{s.questionnaire.id}")
            for s in series
        },
    }
