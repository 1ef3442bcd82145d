"""The participant's Check-ins: what is due, answering (offline too), scores over time."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, request, url_for
from flask_login import current_user

from iop_pwa.access import load_or_404
from iop_pwa.checkins import charts, services
from iop_pwa.checkins import questionnaires as forms
from iop_pwa.checkins.forms import answer_form
from iop_pwa.checkins.policies import QUESTIONNAIRE
from iop_pwa.db import get_db
from iop_pwa.pwa import outbox
from iop_pwa.pwa.device_write import valid_client_id, when_written
from iop_pwa.web import local_today, participant_required, render_page

bp = Blueprint("checkins", __name__, url_prefix="/checkins")

CRISIS = "crisis"  # flash category: base.html shows the crisis panel on the next page


@bp.get("")
@participant_required
@outbox.keep_offline
def index():
    """What is due, then each check-in's scores as a chart with a table (two or three queries)."""
    db = get_db()
    today = local_today(current_user.timezone)
    series = services.history(db, participant_id=current_user.id)
    latest = max((s for s in series), key=lambda s: s.answers[-1].received_at, default=None)
    return render_page(
        "checkins/index.html",
        plans=services.plans_for(db, current_user, today),
        series=series,
        charts={
            s.questionnaire.id: charts.score_chart(s, f"chart-{s.questionnaire.id}") for s in series
        },
        latest=latest,
        latest_words=latest.form.words(latest.answers[-1].score, latest.answers[-1].band)
        if latest
        else "",
        active="today",
    )


def _plan(questionnaire_id: int):
    db = get_db()
    for plan in services.plans_for(db, current_user, local_today(current_user.timezone)):
        if plan.questionnaire.id == questionnaire_id:
            return plan
    return None


def _answer_page(questionnaire, form=None, status: int = 200):
    plan = _plan(questionnaire.id)
    spec = forms.form_for(questionnaire)
    if form is None and plan is not None and plan.due:
        form = answer_form(spec, due_on=plan.current.isoformat())
    return render_page(
        "checkins/answer.html",
        questionnaire=questionnaire,
        spec=spec,
        plan=plan,
        form=form,
        status=status,
        active="today",
    )


@bp.route("/<int:questionnaire_id>", methods=["GET", "POST"])
@participant_required
@outbox.keep_offline
def answer(questionnaire_id: int):
    """The check-in's form (kept on the phone to answer offline), and its answers arriving."""
    questionnaire = load_or_404(QUESTIONNAIRE, questionnaire_id)
    if request.method == "GET":
        return _answer_page(questionnaire)
    spec = forms.form_for(questionnaire)
    form = answer_form(spec)
    if not form.validate_on_submit():
        return outbox.invalid(
            form.client_id.data, form.errors, lambda: _answer_page(questionnaire, form, 422)
        )
    db = get_db()
    try:
        result = services.save_answer(
            db,
            participant=current_user,
            questionnaire=questionnaire,
            due_on=date.fromisoformat(form.due_on.data.strip()),
            values=[f.data for f in form.item_fields],
            client_id=valid_client_id(form.client_id.data),
            answered_at=when_written(form.written_at.data),
        )
    except services.CheckinError as exc:
        form.due_on.errors = [str(exc)]
        return outbox.invalid(
            form.client_id.data,
            {"due_on": [str(exc)]},
            lambda: _answer_page(questionnaire, form, 422),
        )
    if result.crisis and (not outbox.from_outbox() or outbox.in_foreground()):
        flash("shared", CRISIS)  # the care team is told: the panel says so
    # The score and its words are on the Check-ins page this leads to (also after a sync).
    title = questionnaire.title
    message = (
        f"Thank you. Your {title} answers are saved."
        if result.created
        else f"You had already answered this {title}: your first answer is kept."
    )
    return outbox.saved(result.answer.client_id, url_for("checkins.index"), message)
