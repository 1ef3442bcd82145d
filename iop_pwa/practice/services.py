"""Practice services: schedules, Today's plan, streaks, marking done, assigning, feedback.

Keyword-only, typed, take the session and never commit. Every page's reads are a fixed number of
queries: assignments (with their exercises and the day the person joined the group) in one,
completions for a window in another.

A person's days start with them: a group's assignment is due for a member from the day they joined
the group (their local date), never before, so a newcomer is not behind on their first day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, and_, col, or_, select

from iop_pwa import access, audit, dates
from iop_pwa.accounts.models import Group, GroupMembership, User
from iop_pwa.accounts.services import group_members
from iop_pwa.db import utcnow
from iop_pwa.notifications import notify
from iop_pwa.practice.models import (
    LATE_DAYS,
    Assignment,
    AssignmentEvent,
    AssignmentStatus,
    Completion,
    Exercise,
    Feedback,
    Schedule,
)


class PracticeError(ValueError):
    """A request that cannot be carried out, with a message fit to show the person. `field` names
    the form field it is about (None: the request as a whole), so a form shows it beside it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- Reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assigned:
    """An assignment as one participant has it. `starts_on` is their own first day: the
    assignment's start date, or for a group's assignment the day they joined the group (their
    local date) when that is later."""

    assignment: Assignment
    exercise: Exercise
    starts_on: date

    def is_due(self, day: date) -> bool:
        return self.assignment.is_due(day, since=self.starts_on)


def own_start(assignment: Assignment, joined_at: datetime | None, timezone: str) -> date:
    """A person's first day of an assignment: see `Assigned`."""
    if assignment.group_id is None or joined_at is None:
        return assignment.start_date
    return max(assignment.start_date, joined_at.astimezone(ZoneInfo(timezone)).date())


def starts_on(db: Session, *, participant: User, assignment: Assignment) -> date:
    """The participant's first day of one assignment (one query for a group's, none otherwise)."""
    if assignment.group_id is None:
        return assignment.start_date
    joined = db.exec(
        select(GroupMembership.joined_at).where(
            GroupMembership.group_id == assignment.group_id,
            GroupMembership.user_id == participant.id,
        )
    ).first()
    return own_start(assignment, joined, participant.timezone)


def assignments_for(
    db: Session, *, participant: User, include_ended: bool = False
) -> list[Assigned]:
    """The participant's own assignments and their groups' (joining later included), each with
    the participant's first day of it: one query."""
    query = _assignments_statement(include_ended, access.group_practice_reaches(participant))
    return [
        Assigned(a, e, own_start(a, joined, participant.timezone))
        for a, e, joined in db.exec(query, params={"participant": participant.id}).all()
    ]


@cache
def _assignments_statement(include_ended: bool, with_groups: bool):
    """`assignments_for`'s query for each of its four shapes, built once with a bound
    parameter (Today and the therapist's page ask it on every load)."""
    participant = bindparam("participant", type_=Integer)
    membership = and_(
        GroupMembership.group_id == Assignment.group_id,
        GroupMembership.user_id == participant,
    )
    query = (
        select(Assignment, Exercise, GroupMembership.joined_at)
        .join(Exercise, col(Exercise.id) == Assignment.exercise_id)
        .outerjoin(GroupMembership, membership)
        .where(
            or_(
                Assignment.participant_id == participant,
                col(GroupMembership.id).is_not(None),
            )
        )
        .order_by(col(Assignment.created_at), col(Assignment.id))
    )
    if not include_ended:
        query = query.where(Assignment.status != AssignmentStatus.ended)
    if not with_groups:
        query = query.where(Assignment.participant_id == participant)
    return query


def completions_for(
    db: Session, *, participant_id: int, start: date, end: date
) -> dict[tuple[int, date], Completion]:
    """The participant's completions between two local dates, keyed by (assignment, date)."""
    rows = db.exec(
        select(Completion).where(
            Completion.participant_id == participant_id,
            Completion.local_date >= start,
            Completion.local_date <= end,
        )
    ).all()
    return {(c.assignment_id, c.local_date): c for c in rows}


def done_days(
    db: Session, *, participant_id: int, start: date, end: date
) -> dict[tuple[int, date], bool]:
    """Which (assignment, local date) pairs are done between two dates, without loading the
    completions themselves (Today's streak and week need only that): two columns per row."""
    rows = db.exec(
        _done_days_statement(), params={"participant": participant_id, "start": start, "end": end}
    ).all()
    return {(assignment_id, day): True for assignment_id, day in rows}


@cache
def _done_days_statement():
    return select(Completion.assignment_id, Completion.local_date).where(
        Completion.participant_id == bindparam("participant", type_=Integer),
        Completion.local_date >= bindparam("start", type_=Date),
        Completion.local_date <= bindparam("end", type_=Date),
    )


