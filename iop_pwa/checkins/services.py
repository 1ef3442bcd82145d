"""Check-in services: keyword-only, take the session, never commit (the caller does).

When a check-in falls due. A schedule asks every 1, 2 or 4 weeks from its start date, in the
participant's local dates, so a check-in falls on the same weekday across daylight-saving
changes. Only the current occurrence is due: one missed is not piled up, the next replaces it.
An answer is for one occurrence (`due_on`); one answer per occurrence. Alumni get PHQ-9 and
GAD-7 at the months after discharge in ALUMNI_CHECKIN_MONTHS (1, 3, 6), and their in-program
schedules no longer apply.

For the dashboard: `latest_for`, `rising` and `timeline` take many people at once, one query each.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from sqlalchemy import ColumnElement, Integer, bindparam, exists, false
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select

from iop_pwa import access, audit
from iop_pwa.access import Action
from iop_pwa.accounts.models import Group, ParticipantStatus, User
from iop_pwa.checkins import questionnaires as forms
from iop_pwa.checkins.models import EVERY_WEEKS, CheckinAnswer, CheckinSchedule, Questionnaire
from iop_pwa.db import utcnow
from iop_pwa.safety import raise_flag


class CheckinError(ValueError):
    """A request the service refuses, with words for the person."""


# --- Questionnaires -------------------------------------------------------------------------


def builtins(db: Session) -> dict[str, Questionnaire]:
    """The PHQ-9 and GAD-7 rows by slug, made the first time they are needed (one query after)."""
    found = {
        q.slug: q
        for q in db.exec(select(Questionnaire).where(col(Questionnaire.slug).in_(forms.BUILTIN)))
    }
    for slug, form in forms.BUILTIN.items():
        if slug not in found:
            row = Questionnaire(slug=slug, title=form.title)
            try:
                with db.begin_nested():  # another request may make it at the same moment
                    db.add(row)
                    db.flush()
            except IntegrityError:
                row = db.exec(select(Questionnaire).where(Questionnaire.slug == slug)).one()
            found[slug] = row
    return found


def visible_to_staff(db: Session, staff: User) -> list[Questionnaire]:
    """The built-in check-ins and the staff member's own (not archived), for form choices:
    those `policies.QUESTIONNAIRE` lets them view."""
    from iop_pwa.checkins.policies import QUESTIONNAIRE  # policies use `asked_of`, below

    builtins(db)
    return list(
        db.exec(
            select(Questionnaire)
            .where(
                QUESTIONNAIRE.where(staff),
                col(Questionnaire.archived_at).is_(None),
            )
            .order_by(col(Questionnaire.slug).is_(None), func.lower(Questionnaire.title))
        )
    )


MAX_QUESTIONS = 5


def save_questionnaire(
    db: Session, *, staff: User, questionnaire: Questionnaire | None, title: str, questions: str
) -> Questionnaire:
    """Write a new check-in of the staff member's own, or change one (only their own)."""
    lines = [q.strip() for q in questions.splitlines() if q.strip()]
    if not lines or len(lines) > MAX_QUESTIONS:
        raise CheckinError(f"Write between 1 and {MAX_QUESTIONS} questions, one a line.")
    if questionnaire is None:
        questionnaire = Questionnaire(owner_id=staff.id, title=title.strip())
    else:
        from iop_pwa.checkins.policies import QUESTIONNAIRE

        access.check(db, staff, QUESTIONNAIRE, questionnaire, Action.change)
        questionnaire.updated_at = utcnow()
    questionnaire.title = title.strip()
    questionnaire.questions = "\n".join(lines)
    db.add(questionnaire)
    db.flush()
    return questionnaire


# --- When check-ins fall due ----------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it is shorter: 31 Jan -> 28 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def alumni_months() -> tuple[int, ...]:
    return current_app.config.get("ALUMNI_CHECKIN_MONTHS", (1, 3, 6))


def occurrence_on(schedule: CheckinSchedule, today: date) -> date | None:
    """The occurrence of a schedule that `today` falls in (None before it starts)."""
    if today < schedule.start_date:
        return None
    period = 7 * schedule.every_weeks
    return schedule.start_date + timedelta(
        days=(today - schedule.start_date).days // period * period
    )


