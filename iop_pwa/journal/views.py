"""The participant's Journal: write, read, search, edit, delete; mood check-ins; mood over time."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from iop_pwa.access import Action, load_or_404
from iop_pwa.db import get_db
from iop_pwa.extensions import htmx
from iop_pwa.journal import charts, services
from iop_pwa.journal.forms import CheckinForm, EditEntryForm, EntryForm, FilterForm
from iop_pwa.journal.models import MOODS
from iop_pwa.journal.policies import JOURNAL_ENTRY
from iop_pwa.practice import services as practice
from iop_pwa.pwa import outbox
from iop_pwa.pwa.device_write import valid_client_id, when_written
from iop_pwa.web import form_status, local_today, participant_required, render_page

bp = Blueprint("journal", __name__, url_prefix="/journal")

CRISIS = "crisis"  # flash category: show crisis resources on the next page


def _skip() -> int:
    return request.args.get("skip", 0, type=int) % len(services.prompts())


def _journal_page(form: EntryForm | None = None, status: int = 200, block: str = "content"):
    db = get_db()
    today = local_today(current_user.timezone)
    filters_form = FilterForm(request.args)
    filters = services.Filters()
    page = 1
    if filters_form.validate():
        filters = services.Filters(
            q=(filters_form.q.data or "").strip(),
            mood=filters_form.mood.data,
            feeling=filters_form.feeling.data or "",
            date_from=filters_form.date_from.data,
            date_to=filters_form.date_to.data,
        )
        page = filters_form.page.data or 1
    entries, total = services.list_entries(db, user=current_user, filters=filters, page=page)
    skip = _skip()
    _, prompt = services.prompt_for(today, skip)
    if form is None:
        form = EntryForm(prompt=prompt)
    return render_page(
        "journal/index.html",
        form=form,
        prompt=form.prompt.data or prompt,
        next_skip=skip + 1,
        filters_form=filters_form,
        filters=filters,
        entries=entries,
        total=total,
        page=page,
        pages=max(1, -(-total // services.PAGE_SIZE)),
        status=status,
        block=block,
    )


@bp.get("")
@participant_required
@outbox.keep_offline
def index():
    """The journal: the form for a new entry, then the entries (only the list for htmx filters)."""
    block = "entries" if htmx and htmx.target == "journal-entries" else "content"
    return _journal_page(block=block)


@bp.post("")
@participant_required
def create():
    form = EntryForm()
    if not form.validate_on_submit():
        return outbox.invalid(
            form.client_id.data, form.errors, lambda: _journal_page(form=form, status=422)
        )
    db = get_db()
    result = services.save_entry(
        db,
        user=current_user,
        client_id=valid_client_id(form.client_id.data),
        mood=form.mood.data,
        feelings=form.feelings.data,
        own_words=form.own_words.data or "",
        prompt=form.prompt.data or None,
        body=form.body.data or "",
        shared=form.shared.data,
        written_at=when_written(form.written_at.data),
    )
    _crisis_message(result.crisis, result.entry.shared)
    return outbox.saved(result.entry.client_id, url_for("journal.index"), "Your entry is saved.")


def _crisis_message(crisis: bool, shared: bool) -> None:
    """Crisis resources on the next page the person sees, however the write arrived."""
    if crisis:
        flash("shared" if shared else "private", CRISIS)


@bp.post("/checkin")
@participant_required
def checkin():
    """The one-tap mood check-in on Today: an entry without text."""
    form = CheckinForm()
    if not form.validate_on_submit():
        if htmx:
            return render_page("journal/_checkin.html", form=form, status=422, block="checkin")

        def page():
            flash("Choose how you are feeling, then tap Save check-in.")
            return redirect(url_for("participant.today"), 303)

        return outbox.invalid(form.client_id.data, form.errors, page)
    db = get_db()
    result = services.save_entry(
        db,
        user=current_user,
        kind="checkin",
        client_id=valid_client_id(form.client_id.data),
        mood=form.mood.data,
        own_words=form.own_words.data or "",
        written_at=when_written(form.written_at.data),
    )
    if htmx:
        return render_page(
            "journal/_checkin.html",
            saved=result.entry,
            crisis=result.crisis,
            form=CheckinForm(),
            block="checkin",
        )
    _crisis_message(result.crisis, False)
    return outbox.saved(
        result.entry.client_id,
        url_for("participant.today"),
        f"Check-in saved: {result.entry.mood_word}.",
    )


@bp.get("/<int:entry_id>")
@participant_required
def show(entry_id: int):
    entry = load_or_404(JOURNAL_ENTRY, entry_id)
    return render_page("journal/entry.html", entry=entry)


@bp.route("/<int:entry_id>/edit", methods=["GET", "POST"])
@participant_required
def edit(entry_id: int):
    entry = load_or_404(JOURNAL_ENTRY, entry_id, Action.change)
    form = EditEntryForm(
        data={
            "mood": entry.mood,
            "feelings": entry.feeling_list,
            "own_words": entry.own_words,
            "body": entry.body,
            "shared": entry.shared,
        }
    )
    if form.validate_on_submit():
        db = get_db()
        crisis = services.update_entry(
            db,
            entry=entry,
            mood=form.mood.data,
            feelings=form.feelings.data,
            own_words=form.own_words.data or "",
            body=form.body.data or "",
            shared=form.shared.data,
        )
        _crisis_message(crisis, entry.shared)
        flash("Your changes are saved.")
        return redirect(url_for("journal.show", entry_id=entry.id), 303)
    status = form_status()
    return render_page("journal/edit.html", entry=entry, form=form, status=status)


@bp.route("/<int:entry_id>/delete", methods=["GET", "POST"])
@participant_required
def delete(entry_id: int):
    """Asks once, then really deletes."""
    entry = load_or_404(JOURNAL_ENTRY, entry_id, Action.change)
    if request.method == "POST":
        db = get_db()
        db.delete(entry)
        flash("The entry is deleted.")
        return redirect(url_for("journal.index"), 303)
    return render_page("journal/delete.html", entry=entry)


@bp.get("/mood")
@participant_required
def mood():
    days = request.args.get("days", 30, type=int)
    if days not in (30, 90):
        abort(404)
    today = local_today(current_user.timezone)
    db = get_db()
    done = practice.completions_for(
        db, participant_id=current_user.id, start=today - timedelta(days=days), end=today
    )
    series = services.mood_days(
        db, user=current_user, today=today, days=days, practised=frozenset(day for _, day in done)
    )
    return render_page(
        "journal/mood.html",
        days=days,
        series=series,
        chart=charts.mood_chart(series),
        summary=services.mood_summary(series),
        moods=MOODS,
    )
