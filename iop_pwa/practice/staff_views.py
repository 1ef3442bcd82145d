"""The therapist's side of practice: the Library, assigning, managing assignments, feedback."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from sqlmodel import col, func, select
from wtforms.fields.choices import SelectChoice

from iop_pwa import access
from iop_pwa.access import Action, load_or_404
from iop_pwa.accounts.models import User
from iop_pwa.db import get_db, utcnow
from iop_pwa.practice import library, services
from iop_pwa.practice.forms import AssignForm, AssignmentEditForm, ExerciseForm, FeedbackForm
from iop_pwa.practice.models import SKILLS, Assignment, AssignmentStatus, Exercise
from iop_pwa.practice.policies import ASSIGNMENT, COMPLETION, EXERCISE
from iop_pwa.security import audit_event, audit_staff_list
from iop_pwa.web import form_status, local_today, render_page, staff_required

bp = Blueprint("library", __name__, url_prefix="/dashboard")


def _visible_exercise(exercise_id: int) -> Exercise:
    """A built-in exercise, or one of the therapist's own; anyone else's answers 404."""
    return load_or_404(EXERCISE, exercise_id)


def _own_exercise(exercise_id: int) -> Exercise:
    return load_or_404(EXERCISE, exercise_id, Action.change)


@bp.get("/library")
@staff_required
def index():
    skill = request.args.get("skill", "")
    q = request.args.get("q", "").strip()[:100]
    query = select(Exercise).where(
        EXERCISE.where(current_user),
        col(Exercise.archived_at).is_(None),
    )
    if skill in SKILLS:
        query = query.where(Exercise.skill == skill)
    if q:
        query = query.where(
            col(Exercise.title).icontains(q, autoescape=True)
            | col(Exercise.why).icontains(q, autoescape=True)
        )
    exercises = get_db().exec(query.order_by(Exercise.skill, func.lower(Exercise.title))).all()
    return render_page(
        "practice/library.html",
        exercises=exercises,
        skills=SKILLS,
        skill=skill,
        q=q,
        active="library",
    )


@bp.get("/library/<int:exercise_id>")
@staff_required
def exercise(exercise_id: int):
    ex = _visible_exercise(exercise_id)
    return render_page(
        "practice/exercise.html", exercise=ex, steps=library.render(ex.steps), active="library"
    )


@bp.route("/library/new", methods=["GET", "POST"])
@staff_required
def new_exercise():
    return _exercise_form(None, "The exercise is in your library.")


@bp.route("/library/<int:exercise_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_exercise(exercise_id: int):
    return _exercise_form(_own_exercise(exercise_id), "Your changes are saved.")


def _exercise_form(ex: Exercise | None, saved: str):
    """Write a new exercise (ex is None) or change one of the therapist's own."""
    form = ExerciseForm(obj=ex)
    if form.validate_on_submit():
        if ex is None:
            ex = Exercise(owner_id=current_user.id)
        else:
            ex.updated_at = utcnow()
        ex.title, ex.skill, ex.why = form.title.data.strip(), form.skill.data, form.why.data.strip()
        ex.steps, ex.minutes = form.steps.data.strip(), form.minutes.data
        ex.questions = "\n".join(
            q.strip() for q in (form.questions.data or "").splitlines() if q.strip()
        )
        db = get_db()
        db.add(ex)
        db.flush()  # its id, for the redirect
        flash(saved)
        return redirect(url_for("library.exercise", exercise_id=ex.id), 303)
    return render_page(
        "practice/exercise_form.html",
        form=form,
        exercise=ex,
        status=form_status(),
        active="library",
    )


@bp.post("/library/<int:exercise_id>/copy")
@staff_required
def copy_exercise(exercise_id: int):
    ex = _visible_exercise(exercise_id)
    copy = Exercise(
        owner_id=current_user.id,
        title=f"{ex.title} (my copy)"[:120],
        skill=ex.skill,
        why=ex.why,
        steps=ex.steps,
        minutes=ex.minutes,
        questions=ex.questions,
        timer=ex.timer,
    )
    db = get_db()
    db.add(copy)
    db.flush()  # its id, for the redirect
    flash("A copy is in your library. You can change it to fit your group.")
    return redirect(url_for("library.edit_exercise", exercise_id=copy.id), 303)


@bp.post("/library/<int:exercise_id>/archive")
@staff_required
def archive_exercise(exercise_id: int):
    ex = _own_exercise(exercise_id)
    ex.archived_at = utcnow()
    db = get_db()
    db.add(ex)
    flash("Archived. Assignments already given keep working.")
    return redirect(url_for("library.index"), 303)


def _assign_form(formdata=None, **defaults) -> AssignForm:
    db = get_db()
    form = (
        AssignForm(formdata=formdata, **defaults)
        if formdata is not None
        else AssignForm(**defaults)
    )
    people = db.exec(  # those practice may be assigned to: on the caseload, in the program
        select(User)
        .where(access.PARTICIPANT.where(current_user), access.open_to_new_practice_sql())
        .order_by(func.lower(User.name))
    ).all()
    audit_staff_list("assign form", len(people))
    form.participant.choices = [SelectChoice("", "Choose a participant")] + [
        SelectChoice(str(p.id), p.name) for p in people
    ]
    form.group.choices = [SelectChoice("", "No group")] + [
        SelectChoice(str(g.id), g.name)
        for g in access.my_groups(db, current_user.id)
        if not g.is_alumni
    ]
    return form