def is_occurrence(schedule: CheckinSchedule, day: date) -> bool:
    return (
        day >= schedule.start_date
        and (day - schedule.start_date).days % (7 * schedule.every_weeks) == 0
    )


@dataclass
class Plan:
    """One check-in for one participant: the occurrence due now (if any), the next one, and the
    occurrence last answered."""

    questionnaire: Questionnaire
    current: date | None = None
    next_on: date | None = None
    answered: date | None = None

    @property
    def due(self) -> bool:
        return self.current is not None and (self.answered is None or self.answered < self.current)


@cache
def _applying():
    """The live schedules that ask something of a participant (their own and their groups'),
    built once with a bound parameter, `person` (Today asks it on every load)."""
    person = bindparam("person", type_=Integer)
    return (
        select(CheckinSchedule, Questionnaire)
        .join(Questionnaire)
        .where(
            or_(
                CheckinSchedule.participant_id == person,
                col(CheckinSchedule.group_id).in_(access.member_group_ids(person)),
            ),
            col(CheckinSchedule.stopped_at).is_(None),
        )
    )


@cache
def _last_answered():
    """The latest occurrence answered of each of some check-ins (`person`, `ids`)."""
    return (
        select(CheckinAnswer.questionnaire_id, func.max(CheckinAnswer.due_on))
        .where(
            CheckinAnswer.participant_id == bindparam("person", type_=Integer),
            col(CheckinAnswer.questionnaire_id).in_(bindparam("ids", expanding=True)),
        )
        .group_by(CheckinAnswer.questionnaire_id)
    )


def is_alumnus(person: User) -> bool:
    return person.status == ParticipantStatus.alumni and person.discharged_on is not None


def plans_for(db: Session, person: User, today: date) -> list[Plan]:
    """Every check-in asked of a participant with what is due now: three queries at most,
    however many schedules and answers there are."""
    if person.status == ParticipantStatus.deactivated:
        return []
    plans: dict[int, Plan] = {}
    if is_alumnus(person):
        marks = [add_months(person.discharged_on, m) for m in sorted(alumni_months())]
        current = max((d for d in marks if d <= today), default=None)
        next_on = min((d for d in marks if d > today), default=None)
        for q in builtins(db).values():
            plans[q.id] = Plan(q, current, next_on)
    else:
        for schedule, q in db.exec(_applying(), params={"person": person.id}):
            plan = plans.setdefault(q.id, Plan(q))
            current = occurrence_on(schedule, today)
            if current is not None and (plan.current is None or current > plan.current):
                plan.current = current
            upcoming = (
                (current + timedelta(weeks=schedule.every_weeks))
                if current
                else schedule.start_date
            )
            if plan.next_on is None or upcoming < plan.next_on:
                plan.next_on = upcoming
    if plans:
        for qid, last in db.exec(
            _last_answered(), params={"person": person.id, "ids": list(plans)}
        ):
            plans[qid].answered = last
    return sorted(plans.values(), key=lambda p: (not p.due, p.questionnaire.title.lower()))


def asked_of(person: User) -> ColumnElement[bool]:
    """The condition on Questionnaire for the check-ins asked of a participant now (their access
    to them): for alumni the built-in ones (asked at set months after discharge), for people in
    the program those a live schedule of theirs or of their groups asks; none when deactivated."""
    if person.status == ParticipantStatus.deactivated:
        return false()
    if is_alumnus(person):
        return col(Questionnaire.slug).in_(list(forms.BUILTIN))
    return exists().where(
        CheckinSchedule.questionnaire_id == Questionnaire.id,
        or_(
            CheckinSchedule.participant_id == person.id,
            col(CheckinSchedule.group_id).in_(access.member_group_ids(person.id)),
        ),
        col(CheckinSchedule.stopped_at).is_(None),
    )


def is_asked_of(db: Session, person: User, questionnaire: Questionnaire) -> bool:
    """Whether a check-in is asked of a participant now (`asked_of` for this one)."""
    return access.holds(db, questionnaire, asked_of(person))


