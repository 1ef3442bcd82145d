"""The bell's page: a participant's notifications, newest first; opening it marks them read."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from flask_login import current_user

from iop_pwa import dates
from iop_pwa.db import get_db, utcnow
from iop_pwa.features import registry
from iop_pwa.notifications import Notification, mark_all_read, recent
from iop_pwa.web import participant_required, render_page

bp = Blueprint("notifications", __name__)


def link_for(notification: Notification) -> str | None:
    return registry().notification_link(notification.kind, notification.object_id)


def ago(then: datetime, now: datetime, timezone: str) -> str:
    """When something happened, in words ("2 hours ago", "yesterday"), so that the time a
    notification arrived is not read as the time of the session it is about."""
    return dates.ago(then, now, timezone)


@bp.get("/notifications")
@participant_required
def index():
    db = get_db()
    items = recent(db, current_user.id)
    unread = {n.id for n in items if n.read_at is None}
    mark_all_read(db, current_user.id)
    now, zone = utcnow(), current_user.timezone
    return render_page(
        "notifications/index.html",
        items=items,
        unread=unread,
        link_for=link_for,
        ago=lambda then: ago(then, now, zone),
    )
