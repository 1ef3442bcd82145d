"""Admin pages: therapist accounts (also possible with `flask users create`), groups with
their facilitators (a therapist may use only the groups they facilitate), and the program's own
contact shown on the help page."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user
from sqlmodel import col, func, select

from iop_pwa.access import parse_id
from iop_pwa.accounts import services
from iop_pwa.accounts.forms import FacilitatorForm, GroupForm, TherapistForm
from iop_pwa.accounts.models import Group, GroupMembership, Role, User
from iop_pwa.admin.forms import ProgramContactForm
from iop_pwa.db import get_db
from iop_pwa.safety import program
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
    return [("", "Choose a therapist")] + [(str(u.id), u.name) for u in _staff(db)]


def _groups_page(form: GroupForm | None = None, status: int = 200):
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
    return render_page(
        "admin/groups.html",
        rows=rows,
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
    user = get_db().get(User, parse_id(value)) if parse_id(value) else None
    return user if user is not None and user.is_staff else None


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
        therapist = _therapist_or_none(form.facilitator.data)
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
    therapist = _therapist_or_none(form.facilitator.data) if form.validate_on_submit() else None
    if therapist is None:
        flash("Choose a therapist to add.")
    else:
        services.set_facilitator(db, group=group, therapist=therapist, on=True, by=current_user)
        flash(f"{therapist.name} now facilitates {group.name}.")
    return redirect(url_for("admin.groups") + f"#group-{group.id}", 303)


@bp.post("/groups/<int:group_id>/facilitators/<int:user_id>/remove")
@admin_required
def remove_facilitator(group_id: int, user_id: int):
    group = _group_or_404(group_id)
    therapist = _therapist_or_none(user_id)
    if therapist is None:
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
