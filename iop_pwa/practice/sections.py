"""Practice's parts of other pages: Today's practice, and the therapist's view of a
participant's practice. Each runs a fixed number of queries however much history there is."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_login import current_user
from sqlmodel import Session, col, select

from iop_pwa.accounts.models import ParticipantStatus, User
from iop_pwa.practice import services
from iop_pwa.practice.forms import FeedbackForm, pending_key
from iop_pwa.practice.models import Assignment
from iop_pwa.practice.policies import ASSIGNMENT
from iop_pwa.web import local_today


def today(*, db: Session, person: User, now: datetime) -> dict:
    day = now.date()
    pairs = services.assignments_for(db, participant=person)
    done = services.done_days(db, participant_id=person.id, start=day - timedelta(days=90), end=day)
    return {
        "due": services.due_on(pairs, done, day),
        "assigned": bool(pairs),
        "alumni": person.status == ParticipantStatus.alumni,
        "streak": services.streak(pairs, done, day),
        "week": services.this_week(pairs, done, day),
        "pending_key": lambda assignment_id: pending_key(assignment_id, day),
    }


def participant_page(*, db: Session, person: User) -> dict:
    """Assignments with completion over 7 and 28 days, and recent completions with reflections
    and a feedback form."""
    day = local_today(person.timezone)
    pairs = services.assignments_for(db, participant=person, include_ended=True)
    done = services.completions_for(
        db, participant_id=person.id, start=day - timedelta(days=27), end=day
    )
    recent = sorted(done.values(), key=lambda c: (c.local_date, c.id), reverse=True)[:10]
    return {
        "person": person,
        "summaries": services.summaries(pairs, done, day),
        # The assignments whose page the therapist may open (ASSIGNMENT; a group's: its
        # facilitators), one query: the others are shown, as the person's practice, unlinked.
        "managed": set(
            db.exec(
                select(Assignment.id).where(
                    col(Assignment.id).in_([p.assignment.id for p in pairs]),
                    ASSIGNMENT.where(current_user),
                )
            )
        )
        if pairs
        else set(),
        "completions": recent,
        "titles": {p.assignment.id: p.exercise.title for p in pairs},
        "feedback": services.feedback_for(db, [c.id for c in recent]),
        "answers": services.reflection_answers,
        "feedback_form": FeedbackForm(),
    }
