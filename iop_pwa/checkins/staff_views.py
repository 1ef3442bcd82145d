"""The therapist's side of check-ins: the check-ins they can ask (built in and their own),
scheduling for a participant (from the participant's page) or a group, stopping a schedule."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from iop_pwa import access
from iop_pwa.access import Action, load_or_404
from iop_pwa.checkins import questionnaires as forms
from iop_pwa.checkins import services
from iop_pwa.checkins.forms import QuestionnaireForm, ScheduleForm, StopForm
from iop_pwa.checkins.policies import QUESTIONNAIRE, SCHEDULE
from iop_pwa.db import get_db
from iop_pwa.security import audit_event
from iop_pwa.web import form_status, local_today, render_page, safe_next, staff_required

bp = Blueprint("checkins_staff", __name__, url_prefix="/dashboard")


def schedule_form(formdata=None) -> ScheduleForm:
    """The scheduling form, its choices the built-in check-ins and the therapist's own."""
    form = ScheduleForm(formdata=formdata) if formdata is not None else ScheduleForm()
    form.questionnaire.choices = [SelectChoice("", "Choose a check-in")] + [
        SelectChoice(str(q.id), q.title) for q in services.visible_to_staff(get_db(), current_user)
    ]
    if form.start_date.data is None and formdata is None:
        form.start_date.data = local_today(current_user.timezone)
    return form


@bp.get("/checkins")
@staff_required
def index():
    db = get_db()
    return render_page(
        "checkins/staff_index.html",
        questionnaires=services.visible_to_staff(db, current_user),
        groups=access.my_groups(db, current_user.id),
        active="checkins",
    )


@bp.get("/checkins/<int:questionnaire_id>")
@staff_required
def questionnaire(questionnaire_id: int):
    q = load_or_404(QUESTIONNAIRE, questionnaire_id)
    return render_page(
        "checkins/questionnaire.html", questionnaire=q, spec=forms.form_for(q), active="checkins"
    )


@bp.route("/checkins/new", methods=["GET", "POST"])
@staff_required
def new_questionnaire():
    return _questionnaire_form(None, "The check-in is ready to schedule.")


@bp.route("/checkins/<int:questionnaire_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_questionnaire(questionnaire_id: int):
    q = load_or_404(QUESTIONNAIRE, questionnaire_id, Action.change)
    return _questionnaire_form(q, "Your changes are saved.")


def _questionnaire_form(q, saved: str):
    form = QuestionnaireForm(obj=q)
    if form.validate_on_submit():
        try:
            q = services.save_questionnaire(
                get_db(),
                staff=current_user,
                questionnaire=q,
                title=form.title.data,
                questions=form.questions.data,
            )
        except services.CheckinError as exc:
            form.questions.errors = [str(exc)]
        else:
            flash(saved)
            return redirect(url_for("checkins_staff.questionnaire", questionnaire_id=q.id), 303)
    return render_page(
        "checkins/questionnaire_form.html",
        form=form,
        questionnaire=q,
        status=form_status(),
        active="checkins",
    )


def _schedule(form: ScheduleForm, *, participant=None, group=None) -> bool:
    """Schedule from a posted form; False (with the form's errors set) when refused."""
    if not form.validate_on_submit():
        return False
    q = load_or_404(QUESTIONNAIRE, form.questionnaire.data)
    try:
        services.schedule(
            get_db(),
            therapist=current_user,
            questionnaire=q,
            participant=participant,
            group=group,
            every_weeks=form.every_weeks.data,
            start_date=form.start_date.data,
        )
    except services.CheckinError as exc:
        form.every_weeks.errors = [str(exc)]
        return False
    who = participant.first_name if participant else f"everyone in {group.name}"
    flash(f"{q.title} scheduled for {who}, {dict(SCHEDULE_WORDS)[form.every_weeks.data]}.")
    return True


SCHEDULE_WORDS = [(1, "every week"), (2, "every 2 weeks"), (4, "every 4 weeks")]


@bp.post("/participants/<int:participant_id>/checkins")
@staff_required
def schedule_for_participant(participant_id: int):
    person = load_or_404(access.PARTICIPANT, participant_id, Action.change)
    form = schedule_form(formdata=request.form)
    if _schedule(form, participant=person):
        return redirect(
            url_for("dashboard.participant", participant_id=person.id, _anchor="checkins-heading"),
            303,
        )
    audit_event("staff_read", subject_id=person.id, detail="check-in schedule form")
    return render_page(
        "checkins/schedule_participant.html",
        form=form,
        person=person,
        status=422,
        active="participants",
    )


@bp.route("/groups/<int:group_id>/checkins", methods=["GET", "POST"])
@staff_required
def group(group_id: int):
    grp = load_or_404(access.GROUP, group_id, Action.change)
    form = schedule_form(formdata=request.form if request.method == "POST" else None)
    if request.method == "POST" and _schedule(form, group=grp):
        return redirect(url_for("checkins_staff.group", group_id=grp.id), 303)
    return render_page(
        "checkins/group.html",
        group=grp,
        form=form,
        schedules=services.schedules_of(get_db(), group_id=grp.id),
        stop_form=StopForm(),
        status=form_status(),
        active="checkins",
    )


@bp.post("/checkins/schedules/<int:schedule_id>/stop")
@staff_required
def stop(schedule_id: int):
    schedule = load_or_404(SCHEDULE, schedule_id, Action.change)
    form = StopForm()
    if form.validate_on_submit():
        services.stop(get_db(), schedule=schedule, by=current_user)
        flash("The check-in is stopped. Answers already given are kept.")
    target = safe_next(form.next.data)
    if target is None:
        target = (
            url_for("dashboard.participant", participant_id=schedule.participant_id)
            if schedule.participant_id
            else url_for("checkins_staff.group", group_id=schedule.group_id)
        )
    return redirect(target, 303)
