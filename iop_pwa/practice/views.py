"""The participant's Practice: what is assigned, doing it, reflecting, and feedback."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from iop_pwa import dates
from iop_pwa.access import Action, load_or_404
from iop_pwa.db import get_db
from iop_pwa.practice import library, services
from iop_pwa.practice.forms import MarkDoneForm, pending_key
from iop_pwa.practice.models import Assignment, AssignmentStatus, Exercise
from iop_pwa.practice.policies import ASSIGNMENT, COMPLETION
from iop_pwa.pwa import outbox
from iop_pwa.pwa.device_write import valid_client_id, when_written
from iop_pwa.web import local_now, local_today, participant_required, render_page

bp = Blueprint("practice", __name__)


def _my_assignment(assignment_id: int, action: Action = Action.view) -> services.Assigned:
    """The assignment if it is the participant's own or their group's, else 404 (audited), with
    the participant's own first day of it."""
    assignment = load_or_404(ASSIGNMENT, assignment_id, action)
    db = get_db()
    return services.Assigned(
        assignment,
        db.get(Exercise, assignment.exercise_id),
        services.starts_on(db, participant=current_user, assignment=assignment),
    )


@bp.get("/practice")
@participant_required
@outbox.keep_offline
def index():
    db = get_db()
    today = local_today(current_user.timezone)
    pairs = services.assignments_for(db, participant=current_user, include_ended=True)
    done = services.completions_for(
        db, participant_id=current_user.id, start=today - timedelta(days=27), end=today
    )
    active = [p for p in pairs if p.assignment.status != AssignmentStatus.ended]
    history = sorted(done.values(), key=lambda c: (c.local_date, c.id), reverse=True)
    titles = {p.assignment.id: p.exercise.title for p in pairs}
    return render_page(
        "practice/index.html",
        active_list=[(p.assignment, p.exercise) for p in active],
        today_items={(i.assignment.id): i for i in services.due_on(active, done, today)},
        history=history,
        titles=titles,
        feedback=services.feedback_for(db, [c.id for c in history]),
        ended=[
            (p.assignment, p.exercise)
            for p in pairs
            if p.assignment.status == AssignmentStatus.ended
        ],
    )


@bp.get("/practice/<int:assignment_id>")
@participant_required
@outbox.keep_offline
def assignment(assignment_id: int):
    db = get_db()
    assigned = _my_assignment(assignment_id)
    a, exercise = assigned.assignment, assigned.exercise
    today = local_today(current_user.timezone)
    done = services.completions_for(
        db, participant_id=current_user.id, start=today - timedelta(days=27), end=today
    )
    mine = sorted(
        (c for (aid, _), c in done.items() if aid == a.id), key=lambda c: c.local_date, reverse=True
    )
    return render_page(
        "practice/assignment.html",
        assignment=a,
        exercise=exercise,
        steps=library.render(exercise.steps),
        today=today,
        done_today=done.get((a.id, today)),
        form=_done_form(assigned, done, today),
        completions=mine,
        feedback=services.feedback_for(db, [c.id for c in mine]),
        answers=services.reflection_answers,
        local_now=local_now(current_user.timezone),
        pending_key=pending_key,
    )


def _day_choices(mine: services.Assigned, done: dict, today: date) -> list[SelectChoice]:
    a = mine.assignment
    days = []
    if mine.is_due(today) and (a.id, today) not in done:
        days.append((today, "Today"))
    for day in services.missed_days(mine, done, today):
        days.append((day, dates.day(day) + " (late)"))
    # A day already marked done on this phone (waiting to sync) is no longer offered.
    return [
        SelectChoice(
            day.isoformat(), label, render_kw={"data-pending-hide": pending_key(a.id, day)}
        )
        for day, label in days
    ]


def _done_form(mine: services.Assigned, done: dict, today: date, formdata=None) -> MarkDoneForm:
    exercise = mine.exercise
    form = MarkDoneForm(formdata=formdata, client_id=str(uuid.uuid4()))
    form.day.choices = _day_choices(mine, done, today)
    if formdata is None:
        for _ in exercise.question_list:
            form.answers.append_entry()
    for entry, question in zip(form.answers, exercise.question_list, strict=False):
        entry.label.text = question
    return form


@bp.post("/practice/<int:assignment_id>/done")
@participant_required
def mark_done(assignment_id: int):
    db = get_db()
    mine = _my_assignment(assignment_id, Action.change)
    a, exercise = mine.assignment, mine.exercise
    today = local_today(current_user.timezone)
    done = services.completions_for(
        db, participant_id=current_user.id, start=today - timedelta(days=7), end=today
    )
    form = _done_form(mine, done, today, formdata=request.form)
    back = url_for("practice.assignment", assignment_id=a.id)
    client_id = valid_client_id(request.form.get("client_id"))
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        day = None
    if not form.validate_on_submit() or day is None:
        return outbox.invalid(
            client_id,
            form.errors or {"day": ["Choose a day."]},
            lambda: _invalid_page(a, exercise, form),
        )
    try:
        completion, _created = services.mark_done(
            db,
            participant=current_user,
            assignment=a,
            exercise=exercise,
            day=day,
            today=today,
            client_id=client_id,
            answers=[f.data or "" for f in form.answers],
            helpful=form.helpful.data,
            difficulty=form.difficulty.data,
            done_at=when_written(form.written_at.data),
        )
    except services.PracticeError as exc:
        form.day.errors = [str(exc)]
        return outbox.invalid(client_id, form.errors, lambda: _invalid_page(a, exercise, form))
    return outbox.saved(completion.client_id, back, "Marked done. Well done for practising.")


def _invalid_page(a: Assignment, exercise: Exercise, form: MarkDoneForm):
    return render_page(
        "practice/assignment.html",
        assignment=a,
        exercise=exercise,
        steps=library.render(exercise.steps),
        today=local_today(current_user.timezone),
        done_today=None,
        form=form,
        completions=[],
        feedback={},
        answers=services.reflection_answers,
        local_now=local_now(current_user.timezone),
        pending_key=pending_key,
        status=422,
    )


@bp.post("/practice/completions/<int:completion_id>/undo")
@participant_required
def undo(completion_id: int):
    db = get_db()
    completion = load_or_404(COMPLETION, completion_id, Action.change)
    today = local_today(current_user.timezone)
    done_today = completion.received_at.astimezone(ZoneInfo(current_user.timezone)).date() == today
    try:
        services.undo(db, completion=completion, today=today, done_today=done_today)
    except services.PracticeError as exc:
        flash(str(exc))
    else:
        flash("Undone. It is no longer marked done.")
    return redirect(url_for("practice.assignment", assignment_id=completion.assignment_id), 303)
