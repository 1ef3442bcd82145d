"""The therapist's side of practice: the Library, assigning, managing assignments, feedback."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from sqlmodel import col, func, or_, select
from wtforms.fields.choices import SelectChoice

from iop_pwa.accounts.models import Group, User
from iop_pwa.dashboard import services as dashboard
from iop_pwa.db import get_db, utcnow
from iop_pwa.forms_util import parse_id
from iop_pwa.practice import library, services
from iop_pwa.practice.forms import AssignForm, AssignmentEditForm, ExerciseForm, FeedbackForm
from iop_pwa.practice.models import SKILLS, Assignment, AssignmentEvent, Completion, Exercise
from iop_pwa.security import audit_event, deny, in_caseload
from iop_pwa.web import form_status, local_today, render_page, staff_required

bp = Blueprint("library", __name__, url_prefix="/dashboard")


def _visible_exercise(exercise_id: int) -> Exercise:
    """A built-in exercise, or one of the therapist's own; anyone else's answers 404."""
    exercise = get_db().get(Exercise, exercise_id)
    if exercise is None or not (exercise.builtin or exercise.owner_id == current_user.id):
        deny("exercise", exercise_id)
    return exercise


def _own_exercise(exercise_id: int) -> Exercise:
    exercise = _visible_exercise(exercise_id)
    if exercise.owner_id != current_user.id:
        deny("exercise", exercise_id)
    return exercise


@bp.get("/library")
@staff_required
def index():
    skill = request.args.get("skill", "")
    q = request.args.get("q", "").strip()[:100]
    query = select(Exercise).where(
        or_(col(Exercise.slug).is_not(None), Exercise.owner_id == current_user.id),
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
        db.commit()
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
    db.commit()
    flash("A copy is in your library. You can change it to fit your group.")
    return redirect(url_for("library.edit_exercise", exercise_id=copy.id), 303)


@bp.post("/library/<int:exercise_id>/archive")
@staff_required
def archive_exercise(exercise_id: int):
    ex = _own_exercise(exercise_id)
    ex.archived_at = utcnow()
    db = get_db()
    db.add(ex)
    db.commit()
    flash("Archived. Assignments already given keep working.")
    return redirect(url_for("library.index"), 303)


def _assign_form(formdata=None, **defaults) -> AssignForm:
    db = get_db()
    form = (
        AssignForm(formdata=formdata, **defaults)
        if formdata is not None
        else AssignForm(**defaults)
    )
    rows = dashboard.caseload(db, current_user.id)
    form.participant.choices = [SelectChoice("", "Choose a participant")] + [
        SelectChoice(str(r.participant.id), r.participant.name)
        for r in rows
        if r.participant.status != "deactivated"
    ]
    form.group.choices = [SelectChoice("", "No group")] + [
        SelectChoice(str(g.group.id), g.group.name)
        for g in dashboard.groups_for(db, current_user.id)
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
            pid = parse_id(form.participant.data)
            participant = db.get(User, pid) if pid else None
            if participant is None or not in_caseload(db, current_user.id, participant.id):
                deny("participant", pid)
        if form.group.data:
            gid = parse_id(form.group.data)
            mine = {row.group.id for row in dashboard.groups_for(db, current_user.id)}
            if gid not in mine:
                deny("group", gid)
            group = db.get(Group, gid)
        try:
            a = services.assign(
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
            form.schedule.errors = [str(exc)]
        else:
            audit_event(
                "assignment_created",
                subject_id=participant.id if participant else None,
                object_type="assignment",
                object_id=a.id,
            )
            db.commit()
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


def _managed_assignment(assignment_id: int) -> Assignment:
    """An assignment the therapist gave, or one for a participant on their caseload."""
    db = get_db()
    a = db.get(Assignment, assignment_id)
    if a is None:
        deny("assignment", assignment_id)
    allowed = a.therapist_id == current_user.id or (
        a.participant_id is not None and in_caseload(db, current_user.id, a.participant_id)
    )
    if not allowed:
        deny("assignment", assignment_id)
    return a


@bp.route("/assignments/<int:assignment_id>", methods=["GET", "POST"])
@staff_required
def manage_assignment(assignment_id: int):
    a = _managed_assignment(assignment_id)
    db = get_db()
    ex = db.get(Exercise, a.exercise_id)
    form = AssignmentEditForm(obj=a) if request.method == "GET" else AssignmentEditForm()
    # The stored dates: kept unchanged they pass the date window (an old start stays editable).
    form.start_date.object_data, form.end_date.object_data = a.start_date, a.end_date
    if request.method == "GET":
        form.weekdays.data = sorted(a.weekday_set)
    if request.method == "POST" and form.validate_on_submit():
        end = form.start_date.data if form.schedule.data == "once" else form.end_date.data
        if end and end < form.start_date.data:
            form.end_date.errors = ["The end date is before the start date."]
        elif form.schedule.data == "weekdays" and not form.weekdays.data:
            form.weekdays.errors = ["Choose at least one day of the week."]
        else:
            a.schedule, a.start_date, a.end_date = form.schedule.data, form.start_date.data, end
            a.weekdays = (
                ",".join(str(d) for d in sorted(form.weekdays.data or []))
                if (a.schedule == "weekdays")
                else ""
            )
            a.note, a.reminder_time = (form.note.data or "").strip(), form.reminder_time.data
            a.updated_at = utcnow()
            db.add(a)
            db.add(
                AssignmentEvent(
                    assignment_id=a.id,
                    by_id=current_user.id,
                    action="changed",
                    detail=a.describe_schedule(),
                )
            )
            db.commit()
            flash("The assignment is updated.")
            return redirect(url_for("library.manage_assignment", assignment_id=a.id), 303)
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
    a = _managed_assignment(assignment_id)
    db = get_db()
    try:
        services.change_status(
            db, assignment=a, status=request.form.get("status", ""), by=current_user
        )
    except services.PracticeError as exc:
        flash(str(exc))
    else:
        db.commit()
        flash(
            {
                "active": "Resumed.",
                "paused": "Paused: nothing is due until you resume it.",
                "ended": "Ended. Its history is kept.",
            }[a.status]
        )
    return redirect(url_for("library.manage_assignment", assignment_id=a.id), 303)


@bp.post("/completions/<int:completion_id>/feedback")
@staff_required
def feedback(completion_id: int):
    db = get_db()
    completion = db.get(Completion, completion_id)
    if completion is None or not in_caseload(db, current_user.id, completion.participant_id):
        deny("completion", completion_id)
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
    audit_event(
        "feedback_given",
        subject_id=completion.participant_id,
        object_type="completion",
        object_id=completion.id,
    )
    db.commit()
    flash("Feedback sent.")
    return redirect(back + f"#completion-{completion.id}", 303)