def _valid_occurrence(
    db: Session, person: User, questionnaire: Questionnaire, due_on: date, today: date
) -> bool:
    """Whether `due_on` is an occurrence of this check-in for this person, not in the future. A
    stopped schedule's past occurrences count (an answer written offline may arrive after)."""
    if due_on > today:
        return False
    if is_alumnus(person) and questionnaire.slug in forms.BUILTIN:
        if due_on in {add_months(person.discharged_on, m) for m in alumni_months()}:
            return True
    schedules = db.exec(
        select(CheckinSchedule).where(
            CheckinSchedule.questionnaire_id == questionnaire.id,
            or_(
                CheckinSchedule.participant_id == person.id,
                col(CheckinSchedule.group_id).in_(access.member_group_ids(person.id)),
            ),
        )
    )
    return any(is_occurrence(s, due_on) for s in schedules)


# --- Answering ------------------------------------------------------------------------------


@dataclass
class SaveResult:
    answer: CheckinAnswer
    created: bool  # False: a replay, or this occurrence already had an answer
    crisis: bool  # PHQ-9 item 9 above 0 in what arrived: show crisis resources at once
    words: str  # the result in plain words


def save_answer(
    db: Session,
    *,
    participant: User,
    questionnaire: Questionnaire,
    due_on: date,
    values: list[int],
    client_id: str,
    answered_at: datetime,
) -> SaveResult:
    """Store an answer once. A replay (same client id) gets the original; a second answer to the
    same occurrence keeps the first. Either way a risk answer in what arrived raises a flag."""
    from iop_pwa.checkins.policies import QUESTIONNAIRE

    form = forms.form_for(questionnaire)
    score, band = forms.score(form, values)  # ValueError: the form checks first
    crisis = forms.needs_safety_check(form, values)
    existing = _existing(db, participant, questionnaire, client_id, due_on)
    if existing is None:
        access.check(db, participant, QUESTIONNAIRE, questionnaire, Action.view)
        today = datetime.now(ZoneInfo(participant.timezone)).date()
        if not _valid_occurrence(db, participant, questionnaire, due_on, today):
            raise CheckinError("This check-in is not due. Open Check-ins to see what is due now.")
        answer = CheckinAnswer(
            participant_id=participant.id,
            questionnaire_id=questionnaire.id,
            client_id=client_id,
            due_on=due_on,
            answers=",".join(str(v) for v in values),
            score=score,
            band=band,
            answered_at=answered_at,
            local_date=answered_at.astimezone(ZoneInfo(participant.timezone)).date(),
        )
        try:
            with db.begin_nested():  # the same answer may arrive twice at once (page and worker)
                db.add(answer)
                db.flush()
                # The flag goes in with the answer, in the same savepoint: an answer stored
                # without its flag would never flag (a replay doesn't).
                if crisis:
                    _flag(db, participant, answer)
            created = True
        except IntegrityError:
            answer, created = _existing(db, participant, questionnaire, client_id, due_on), False
    else:
        answer, created = existing, False
    # The answer that was stored flagged when it arrived; a replay of it (the same client id,
    # perhaps at the same moment from the page and the service worker) must not flag twice. A
    # different answer to the same occurrence (another phone) is not stored but still flags.
    if crisis and not created and answer.client_id != client_id:
        _flag(db, participant, answer)
    return SaveResult(answer, created, crisis, form.words(answer.score, answer.band))


def _flag(db: Session, participant: User, answer: CheckinAnswer) -> None:
    raise_flag(
        db,
        participant_id=participant.id,
        reason="risk_answer",
        source_type="checkin_answer",
        source_id=answer.id,
    )


def _existing(db, participant, questionnaire, client_id, due_on) -> CheckinAnswer | None:
    return db.exec(
        select(CheckinAnswer).where(
            CheckinAnswer.participant_id == participant.id,
            or_(
                CheckinAnswer.client_id == client_id,
                (CheckinAnswer.questionnaire_id == questionnaire.id)
                & (CheckinAnswer.due_on == due_on),
            ),
        )
    ).first()


# --- Schedules ------------------------------------------------------------------------------