@dataclass
class DueItem:
    assignment: Assignment
    exercise: Exercise
    day: date
    completion: Completion | bool | None  # True where only whether it is done was asked

    @property
    def done(self) -> bool:
        return self.completion is not None


def due_on(pairs: list[Assigned], done: dict, day: date) -> list[DueItem]:
    return [
        DueItem(p.assignment, p.exercise, day, done.get((p.assignment.id, day)))
        for p in pairs
        if p.is_due(day)
    ]


def streak(pairs: list[Assigned], done: dict, today: date, lookback: int = 90) -> int:
    """Days in a row with everything due done. Today counts once it is complete but never
    breaks the streak while it is still going; days with nothing due are passed over."""
    count = 0
    for back in range(lookback):
        day = today - timedelta(days=back)
        items = due_on(pairs, done, day)
        if not items:
            continue
        if all(i.done for i in items):
            count += 1
        elif day != today:
            break
    return count


@dataclass
class Week:
    due: int = 0
    done: int = 0
    days: list[tuple[date, int, int]] = field(default_factory=list)  # (day, due, done)


def this_week(pairs: list[Assigned], done: dict, today: date) -> Week:
    """Monday to today: how much was due and how much is done (no judgement on the rest)."""
    week = Week()
    monday = today - timedelta(days=today.weekday())
    for offset in range(today.weekday() + 1):
        day = monday + timedelta(days=offset)
        items = due_on(pairs, done, day)
        finished = sum(1 for i in items if i.done)
        week.due += len(items)
        week.done += finished
        week.days.append((day, len(items), finished))
    return week


def missed_days(assigned: Assigned, done: dict, today: date) -> list[date]:
    """Earlier days (up to LATE_DAYS back, none before the person's own start) that were due
    and are not done: can be filled in."""
    days = []
    for back in range(1, LATE_DAYS + 1):
        day = today - timedelta(days=back)
        if assigned.is_due(day) and (assigned.assignment.id, day) not in done:
            days.append(day)
    return days


@dataclass
class AssignmentSummary:
    assignment: Assignment
    exercise: Exercise
    due_7: int
    done_7: int
    due_28: int
    done_28: int


def summaries(pairs: list[Assigned], done: dict, today: date) -> list[AssignmentSummary]:
    """Completion over the last 7 and 28 days for each assignment (for the therapist), counting
    only the days since the participant's own start."""
    out = []
    for p in pairs:
        counts = {}
        for window in (7, 28):
            days = [today - timedelta(days=b) for b in range(window)]
            due = [d for d in days if p.is_due(d)]
            counts[window] = (len(due), sum(1 for d in due if (p.assignment.id, d) in done))
        out.append(AssignmentSummary(p.assignment, p.exercise, *counts[7], *counts[28]))
    return out


def feedback_for(db: Session, completion_ids: list[int]) -> dict[int, list[Feedback]]:
    if not completion_ids:
        return {}
    result: dict[int, list[Feedback]] = {}
    for fb in db.exec(
        select(Feedback)
        .where(col(Feedback.completion_id).in_(completion_ids))
        .order_by(col(Feedback.created_at))
    ):
        result.setdefault(fb.completion_id, []).append(fb)
    return result


def reflection_answers(completion: Completion) -> list[dict]:
    try:
        return json.loads(completion.reflection or "[]")
    except ValueError:
        return []


# --- Doing -----------------------------------------------------------------------------------


def mark_done(
    db: Session,
    *,
    participant: User,
    assignment: Assignment,
    exercise: Exercise,
    day: date,
    today: date,
    client_id: str,
    answers: list[str],
    helpful: int | None,
    difficulty: int | None,
    done_at: datetime,
) -> tuple[Completion, bool]:
    """Record that the participant did the assignment for `day`; returns (completion, created).

    The natural key is (assignment, participant, day): a replay, or a second device marking the
    same day, gets the first completion back and never counts twice.
    """
    existing = _completion(db, participant.id, assignment.id, day) or _by_client_id(
        db, participant.id, client_id
    )
    if existing:
        return existing, False
    if day > today or day < today - timedelta(days=LATE_DAYS):
        raise PracticeError(f"Practice can be marked done up to {LATE_DAYS} days late.")
    first = starts_on(db, participant=participant, assignment=assignment)
    if day < first:
        raise PracticeError(
            f"This practice starts for you on {dates.day(first)}: days before that don't count."
        )
    if not assignment.is_due(day, since=first):
        raise PracticeError("This practice was not due on that day.")
    reflection = [
        {"question": q, "answer": a.strip()}
        for q, a in zip(exercise.question_list, answers, strict=False)
        if a and a.strip()
    ]
    completion = Completion(
        assignment_id=assignment.id,
        participant_id=participant.id,
        client_id=client_id,
        local_date=day,
        late=day < today,
        reflection=json.dumps(reflection, ensure_ascii=False),
        helpful=helpful,
        difficulty=difficulty,
        done_at=done_at,
    )
    try:
        with db.begin_nested():
            db.add(completion)
            db.flush()
    except IntegrityError:
        found = _completion(db, participant.id, assignment.id, day) or _by_client_id(
            db, participant.id, client_id
        )
        return found, False
    return completion, True


