"""The therapist's dashboard: caseload, a participant's page, invitations, groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import segno
from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from iop_pwa import access, dates, mail
from iop_pwa.access import Action, load_or_404
from iop_pwa.accounts import lifecycle, links
from iop_pwa.accounts import services as accounts
from iop_pwa.accounts import sessions as login_sessions
from iop_pwa.accounts.forms import EmailLinkForm, InvitationForm
from iop_pwa.accounts.models import Invitation, ParticipantStatus
from iop_pwa.accounts.recent_auth import recent_auth_required, this_login
from iop_pwa.dashboard import services
from iop_pwa.dashboard.forms import ConfirmForm, DischargeForm, ReadmitForm
from iop_pwa.dates import date_ as format_date
from iop_pwa.db import get_db, utcnow
from iop_pwa.extensions import htmx
from iop_pwa.features import RANK_SAFETY, render_sections
from iop_pwa.safety import CARE_FLAG, mark_seen, open_flags_for
from iop_pwa.security import audit_event, audit_staff_list
from iop_pwa.web import local_now, local_today, render_page, safe_next, staff_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# A raw invitation token is kept, sealed, for the therapist's sign-in session on the server
# (`login_sessions.keep_secret`: deleted with the session, the newest 20 kept), to show the link
# (and its QR code) again on the invitation's page on the device that made it; the invitation
# row holds only its hash. Never in the session cookie: that is only signed, so anyone holding
# it can read it.
SHOWN_LINKS_KEY = "invitation"
# Sign-in links made for participants, the same way (keyed by the participant's id).
SHOWN_SIGN_IN_LINKS_KEY = "sign_in_link"


def _remember_link(object_id: int, token: str, key: str = SHOWN_LINKS_KEY) -> None:
    login_sessions.keep_secret(get_db(), this_login(), f"{key}:{object_id}", token)


def _shown_link(object_id: int, key: str = SHOWN_LINKS_KEY) -> str | None:
    """The token this device made for the object, while its sign-in session lasts."""
    return login_sessions.secret(get_db(), this_login(), f"{key}:{object_id}")


def _forget_link(object_id: int, key: str = SHOWN_LINKS_KEY) -> None:
    login_sessions.forget_secret(get_db(), this_login(), f"{key}:{object_id}")


def _absolute_url(endpoint: str, token: str) -> str:
    base = current_app.config["PUBLIC_URL"]
    path = url_for(endpoint, token=token)
    return f"{base}{path}" if base else url_for(endpoint, token=token, _external=True)


def _join_url(token: str) -> str:
    return _absolute_url("accounts.accept_invitation", token)


def _qr_svg(url: str, title: str = "QR code of the invitation link") -> Markup:
    """The link as an inline SVG QR code (dark on light, so phones read it in dark mode too)."""
    qr = segno.make(url, error="m")
    svg = qr.svg_inline(scale=5, dark="#111111", light="#ffffff", border=3, title=title)
    return Markup(svg)  # noqa: S704 - segno's own SVG, the URL is encoded as modules


REFRESH_SECONDS = 60  # the dashboard's list refreshes itself this often while visible


def _home_context(db) -> dict:
    now = utcnow()
    found = services.sorted_caseload(db, current_user.id, now)
    audit_staff_list("dashboard", len(found.active) + len(found.alumni))
    return {
        "ago": lambda then: dates.ago(then, now, current_user.timezone),
        "caseload": found,
        "active_count": sum(
            1 for r in found.active if r.participant.status == ParticipantStatus.active
        ),
        "alumni_count": found.alumni_count,
        "now": now,
        "refresh_seconds": REFRESH_SECONDS,
        "rank_safety": RANK_SAFETY,
    }


@bp.get("")
@staff_required
def home():
    db = get_db()
    return render_page(
        "dashboard/home.html",
        invitations=services.open_invitations(db, current_user.id),
        **_home_context(db),
    )


@bp.get("/caseload")
@staff_required
def caseload():
    """The caseload lists alone (the dashboard swaps them in every minute while it is seen);
    the dashboard itself for anyone who opens the address."""
    if not htmx:
        return redirect(url_for("dashboard.home"), 303)
    return render_page("dashboard/home.html", block="caseload", **_home_context(get_db()))


@bp.get("/participants")
@staff_required
def participants():
    db = get_db()
    rows = services.caseload(db, current_user.id)
    audit_staff_list("participants", len(rows))
    return render_page("dashboard/participants.html", rows=rows)


def _read_record(participant_id: int, purpose: str, action: Action = Action.view):
    """The participant's record if on the caseload (else audited 404); the read is audited."""
    person = load_or_404(access.PARTICIPANT, participant_id, action)
    audit_event(
        "staff_read",
        subject_id=person.id,
        object_type="participant",
        object_id=person.id,
        detail=purpose,
    )
    return person


