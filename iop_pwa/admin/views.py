"""Admin pages: creating therapist accounts (also possible with `flask users create`)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from sqlmodel import col, select

from iop_pwa.accounts import services
from iop_pwa.accounts.forms import TherapistForm
from iop_pwa.accounts.models import Role, User
from iop_pwa.db import get_db
from iop_pwa.security import audit_event
from iop_pwa.web import admin_required, render_page

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(form: TherapistForm, status: int = 200):
    therapists = (
        get_db()
        .exec(
            select(User).where(col(User.role).in_([Role.therapist, Role.admin])).order_by(User.name)
        )
        .all()
    )
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
            db.commit()
            flash(
                f"{user.name} can now sign in as a therapist, and will choose their own password "
                "at first sign-in."
            )
            return redirect(url_for("admin.therapists"), 303)
    return _page(form, status=422)