def schedule(
    db: Session,
    *,
    therapist: User,
    questionnaire: Questionnaire,
    participant: User | None,
    group: Group | None,
    every_weeks: int,
    start_date: date,
) -> CheckinSchedule:
    """Ask a check-in of one participant or a whole group, every 1, 2 or 4 weeks."""
    from iop_pwa.checkins.policies import QUESTIONNAIRE

    if (participant is None) == (group is None):
        raise CheckinError("Choose a participant or a group.")
    if every_weeks not in EVERY_WEEKS:
        raise CheckinError("Choose how often: every week, every 2 weeks or every 4 weeks.")
    access.check(db, therapist, QUESTIONNAIRE, questionnaire, Action.view)
    if participant is not None:
        access.check(db, therapist, access.PARTICIPANT, participant, Action.change)
    else:
        access.check(db, therapist, access.GROUP, group, Action.change)
    row = CheckinSchedule(
        questionnaire_id=questionnaire.id,
        therapist_id=therapist.id,
        participant_id=participant.id if participant else None,
        group_id=group.id if group else None,
        every_weeks=every_weeks,
        start_date=start_date,
    )
    db.add(row)
    db.flush()
    audit.record(
        db,
        "checkin_scheduled",
        actor_id=therapist.id,
        subject_id=row.participant_id,
        object_type="checkin_schedule",
        object_id=row.id,
        detail=f"{questionnaire.title}, {row.every_words.lower()}",
    )
    return row


def stop(db: Session, *, schedule: CheckinSchedule, by: User) -> None:
    from iop_pwa.checkins.policies import SCHEDULE

    access.check(db, by, SCHEDULE, schedule, Action.change)
    if schedule.stopped_at is None:
        schedule.stopped_at = utcnow()
        db.add(schedule)
        audit.record(
            db,
            "checkin_stopped",
            actor_id=by.id,
            subject_id=schedule.participant_id,
            object_type="checkin_schedule",
            object_id=schedule.id,
        )


def schedules_of(db: Session, *, participant_id: int | None = None, group_id: int | None = None):
    """The live schedules made for a participant (their own, and their groups' when
    `participant_id` is given) or for a group, with their check-in and group: one query."""
    query = (
        select(CheckinSchedule, Questionnaire, Group)
        .join(Questionnaire)
        .join(Group, col(Group.id) == CheckinSchedule.group_id, isouter=True)
        .where(col(CheckinSchedule.stopped_at).is_(None))
    )
    if participant_id is not None:
        query = query.where(
            or_(
                CheckinSchedule.participant_id == participant_id,
                col(CheckinSchedule.group_id).in_(access.member_group_ids(participant_id)),
            )
        )
    else:
        query = query.where(CheckinSchedule.group_id == group_id)
    return list(db.exec(query.order_by(col(CheckinSchedule.created_at))))


# --- Scores over time -----------------------------------------------------------------------


@dataclass
class Series:
    questionnaire: Questionnaire
    form: forms.Form
    answers: list[CheckinAnswer]  # oldest first


def history(db: Session, *, participant_id: int, since: date | None = None) -> list[Series]:
    """A participant's answers by check-in, oldest first (for charts and tables): one query."""
    query = (
        select(CheckinAnswer, Questionnaire)
        .join(Questionnaire)
        .where(CheckinAnswer.participant_id == participant_id)
        .order_by(col(CheckinAnswer.answered_at), col(CheckinAnswer.id))
    )
    if since is not None:
        query = query.where(CheckinAnswer.local_date >= since)
    found: dict[int, Series] = {}
    for answer, q in db.exec(query):
        found.setdefault(q.id, Series(q, forms.form_for(q), [])).answers.append(answer)
    return sorted(
        found.values(), key=lambda s: (s.questionnaire.slug is None, s.questionnaire.title.lower())
    )


@cache
def _ranked(slug: str | None = None):
    """Answers of the participants `ids` (an expanding bound parameter) numbered newest first
    per participant (and check-in): built once per shape, the dashboard asks on every load."""
    partition = [CheckinAnswer.participant_id] + (
        [] if slug is None else [CheckinAnswer.questionnaire_id]
    )
    rank = (
        func.row_number()
        .over(
            partition_by=partition,
            order_by=(col(CheckinAnswer.answered_at).desc(), col(CheckinAnswer.id).desc()),
        )
        .label("rank")
    )
    query = (
        select(
            CheckinAnswer.participant_id,
            Questionnaire.title,
            CheckinAnswer.score,
            CheckinAnswer.band,
            CheckinAnswer.answered_at,
            rank,
        )
        .join(Questionnaire)
        .where(col(CheckinAnswer.participant_id).in_(bindparam("ids", expanding=True)))
    )
    if slug is not None:
        query = query.where(Questionnaire.slug == slug)
    return query.subquery()