def _completion(db: Session, participant_id: int, assignment_id: int, day: date):
    return db.exec(
        select(Completion).where(
            Completion.participant_id == participant_id,
            Completion.assignment_id == assignment_id,
            Completion.local_date == day,
        )
    ).first()


def _by_client_id(db: Session, participant_id: int, client_id: str):
    return db.exec(
        select(Completion).where(
            Completion.participant_id == participant_id, Completion.client_id == client_id
        )
    ).first()


def undo(db: Session, *, completion: Completion, today: date, done_today: bool) -> None:
    """Take back a completion, only on the day it was marked (a mistap, not a rewrite)."""
    if not done_today:
        raise PracticeError("A completion can only be undone on the day you marked it.")
    db.delete(completion)


# --- Assigning (therapists) -------------------------------------------------------------------


def assign(
    db: Session,
    *,
    therapist: User,
    exercise: Exercise,
    participant: User | None,
    group: Group | None,
    schedule: Schedule | str,
    weekdays: list[int],
    start_date: date,
    end_date: date | None,
    note: str,
    reminder_time: time | None,
) -> Assignment:
    if participant is None and group is None:
        raise PracticeError("Choose a participant or a group.", "participant")
    if participant is not None and group is not None:
        raise PracticeError("Choose a participant or a group, not both.", "group")
    schedule = _schedule(schedule)
    if participant is not None:
        access.check(db, therapist, access.PARTICIPANT, participant, access.Action.change)
        if not access.open_to_new_practice(participant):
            raise access.NotPermitted("participant", participant.id, participant.id)
    else:
        access.check(db, therapist, access.GROUP, group, access.Action.change)
        if group.is_alumni:
            raise PracticeError(
                "Alumni groups get no practice: choose a group of the program.", "group"
            )
    end_date = _check_dates(schedule, weekdays, start_date, end_date)
    assignment = Assignment(
        exercise_id=exercise.id,
        therapist_id=therapist.id,
        participant_id=participant.id if participant else None,
        group_id=group.id if group else None,
        schedule=schedule,
        weekdays=_weekdays(schedule, weekdays),
        start_date=start_date,
        end_date=end_date,
        note=note.strip(),
        reminder_time=reminder_time,
    )
    db.add(assignment)
    db.flush()
    _record(db, assignment, "created", by=therapist, detail=assignment.describe_schedule())
    people = [participant] if participant else group_members(db, group.id)
    for person in people:
        notify(
            db,
            user_id=person.id,
            kind="assignment",
            text=f"New practice from your care team: {exercise.title}",
            object_id=assignment.id,
        )
    return assignment


def change_status(db: Session, *, assignment: Assignment, status: str, by: User) -> None:
    try:
        new = AssignmentStatus(status)
    except ValueError:
        raise PracticeError("Unknown status.") from None
    if assignment.status == AssignmentStatus.ended:
        raise PracticeError("This assignment has ended; assign the exercise again instead.")
    action = {
        AssignmentStatus.active: "resumed",
        AssignmentStatus.paused: "paused",
        AssignmentStatus.ended: "ended",
    }[new]
    assignment.status = new
    assignment.updated_at = utcnow()
    db.add(assignment)
    _record(db, assignment, action, by=by)


def _schedule(value: Schedule | str) -> Schedule:
    try:
        return Schedule(value)
    except ValueError:
        raise PracticeError(
            "Choose how often: once, every day or on chosen days.", "schedule"
        ) from None


def _weekdays(schedule: Schedule, weekdays: list[int]) -> str:
    return ",".join(str(d) for d in sorted(set(weekdays))) if schedule == Schedule.weekdays else ""


def change_schedule(
    db: Session,
    *,
    assignment: Assignment,
    by: User,
    schedule: Schedule | str,
    weekdays: list[int],
    start_date: date,
    end_date: date | None,
    note: str,
    reminder_time: time | None,
) -> None:
    """Change when an assignment is due (its history records the change)."""
    schedule = _schedule(schedule)
    end = _check_dates(schedule, weekdays, start_date, end_date)
    assignment.schedule, assignment.start_date, assignment.end_date = schedule, start_date, end
    assignment.weekdays = _weekdays(schedule, weekdays)
    assignment.note, assignment.reminder_time = note.strip(), reminder_time
    assignment.updated_at = utcnow()
    db.add(assignment)
    _record(db, assignment, "changed", by=by, detail=assignment.describe_schedule())


