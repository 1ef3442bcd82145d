"""The bell's page: a participant's notifications, newest first; opening it marks them read."""

from __future__ import annotations

from datetime import datetime, timedelta

from babel.dates import format_timedelta
from flask import Blueprint
from flask_login import current_user

from iop_pwa.db import get_db, utcnow
from iop_pwa.features import registry
from iop_pwa.notifications import Notification, mark_all_read, recent
from iop_pwa.web import in_zone, participant_required, render_page

bp = Blueprint("notifications", __name__)


def link_for(notification: Notification) -> str | None:
    return registry().notification_link(notification.kind, notification.object_id)


def ago(then: datetime, now: datetime, timezone: str) -> str:
    """When something happened, in words ("2 hours ago", "yesterday"), so that the time a
    notification arrived is not read as the time of the session it is about. Days are counted
    by the person's calendar: last night at 23:00 is "yesterday" at 8 in the morning."""
    elapsed = now - then
    if elapsed < timedelta(minutes=1):
        return "just now"
    days = (in_zone(now, timezone).date() - in_zone(then, timezone).date()).days
    if days <= 0 or elapsed < timedelta(hours=6):
        return format_timedelta(-elapsed, threshold=1, add_direction=True, locale="en")
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return format_timedelta(-elapsed, threshold=1, add_direction=True, locale="en")


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
