"""Practice's parts of the therapist's dashboard: practice done in the last 7 days per row,
completions with their reflections on the timeline, and "Assign practice"."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import url_for
from flask_login import current_user
from sqlmodel import Session, col, select

from iop_pwa.accounts.models import ParticipantStatus, User
from iop_pwa.features import Fact, TimelineEntry
from iop_pwa.practice.models import Assignment, Completion, Exercise
from iop_pwa.practice.policies import ASSIGNMENT
from iop_pwa.practice.services import reflection_answers
from iop_pwa.web import local_today

WEEK = 7


def week_facts(*, db: Session, participants: list[User], now: datetime) -> dict[int, Fact]:
    """How many practices each participant marked done for their last 7 days: one query."""
    since = now.date() - timedelta(days=WEEK + 1)  # the earliest anyone's week can start
    todays = {p.id: local_today(p.timezone) for p in participants}
    counts = dict.fromkeys(todays, 0)
    for participant_id, day in db.exec(
        select(Completion.participant_id, Completion.local_date).where(
            col(Completion.participant_id).in_(list(todays)), Completion.local_date >= since
        )
    ):
        today = todays[participant_id]
        if today - timedelta(days=WEEK - 1) <= day <= today:
            counts[participant_id] += 1
    return {
        pid: Fact("None done" if n == 0 else f"{n} done" if n > 1 else "1 done")
        for pid, n in counts.items()
    }


def timeline(*, db: Session, person: User, before: datetime, limit: int) -> list[TimelineEntry]:
    """Completions with their reflections, newest first: one query. Each links to its
    assignment's page where the reader may open it (ASSIGNMENT, asked in the same query: a
    group's practice opens for its facilitators only)."""
    opens = ASSIGNMENT.where(current_user).label("opens")
    rows = db.exec(
        select(Completion, Exercise.title, opens)
        .join(Assignment, col(Assignment.id) == Completion.assignment_id)
        .join(Exercise, col(Exercise.id) == Assignment.exercise_id)
        .where(Completion.participant_id == person.id, Completion.done_at < before)
        .order_by(col(Completion.done_at).desc(), col(Completion.id).desc())
        .limit(limit)
    ).all()
    return [
        TimelineEntry(
            at=c.done_at,
            kind="practice",
            key=f"completion:{c.id}",
            title=f"Practised {title}" + (" (filled in later)" if c.late else ""),
            detail=_reflection_words(c),
            url=url_for("library.manage_assignment", assignment_id=c.assignment_id)
            if may_open
            else None,
        )
        for c, title, may_open in rows
    ]


def _reflection_words(completion: Completion) -> str:
    """The reflection as the participant answered it, a question and its answer a line (it is
    stored as JSON: [{"question": ..., "answer": ...}])."""
    lines = []
    for item in reflection_answers(completion):
        if isinstance(item, dict) and str(item.get("answer", "")).strip():
            question = str(item.get("question", "")).strip()
            answer = str(item["answer"]).strip()
            lines.append(f"{question} {answer}" if question else answer)
    return "\n".join(lines)


def assign_url(*, db: Session, person: User) -> str | None:
    """Assigning starts from the Library; only someone in the program gets new practice."""
    if person.status != ParticipantStatus.active:
        return None
    return url_for("library.index")