def _check_dates(
    schedule: Schedule, weekdays: list[int], start_date: date, end_date: date | None
) -> date | None:
    """The end date a schedule keeps (a one-off ends the day it starts), if the dates fit."""
    end = start_date if schedule == Schedule.once else end_date
    if end and end < start_date:
        raise PracticeError("The end date is before the start date.", "end_date")
    if schedule == Schedule.weekdays and not weekdays:
        raise PracticeError("Choose at least one day of the week.", "weekdays")
    return end


def _record(
    db: Session, assignment: Assignment, action: str, *, by: User, detail: str = ""
) -> None:
    """A staff write to an assignment: a line in its history, and an audit row against the
    participant (or the group)."""
    db.add(AssignmentEvent(assignment_id=assignment.id, by_id=by.id, action=action, detail=detail))
    audit.record(
        db,
        f"assignment_{action}",
        actor_id=by.id,
        subject_id=assignment.participant_id,
        object_type="assignment",
        object_id=assignment.id,
        detail=f"group {assignment.group_id}" if assignment.group_id else None,
    )


def history(db: Session, assignment_id: int) -> list[AssignmentEvent]:
    return list(
        db.exec(
            select(AssignmentEvent)
            .where(AssignmentEvent.assignment_id == assignment_id)
            .order_by(col(AssignmentEvent.at), col(AssignmentEvent.id))
        )
    )


def give_feedback(
    db: Session, *, therapist: User, completion: Completion, text: str, exercise_title: str
) -> Feedback:
    text = text.strip()
    if not text:
        raise PracticeError("Write a few words of feedback.")
    feedback = Feedback(completion_id=completion.id, therapist_id=therapist.id, text=text[:1000])
    db.add(feedback)
    audit.record(
        db,
        "feedback_given",
        actor_id=therapist.id,
        subject_id=completion.participant_id,
        object_type="completion",
        object_id=completion.id,
    )
    notify(
        db,
        user_id=completion.participant_id,
        kind="feedback",
        text=f"{therapist.name} left feedback on your practice: {exercise_title}",
        object_id=completion.assignment_id,
    )
    return feedback


def export_records(db: Session, *, user: User) -> list[dict]:
    """Every practice the participant marked done, with reflections and the therapist's
    feedback on it, for "My data"."""
    rows = db.exec(
        select(Completion, Exercise.title)
        .join(Assignment, col(Assignment.id) == Completion.assignment_id)
        .join(Exercise, col(Exercise.id) == Assignment.exercise_id)
        .where(Completion.participant_id == user.id)
        .order_by(col(Completion.local_date), col(Completion.id))
    ).all()
    feedback = feedback_for(db, [c.id for c, _ in rows])
    return [
        {
            "date": c.local_date.isoformat(),
            "exercise": title,
            "filled_in_later": c.late,
            "helpful": c.helpful,
            "how_hard": c.difficulty,
            "reflection": " | ".join(
                f"{qa['question']} {qa['answer']}" for qa in reflection_answers(c)
            ),
            "therapist_feedback": " | ".join(f.text for f in feedback.get(c.id, [])),
        }
        for c, title in rows
    ]


# --- Discharge (the `features.Lifecycle` practice registers) ----------------------------------


def _open_individual(db: Session, person: User) -> list[Assignment]:
    return list(
        db.exec(
            select(Assignment)
            .where(
                Assignment.participant_id == person.id,
                Assignment.status != AssignmentStatus.ended,
            )
            .order_by(col(Assignment.id))
        )
    )


def end_on_discharge(db: Session, *, person: User, day: date, by: User) -> None:
    """A participant discharged to alumni: their assignments end (each one's history says so,
    each audited); what they did, their reflections and feedback stay. Group practice stops by
    itself: they left their cohort groups, and alumni get none (`access.open_to_new_practice`)."""
    for assignment in _open_individual(db, person):
        assignment.status = AssignmentStatus.ended
        assignment.updated_at = utcnow()
        db.add(assignment)
        _record(db, assignment, "ended", by=by, detail=f"discharged {day.isoformat()}")


def discharge_preview(db: Session, *, person: User) -> list[str]:
    count = len(_open_individual(db, person))
    if not count:
        return []
    what = "practice assignment ends" if count == 1 else "practice assignments end"
    return [f"{count} {what}; what they did and your feedback stay in their history."]
