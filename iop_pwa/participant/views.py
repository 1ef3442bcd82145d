"""The participant's phone app: Today and the bottom-bar pages."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from iop_pwa.accounts import services
from iop_pwa.accounts.views import home_for
from iop_pwa.db import get_db
from iop_pwa.features import render_sections
from iop_pwa.pwa.outbox import keep_offline
from iop_pwa.web import local_now, participant_required, render_page

bp = Blueprint("participant", __name__)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user), 303)
    return redirect(url_for("accounts.sign_in"), 303)


@bp.get("/today")
@participant_required
@keep_offline
def today():
    """The participant's day: each feature's Today section (next session, practice, check-in),
    in the order they registered, around the greeting, groups and crisis help."""
    now = local_now(current_user.timezone)
    hour = now.hour
    greeting = "Good morning" if hour < 12 else "Good afternoon" if hour < 18 else "Good evening"
    db = get_db()
    return render_page(
        "participant/today.html",
        now=now,
        greeting=greeting,
        groups=services.groups_of(db, current_user),
        sections=render_sections("today", db=db, person=current_user, now=now),
    )