@bp.route("/library/<int:exercise_id>/assign", methods=["GET", "POST"])
@staff_required
def assign(exercise_id: int):
    ex = _visible_exercise(exercise_id)
    db = get_db()
    today = local_today(current_user.timezone)
    preset = request.args.get("participant", "")
    form = (
        _assign_form(start_date=today, participant=preset)
        if request.method == "GET"
        else (_assign_form(formdata=request.form))
    )
    if request.method == "POST" and form.validate_on_submit():
        participant = group = None
        if form.participant.data:
            participant = load_or_404(access.PARTICIPANT, form.participant.data, Action.change)
        if form.group.data:
            group = load_or_404(access.GROUP, form.group.data, Action.change)
        try:
            services.assign(
                db,
                therapist=current_user,
                exercise=ex,
                participant=participant,
                group=group,
                schedule=form.schedule.data,
                weekdays=form.weekdays.data or [],
                start_date=form.start_date.data,
                end_date=form.end_date.data,
                note=form.note.data or "",
                reminder_time=form.reminder_time.data,
            )
        except services.PracticeError as exc:
            _show_error(form, exc)
        else:
            who = participant.name if participant else f"everyone in {group.name}"
            flash(f"Assigned “{ex.title}” to {who}.")
            if participant:
                return redirect(
                    url_for("dashboard.participant", participant_id=participant.id), 303
                )
            return redirect(url_for("library.exercise", exercise_id=ex.id), 303)
    return render_page(
        "practice/assign.html",
        form=form,
        exercise=ex,
        active="library",
        status=form_status(),
    )


def _show_error(form, exc: services.PracticeError) -> None:
    """The service's message beside the field it is about ("How often" if it names none)."""
    field = form[exc.field] if exc.field in form else form.schedule
    field.errors = [*field.errors, str(exc)]


def _managed_assignment(assignment_id: int, action: Action = Action.view) -> Assignment:
    """An assignment for someone on the therapist's caseload or a group they facilitate."""
    return load_or_404(ASSIGNMENT, assignment_id, action)


@bp.route("/assignments/<int:assignment_id>", methods=["GET", "POST"])
@staff_required
def manage_assignment(assignment_id: int):
    a = _managed_assignment(
        assignment_id, Action.change if request.method == "POST" else Action.view
    )
    db = get_db()
    ex = db.get(Exercise, a.exercise_id)
    form = AssignmentEditForm(obj=a) if request.method == "GET" else AssignmentEditForm()
    # The stored dates: kept unchanged they pass the date window (an old start stays editable).
    form.start_date.object_data, form.end_date.object_data = a.start_date, a.end_date
    if request.method == "GET":
        form.weekdays.data = sorted(a.weekday_set)
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.change_schedule(
                db,
                assignment=a,
                by=current_user,
                schedule=form.schedule.data,
                weekdays=form.weekdays.data or [],
                start_date=form.start_date.data,
                end_date=form.end_date.data,
                note=form.note.data or "",
                reminder_time=form.reminder_time.data,
            )
        except services.PracticeError as exc:
            _show_error(form, exc)
        else:
            flash("The assignment is updated.")
            return redirect(url_for("library.manage_assignment", assignment_id=a.id), 303)
    elif request.method == "GET":
        _audit_read(a)
    return render_page(
        "practice/manage.html",
        assignment=a,
        exercise=ex,
        form=form,
        history=services.history(db, a.id),
        active="participants",
        status=form_status(),
    )


@bp.post("/assignments/<int:assignment_id>/status")
@staff_required
def assignment_status(assignment_id: int):
    a = _managed_assignment(assignment_id, Action.change)
    db = get_db()
    try:
        services.change_status(
            db, assignment=a, status=request.form.get("status", ""), by=current_user
        )
    except services.PracticeError as exc:
        flash(str(exc))
    else:
        flash(
            {
                AssignmentStatus.active: "Resumed.",
                AssignmentStatus.paused: "Paused: nothing is due until you resume it.",
                AssignmentStatus.ended: "Ended. Its history is kept.",
            }[a.status]
        )
    return redirect(url_for("library.manage_assignment", assignment_id=a.id), 303)


@bp.post("/completions/<int:completion_id>/feedback")
@staff_required
def feedback(completion_id: int):
    db = get_db()
    completion = load_or_404(COMPLETION, completion_id, Action.change)
    form = FeedbackForm()
    back = url_for("dashboard.participant", participant_id=completion.participant_id)
    if not form.validate_on_submit():
        flash("Write a few words of feedback, then send it.")
        return redirect(back, 303)
    a = db.get(Assignment, completion.assignment_id)
    ex = db.get(Exercise, a.exercise_id)
    services.give_feedback(
        db,
        therapist=current_user,
        completion=completion,
        text=form.text.data,
        exercise_title=ex.title,
    )
    flash("Feedback sent.")
    return redirect(back + f"#completion-{completion.id}", 303)


def _audit_read(a: Assignment) -> None:
    """Opening an assignment shows the participant's name (or a group's roster) and history."""
    audit_event(
        "staff_read",
        subject_id=a.participant_id,
        object_type="assignment",
        object_id=a.id,
        detail="assignment page",
    )
