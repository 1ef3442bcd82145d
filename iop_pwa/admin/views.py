"""Admin pages: therapist accounts (also possible with `flask users create`), groups with
their facilitators (a therapist may use only the groups they facilitate) and their kind (a
cohort or an alumni group), the crisis lines and the program's own contact shown on the help
page, and the audit log.

Who may change whom: an admin manages therapists (correct, deactivate, reactivate, reset the
second factor) and makes active therapists facilitators. No admin is ever a facilitator (a
facilitator reads the group's whole history and its reported messages), and no admin page
changes an admin: an admin changes their own account on Account (a second factor only with the
current one), and an operator with the server resets a locked-out admin's second factor with
`flask users reset-second-factor` (audited). Any other admin's id answers 404 here, audited."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlmodel import col, func, select

from iop_pwa import access
from iop_pwa.access import parse_id
from iop_pwa.accounts import second_factor, services
from iop_pwa.accounts.forms import FacilitatorForm, GroupForm, TherapistForm
from iop_pwa.accounts.models import Group, GroupKind, GroupMembership, ParticipantStatus, Role, User
from iop_pwa.accounts.recent_auth import recent_auth_required
from iop_pwa.accounts.sessions import end_other_sessions
from iop_pwa.admin import audit_log
from iop_pwa.admin.forms import (
    AuditFilterForm,
    CrisisResourceForm,
    GroupEditForm,
    ProgramContactForm,
    TherapistEditForm,
)
from iop_pwa.db import get_db
from iop_pwa.safety import program, resources
from iop_pwa.security import audit_event
from iop_pwa.web import admin_required, form_status, render_page

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(form: TherapistForm, status: int = 200):
    therapists = _staff(get_db())
    return render_page("admin/therapists.html", form=form, therapists=therapists, status=status)


@bp.get("/therapists")
@admin_required
def therapists():
    return _page(TherapistForm())


@bp.post("/therapists")
@admin_required
def create_therapist():
    form = TherapistForm()
    if form.validate_on_submit():
        db = get_db()
        try:
            user = services.create_user(
                db,
                role=Role.therapist,
                email=form.email.data,
                password=form.password.data,
                name=form.name.data,
                timezone=form.timezone.data,
                must_change_password=True,  # the admin knows it: the therapist chooses their own
            )
        except services.AccountError as exc:
            form.email.errors = [str(exc)]
        else:
            audit_event("therapist_created", object_type="user", object_id=user.id)
            flash(
                f"{user.name} can now sign in as a therapist, and will choose their own password "
                "at first sign-in."
            )
            return redirect(url_for("admin.therapists"), 303)
    return _page(form, status=422)


# --- Groups and facilitators --------------------------------------------------------------------


def _staff(db) -> list[User]:
    return list(
        db.exec(
            select(User)
            .where(col(User.role).in_([Role.therapist, Role.admin]))
            .order_by(func.lower(User.name))
        )
    )


def _staff_choices(db) -> list[tuple[str, str]]:
    """Who can be made a facilitator: active therapists (never an admin)."""
    return [("", "Choose a therapist")] + [
        (str(u.id), u.name) for u in _staff(db) if services.may_facilitate(u)
    ]


def _groups_page(form: GroupForm | None = None, status: int = 200, edit_errors=None):
    db = get_db()
    form = form or GroupForm()
    form.facilitator.choices = _staff_choices(db)
    members = func.count(GroupMembership.id).filter(~col(GroupMembership.is_facilitator))
    rows = db.exec(
        select(Group, members)
        .outerjoin(GroupMembership, col(GroupMembership.group_id) == Group.id)
        .group_by(col(Group.id))
        .order_by(func.lower(Group.name), col(Group.id))
    ).all()
    add_form = FacilitatorForm()
    add_form.facilitator.choices = form.facilitator.choices
    edit_forms = {
        group.id: (edit_errors or {}).get(group.id)
        or GroupEditForm(prefix=f"group-{group.id}", obj=group, formdata=None)
        for group, _ in rows
    }
    return render_page(
        "admin/groups.html",
        rows=rows,
        edit_forms=edit_forms,
        facilitators=services.facilitators(db),
        form=form,
        add_form=add_form,
        status=status,
    )


def _group_or_404(group_id: int) -> Group:
    group = get_db().get(Group, group_id)
    if group is None:
        abort(404)
    return group


def _therapist_or_none(value) -> User | None:
    """The therapist (never an admin, nor a participant) of an id from a form or the path."""
    user = get_db().get(User, parse_id(value)) if parse_id(value) else None
    return user if user is not None and user.role == Role.therapist else None


def _facilitator_or_none(value) -> User | None:
    """Someone who can be made a facilitator now: an active therapist."""
    user = _therapist_or_none(value)
    return user if user is not None and services.may_facilitate(user) else None


@bp.get("/groups")
@admin_required
def groups():
    return _groups_page()


@bp.post("/groups")
@admin_required
def create_group():
    db = get_db()
    form = GroupForm()
    form.facilitator.choices = _staff_choices(db)
    if form.validate_on_submit():
        therapist = _facilitator_or_none(form.facilitator.data)
        group = Group(name=" ".join(form.name.data.split()))
        db.add(group)
        db.flush()
        services.set_facilitator(db, group=group, therapist=therapist, on=True, by=current_user)
        flash(f"{group.name} is ready; {therapist.name} facilitates it.")
        return redirect(url_for("admin.groups"), 303)
    return _groups_page(form, status=422)


@bp.post("/groups/<int:group_id>/facilitators")
@admin_required
def add_facilitator(group_id: int):
    group = _group_or_404(group_id)
    db = get_db()
    form = FacilitatorForm()
    form.facilitator.choices = _staff_choices(db)
    therapist = _facilitator_or_none(form.facilitator.data) if form.validate_on_submit() else None
    if therapist is None:
        flash("Choose a therapist to add.")
    else:
        services.set_facilitator(db, group=group, therapist=therapist, on=True, by=current_user)
        flash(f"{therapist.name} now facilitates {group.name}.")
    return redirect(url_for("admin.groups") + f"#group-{group.id}", 303)


@bp.post("/groups/<int:group_id>/facilitators/<int:user_id>/remove")
@admin_required
def remove_facilitator(group_id: int, user_id: int):
    """End anyone's facilitation (an admin made facilitator before the rule, too)."""
    group = _group_or_404(group_id)
    therapist = get_db().get(User, user_id)
    if therapist is None or not therapist.is_staff:
        abort(404)
    db = get_db()
    services.set_facilitator(db, group=group, therapist=therapist, on=False, by=current_user)
    flash(f"{therapist.name} no longer facilitates {group.name}.")
    return redirect(url_for("admin.groups") + f"#group-{group.id}", 303)