@bp.get("/participants/<int:participant_id>")
@staff_required
def participant(participant_id: int):
    person = _read_record(participant_id, "view_record")
    db = get_db()
    return render_page(
        "dashboard/participant.html",
        person=person,
        groups=accounts.groups_of(db, person),
        flags=open_flags_for(db, [person.id]).get(person.id, []),
        needs=services.needs_of(db, person),
        rank_safety=RANK_SAFETY,
        timeline=services.timeline(db, person=person),
        quick_actions=services.quick_actions(db, person),
        sections=render_sections("participant_page", db=db, person=person),
        local_time=local_now(person.timezone),
    )


@bp.get("/participants/<int:participant_id>/timeline")
@staff_required
def timeline(participant_id: int):
    """Older entries of the participant's timeline ("Show older"), as a fragment: those before
    `before` (an ISO time), or the newest without it."""
    person = _read_record(participant_id, "view_timeline")
    raw = request.args.get("before", "").replace(" ", "+")  # a "+" sent unencoded
    before = None
    if raw:
        try:
            before = datetime.fromisoformat(raw)
        except ValueError:
            return "Choose a point in the timeline.", 400
        if before.tzinfo is None:
            before = before.replace(tzinfo=UTC)
    page = services.timeline(get_db(), person=person, before=before)
    return render_block(
        "dashboard/participant.html", "timeline_page", person=person, timeline=page, older_page=True
    )


# --- A participant's place in the program: discharge, re-admission, deactivation ----------------


def _alumni_choices(db) -> list[SelectChoice]:
    return [SelectChoice(str(g.id), g.name) for g in lifecycle.alumni_groups(db)]


@bp.route("/participants/<int:participant_id>/discharge", methods=["GET", "POST"])
@staff_required
def discharge(participant_id: int):
    """Discharge to alumni: the date (today by default) and, before the button, what will
    happen. One route for both methods, so an unknown id answers 404 to either."""
    person = _read_record(participant_id, "discharge", Action.change)
    db = get_db()
    back = url_for("dashboard.participant", participant_id=person.id)
    if person.status != ParticipantStatus.active:
        flash(f"{person.name} is not in the program now, so there is no one to discharge.")
        return redirect(back, 303)
    today = local_today(person.timezone)
    form = DischargeForm() if request.method == "POST" else DischargeForm(day=today)
    form.alumni_group.choices = _alumni_choices(db)
    if form.validate_on_submit() and _discharge_day_fits(form, person, today):
        chosen, choices = form.alumni_group.data, form.alumni_group.choices
        if not chosen and len(choices) == 1:
            chosen = choices[0].value  # the program's one alumni group: the page says so
        group = load_or_404(access.ALUMNI_GROUP, chosen) if chosen else None
        if group is None and choices:
            # Several alumni groups and none chosen: never "join none" by accident.
            form.alumni_group.errors = ["Choose the alumni group they join."]
            return _discharge_page(db, person, form)
        try:
            lifecycle.discharge(
                db, person=person, day=form.day.data, by=current_user, alumni_group=group
            )
        except accounts.AccountError as exc:
            form.alumni_group.errors = [str(exc)]
        else:
            flash(
                f"{person.name} is now alumni, from {format_date(form.day.data)}"
                + (f", in {group.name}." if group else ".")
            )
            return redirect(back, 303)
    return _discharge_page(db, person, form)


def _discharge_page(db, person, form: DischargeForm):
    """The confirmation step; with several alumni groups the therapist chooses one below, so
    the preview names none of them."""
    groups = lifecycle.alumni_groups(db)
    return render_page(
        "dashboard/discharge.html",
        person=person,
        form=form,
        happens=lifecycle.preview(
            db, person=person, alumni_group=groups[0] if len(groups) == 1 else None
        ),
        alumni_groups=groups,
        status=422 if request.method == "POST" else 200,
        active="participants",
    )


def _discharge_day_fits(form: DischargeForm, person, today) -> bool:
    day, joined = form.day.data, lifecycle.joined_on(person)
    if day > today:
        form.day.errors = [
            f"The discharge date can't be in the future: {format_date(today)} at the latest."
        ]
    elif day < joined:
        form.day.errors = [
            f"The discharge date can't be before {person.first_name} joined, "
            f"on {format_date(joined)}."
        ]
    return not form.day.errors