@cache
def _latest_statement():
    ranked = _ranked()
    c = ranked.c
    return select(c.participant_id, c.title, c.score, c.band, c.answered_at).where(c.rank == 1)


@cache
def _last_two_phq9_statement():
    ranked = _ranked("phq9")
    c = ranked.c
    return (
        select(c.participant_id, c.title, c.score, c.band, c.answered_at, c.rank)
        .where(c.rank <= 2)
        .order_by(c.rank)
    )


def latest_for(db: Session, participant_ids) -> dict[int, tuple[str, int, str, datetime]]:
    """Each participant's latest check-in: {id: (check-in name, score, band, answered_at)}. One
    query for any number of people (the band is "" for a team's own check-in)."""
    ids = list(participant_ids)
    if not ids:
        return {}
    rows = db.exec(_latest_statement(), params={"ids": ids})
    return {r.participant_id: (r.title, r.score, r.band, r.answered_at) for r in rows}


RISE = 5  # PHQ-9 points
HIGH_BANDS = ("moderately severe", "severe")


def rising(db: Session, participant_ids) -> dict[int, str]:
    """Participants whose PHQ-9 is rising, with why in words: up by 5 points or more since the one
    before, or now in the moderately severe or severe band. One query for any number of people."""
    ids = list(participant_ids)
    if not ids:
        return {}
    found: dict[int, list] = {}
    for r in db.exec(_last_two_phq9_statement(), params={"ids": ids}):
        found.setdefault(r.participant_id, []).append(r)
    why = {}
    for pid, rows in found.items():
        latest = rows[0]
        before = rows[1] if len(rows) > 1 else None
        if before is not None and latest.score - before.score >= RISE:
            why[pid] = f"PHQ-9 up from {before.score} to {latest.score} ({latest.band})"
        elif latest.band in HIGH_BANDS and (before is None or before.band not in HIGH_BANDS):
            why[pid] = f"PHQ-9 {latest.score} ({latest.band})"
    return why


def timeline(
    db: Session, person: User, limit: int = 20, before: datetime | None = None
) -> list[tuple[int, datetime, str, str]]:
    """A participant's check-in answers for the therapist's timeline, newest first (strictly
    before `before` when given): (answer id, when, words, url) entries, one query."""
    url = url_for("dashboard.participant", participant_id=person.id, _anchor="checkins-heading")
    query = select(CheckinAnswer, Questionnaire.title).join(Questionnaire)
    query = query.where(CheckinAnswer.participant_id == person.id)
    if before is not None:
        query = query.where(CheckinAnswer.answered_at < before)
    rows = db.exec(
        query.order_by(col(CheckinAnswer.answered_at).desc(), col(CheckinAnswer.id).desc()).limit(
            limit
        )
    )
    return [
        (
            a.id,
            a.answered_at,
            f"{title} check-in: {a.score}" + (f" ({a.band})" if a.band else ""),
            url,
        )
        for a, title in rows
    ]


# --- My data --------------------------------------------------------------------------------


def export_records(db: Session, *, user: User) -> list[dict]:
    """Every check-in a participant answered, oldest first, with the questions and answers."""
    records = []
    for series in history(db, participant_id=user.id):
        labels = dict(series.form.choices)
        for a in series.answers:
            records.append(
                {
                    "check_in": series.questionnaire.title,
                    "due_on": a.due_on.isoformat(),
                    "answered_at": a.answered_at.isoformat(),
                    "score": a.score,
                    "band": a.band,
                    "answers": [
                        {"question": q, "answer": v, "answer_words": labels.get(v, "")}
                        for q, v in zip(series.form.items, a.values, strict=False)
                    ],
                }
            )
    return sorted(records, key=lambda r: r["answered_at"])