# --- The program's contact ----------------------------------------------------------------------


@bp.route("/program", methods=["GET", "POST"])
@admin_required
def program_contact():
    """The name, phone and hours the help page shows beside the crisis lines."""
    db = get_db()
    contact = program.get_contact(db)
    form = ProgramContactForm(obj=contact)
    if form.validate_on_submit():
        program.save_contact(
            db,
            by_id=current_user.id,
            name=form.name.data,
            phone=form.phone.data,
            hours=form.hours.data or "",
            message_hours=form.message_hours.data or "",
            alumni_message_hours=form.alumni_message_hours.data or "",
        )
        flash("Saved. The help page shows it to everyone, signed in or not.")
        return redirect(url_for("admin.program_contact"), 303)
    return render_page(
        "admin/program.html",
        form=form,
        contact=contact,
        active="admin-program",
        status=form_status(),
    )


# --- Therapists: correct, deactivate, reactivate ------------------------------------------------


def _therapist_or_404(user_id: int) -> User:
    """A therapist these pages may change; an admin (another, or oneself) or a participant
    answers 404, audited."""
    user = _therapist_or_none(user_id)
    if user is None:
        access.deny("user", user_id)
    return user


@bp.route("/therapists/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_therapist(user_id: int):
    db = get_db()
    user = _therapist_or_404(user_id)
    form = TherapistEditForm(obj=user)
    if form.validate_on_submit():
        other = services.find_user_by_email(db, form.email.data)
        if other is not None and other.id != user.id:
            form.email.errors = ["Someone else has an account with that email."]
        else:
            user.name = " ".join(form.name.data.split())
            user.email = services.normalize_email(form.email.data)
            db.add(user)
            audit_event("therapist_changed", object_type="user", object_id=user.id)
            flash(f"Saved {user.name}.")
            return redirect(url_for("admin.therapists"), 303)
    return render_page(
        "admin/therapist.html", user=user, form=form, active="therapists", status=form_status()
    )


@bp.post("/therapists/<int:user_id>/deactivate")
@admin_required
@recent_auth_required
def deactivate_therapist(user_id: int):
    """The therapist can no longer sign in (every device signed out); their groups, sessions
    and what they wrote stay. An admin cannot lock themself out."""
    if user_id == current_user.id:
        flash("You can't deactivate your own account.")
        return redirect(url_for("admin.therapists"), 303)
    user = _therapist_or_404(user_id)
    db = get_db()
    user.status = ParticipantStatus.deactivated
    db.add(user)
    end_other_sessions(db, user, None)
    audit_event("therapist_deactivated", object_type="user", object_id=user.id)
    flash(f"{user.name} can no longer sign in.")
    return redirect(url_for("admin.therapists"), 303)


@bp.post("/therapists/<int:user_id>/second-factor/reset")
@admin_required
@recent_auth_required
def reset_second_factor(user_id: int):
    """A therapist lost their phone: their app, recovery codes and passkeys go, every device
    is signed out, and they set a second factor up again at their next sign-in."""
    user = _therapist_or_404(user_id)
    db = get_db()
    second_factor.reset(db, user=user)
    end_other_sessions(db, user, None)
    audit_event("second_factor_reset", object_type="user", object_id=user.id)
    flash(f"{user.name}'s second factor is reset. They set it up again when they next sign in.")
    return redirect(url_for("admin.edit_therapist", user_id=user.id), 303)


@bp.post("/therapists/<int:user_id>/reactivate")
@admin_required
def reactivate_therapist(user_id: int):
    user = _therapist_or_404(user_id)
    db = get_db()
    user.status = ParticipantStatus.active
    db.add(user)
    audit_event("therapist_reactivated", object_type="user", object_id=user.id)
    flash(f"{user.name} can sign in again.")
    return redirect(url_for("admin.therapists"), 303)


# --- Groups: name and kind ----------------------------------------------------------------------


@bp.post("/groups/<int:group_id>")
@admin_required
def edit_group(group_id: int):
    """Rename a group, or mark it a cohort or an alumni group (discharge moves participants from
    cohorts into an alumni group; alumni groups get no practice)."""
    group = _group_or_404(group_id)
    form = GroupEditForm(prefix=f"group-{group.id}")
    if not form.validate_on_submit():
        return _groups_page(status=422, edit_errors={group.id: form})
    group.name = " ".join(form.name.data.split())
    group.kind = GroupKind(form.kind.data)
    get_db().add(group)
    audit_event("group_changed", object_type="group", object_id=group.id, detail=group.kind.value)
    flash(f"Saved {group.name}.")
    return redirect(url_for("admin.groups") + f"#group-{group.id}", 303)


# --- Crisis resources ---------------------------------------------------------------------------


def _resources_page(form: CrisisResourceForm | None = None, status: int = 200):
    return render_page(
        "admin/crisis_resources.html",
        rows=resources.crisis_resources(get_db()),
        form=form or CrisisResourceForm(),
        active="admin-crisis",
        status=status,
    )


@bp.get("/crisis-resources")
@admin_required
def crisis_resources():
    return _resources_page()


@bp.post("/crisis-resources")
@admin_required
def add_crisis_resource():
    form = CrisisResourceForm()
    if not form.validate_on_submit():
        return _resources_page(form, status=422)
    resources.add(get_db(), by_id=current_user.id, **_resource_fields(form))
    flash("Added. Every page that shows the crisis lines shows it now, offline too.")
    return redirect(url_for("admin.crisis_resources"), 303)


def _resource_fields(form: CrisisResourceForm) -> dict:
    return {
        "name": form.name.data,
        "detail": form.detail.data,
        "phone": form.phone.data or "",
        "text_number": form.text_number.data or "",
        "url": form.url.data or "",
    }


def _resource_or_404(position: int, *, seed: bool = False):
    row = resources.find(get_db(), position, seed=seed)
    if row is None:
        abort(404)
    return row


@bp.route("/crisis-resources/<int:position>", methods=["GET", "POST"])
@admin_required
def edit_crisis_resource(position: int):
    """One line, named by its place in the list (1 = the first)."""
    row = _resource_or_404(position, seed=request.method == "POST")
    form = CrisisResourceForm(obj=row)
    if form.validate_on_submit():
        resources.change(get_db(), by_id=current_user.id, row=row, **_resource_fields(form))
        flash(f"Saved {row.name}.")
        return redirect(url_for("admin.crisis_resources"), 303)
    return render_page(
        "admin/crisis_resource.html",
        row=row,
        position=position,
        form=form,
        active="admin-crisis",
        status=form_status(),
    )


@bp.post("/crisis-resources/<int:position>/move")
@admin_required
def move_crisis_resource(position: int):
    row = _resource_or_404(position, seed=True)
    up = request.form.get("direction") != "down"
    resources.move(get_db(), by_id=current_user.id, row=row, up=up)
    return redirect(url_for("admin.crisis_resources"), 303)


@bp.post("/crisis-resources/<int:position>/remove")
@admin_required
def remove_crisis_resource(position: int):
    row = _resource_or_404(position, seed=True)
    try:
        resources.remove(get_db(), by_id=current_user.id, row=row)
    except resources.ResourceError as exc:
        flash(str(exc))
        return _resources_page(status=409)
    flash(f"Removed {row.name}.")
    return redirect(url_for("admin.crisis_resources"), 303)


# --- The audit log ------------------------------------------------------------------------------


@bp.get("/audit")
def audit():
    """The audit log, for admins only: anyone else is answered "not found" (audited), as if
    the page did not exist."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.sign_in", next=request.path), 303)
    if current_user.role != Role.admin:
        access.deny("audit_log", None)
    db = get_db()
    form = AuditFilterForm(request.args)
    form.what.choices = [("", "Any event")] + [
        (kind, audit_log.words(kind)) for kind in audit_log.kinds(db)
    ]
    valid = form.validate()
    filters = (
        audit_log.Filters(
            who=form.who.data or "",
            whom=form.whom.data or "",
            what=form.what.data or "",
            since=form.since.data,
            until=form.until.data,
        )
        if valid
        else audit_log.Filters()
    )
    before = parse_id(request.args.get("before"))
    rows, older = audit_log.page(db, filters=filters, before=before, timezone=current_user.timezone)
    audit_event("audit_log_read", object_type="audit_log", detail=f"{len(rows)} rows")
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_page(
        "admin/audit.html",
        form=form,
        rows=rows,
        words=audit_log.words,
        older_url=url_for("admin.audit", before=older, **args) if older else None,
        newest_url=url_for("admin.audit", **args) if before else None,
        page_size=audit_log.PAGE_SIZE,
        active="admin-audit",
        status=200 if valid else 400,
    )