@bp.route("/participants/<int:participant_id>/readmit", methods=["GET", "POST"])
@staff_required
def readmit(participant_id: int):
    """Re-admit an alumni participant to the program, into a group the therapist facilitates."""
    person = _read_record(participant_id, "readmit", Action.change)
    db = get_db()
    back = url_for("dashboard.participant", participant_id=person.id)
    if person.status != ParticipantStatus.alumni:
        flash(f"{person.name} is not alumni, so there is nothing to re-admit.")
        return redirect(back, 303)
    form = ReadmitForm()
    form.group.choices = [SelectChoice("", "Choose a group")] + [
        SelectChoice(str(g.id), g.name)
        for g in access.my_groups(db, current_user.id)
        if access.may_belong_to(ParticipantStatus.active, g)
    ]
    if form.validate_on_submit():
        group = load_or_404(access.GROUP, form.group.data, Action.change)
        try:
            lifecycle.readmit(db, person=person, group=group, by=current_user)
        except accounts.AccountError as exc:
            form.group.errors = [str(exc)]
        else:
            flash(f"{person.name} is back in the program, in {group.name}.")
            return redirect(back, 303)
    return render_page(
        "dashboard/readmit.html",
        person=person,
        form=form,
        status=422 if request.method == "POST" else 200,
        active="participants",
    )


@bp.post("/participants/<int:participant_id>/deactivate")
@staff_required
@recent_auth_required
def deactivate(participant_id: int):
    person = _read_record(participant_id, "deactivate", Action.change)
    if ConfirmForm().validate_on_submit():
        lifecycle.deactivate(get_db(), person=person, by=current_user)
        flash(f"{person.name} can no longer sign in. Their record stays here.")
    return redirect(url_for("dashboard.participant", participant_id=person.id), 303)


@bp.post("/participants/<int:participant_id>/reactivate")
@staff_required
def reactivate(participant_id: int):
    # A deactivated record can still be read, and reopened: a view-level rule.
    person = _read_record(participant_id, "reactivate")
    if ConfirmForm().validate_on_submit():
        lifecycle.reactivate(get_db(), person=person, by=current_user)
        flash(f"{person.name} can sign in again.")
    return redirect(url_for("dashboard.participant", participant_id=person.id), 303)


@bp.route("/participants/<int:participant_id>/sign-in-link", methods=["GET", "POST"])
@staff_required
def sign_in_link(participant_id: int):
    """The "Send a sign-in link" button (POST): a single-use link that lets a participant who
    forgot their password choose a new one, replacing any link made before. The page (GET)
    shows it with its QR code on the device that made it, while it is open. One route for both,
    so an id too large for the database answers 404 to either method, not 405."""
    if request.method == "POST":
        person = load_or_404(access.PARTICIPANT, participant_id, Action.change)
        _, token = links.create_link(get_db(), user=person, created_by=current_user)
        audit_event(
            "sign_in_link_created",
            subject_id=person.id,
            object_type="participant",
            object_id=person.id,
        )
        _remember_link(person.id, token, SHOWN_SIGN_IN_LINKS_KEY)
        return redirect(url_for("dashboard.sign_in_link", participant_id=person.id), 303)
    person = _read_record(participant_id, "sign_in_link", Action.change)
    token = _shown_link(person.id, SHOWN_SIGN_IN_LINKS_KEY)
    found = links.find_open_link(get_db(), token) if token else None
    link = found[0] if found is not None and found[1].id == person.id else None
    url = _absolute_url("accounts.use_sign_in_link", token) if link else None
    return render_page(
        "dashboard/sign_in_link.html",
        person=person,
        link=link,
        url=url,
        qr=_qr_svg(url, "QR code of the sign-in link") if url else None,
    )


def _invitation_form() -> InvitationForm:
    """The invitation form; its groups are only those the therapist facilitates."""
    form = InvitationForm()
    form.group.choices = [SelectChoice("", "No group")] + [
        SelectChoice(str(g.id), g.name)
        for g in access.my_groups(get_db(), current_user.id)
        if access.may_belong_to(ParticipantStatus.active, g)  # someone new joins a cohort
    ]
    return form


@bp.get("/invitations")
@staff_required
def invitations():
    return render_page(
        "dashboard/invitations.html",
        form=_invitation_form(),
        invitations=services.open_invitations(get_db(), current_user.id),
        now=utcnow(),
    )


@bp.post("/invitations")
@staff_required
def create_invitation():
    db = get_db()
    form = _invitation_form()
    if form.validate_on_submit():
        try:
            group = None
            if form.new_group.data and form.new_group.data.strip():
                group = accounts.start_group(db, name=form.new_group.data, by=current_user)
            elif form.group.data:
                group = load_or_404(access.GROUP, form.group.data, Action.change)
            invitation, token = accounts.create_invitation(
                db,
                therapist=current_user,
                name=form.name.data,
                email=form.email.data or None,
                group=group,
                valid_for=_valid_for(),
            )
        except accounts.GroupNameTaken as exc:
            form.new_group.errors = [str(exc)]
        except accounts.AccountError as exc:
            form.email.errors = [str(exc)]
        else:
            audit_event("invitation_created", object_type="invitation", object_id=invitation.id)
            _remember_link(invitation.id, token)
            return redirect(url_for("dashboard.invitation", invitation_id=invitation.id), 303)
    return render_page(
        "dashboard/invitations.html",
        form=form,
        invitations=services.open_invitations(db, current_user.id),
        now=utcnow(),
        status=422,
    )


def _valid_for() -> timedelta:
    return timedelta(days=current_app.config["INVITATION_DAYS"])


def _own_invitation(invitation_id: int) -> Invitation:
    return load_or_404(access.INVITATION, invitation_id, Action.change)


@bp.get("/invitations/<int:invitation_id>")
@staff_required
def invitation(invitation_id: int):
    return _invitation_page(_own_invitation(invitation_id))


def _invitation_page(inv: Invitation, email_form: EmailLinkForm | None = None, status=200):
    token = _shown_link(inv.id)
    link = _join_url(token) if token and inv.state(utcnow()) == "pending" else None
    if email_form is None and mail.enabled():
        email_form = EmailLinkForm(email=inv.email)
    return render_page(
        "dashboard/invitation.html",
        invitation=inv,
        state=inv.state(utcnow()),
        link=link,
        qr=_qr_svg(link) if link else None,
        email_form=email_form,
        status=status,
    )


@bp.post("/invitations/<int:invitation_id>/email")
@staff_required
def email_invitation(invitation_id: int):
    """The "Email the link" form, where mail is set up: the worker emails the invitation a new
    link (the one shown here stops working at once)."""
    inv = _own_invitation(invitation_id)
    back = redirect(url_for("dashboard.invitation", invitation_id=inv.id), 303)
    if not mail.enabled():
        flash("Email is not set up for this program. Show the QR code or send the link.")
        return back
    if inv.state(utcnow()) != "pending":
        flash("This invitation is no longer open. Make a new link first.")
        return back
    form = EmailLinkForm()
    db = get_db()
    valid = form.validate_on_submit()
    if valid and accounts.find_user_by_email(db, form.email.data):
        form.email.errors = ["Someone already has an account with that email."]
        valid = False
    if not valid:
        return _invitation_page(inv, email_form=form, status=422)
    inv.email = accounts.normalize_email(form.email.data)
    # The link shown so far stops working now; the worker makes the one it emails.
    accounts.renew_invitation_link(db, invitation=inv, valid_for=_valid_for())
    mail.queue(db, purpose="invitation_link", invitation_id=inv.id)
    _forget_link(inv.id)
    audit_event("invitation_email_queued", object_type="invitation", object_id=inv.id)
    flash(f"A new link is on its way to {inv.email}. The link shown before no longer works.")
    return back


@bp.post("/invitations/<int:invitation_id>/renew")
@staff_required
def renew_invitation(invitation_id: int):
    inv = _own_invitation(invitation_id)
    db = get_db()
    try:
        token = accounts.renew_invitation_link(db, invitation=inv, valid_for=_valid_for())
    except accounts.AccountError as exc:
        flash(str(exc))
    else:
        audit_event("invitation_renewed", object_type="invitation", object_id=inv.id)
        _remember_link(inv.id, token)
        flash("A new link is ready. The old link no longer works.")
    return redirect(url_for("dashboard.invitation", invitation_id=inv.id), 303)


@bp.post("/invitations/<int:invitation_id>/revoke")
@staff_required
def revoke_invitation(invitation_id: int):
    inv = _own_invitation(invitation_id)
    db = get_db()
    if inv.accepted_at is None:
        inv.revoked_at = utcnow()
        db.add(inv)
        audit_event("invitation_revoked", object_type="invitation", object_id=inv.id)
        flash("The invitation is cancelled; its link no longer works.")
    return redirect(url_for("dashboard.invitations"), 303)


@bp.post("/flags/<int:flag_id>/seen")
@staff_required
def flag_seen(flag_id: int):
    """A therapist marks a safety flag as seen (after reaching out); it leaves the dashboard."""
    db = get_db()
    flag = load_or_404(CARE_FLAG, flag_id, Action.change)
    mark_seen(db, flag=flag, therapist_id=current_user.id)
    flash("Marked as seen.")
    return redirect(safe_next(request.form.get("next")) or url_for("dashboard.home"), 303)


@bp.get("/groups")
@staff_required
def groups():
    return render_page("dashboard/groups.html", rows=accounts.groups_for(get_db(), current_user.id))
