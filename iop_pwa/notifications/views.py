"""The bell's page: a participant's notifications, newest first; opening it marks them read."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from iop_pwa.db import get_db
from iop_pwa.features import registry
from iop_pwa.notifications import Notification, mark_all_read, recent
from iop_pwa.web import participant_required, render_page

bp = Blueprint("notifications", __name__)


def link_for(notification: Notification) -> str | None:
    return registry().notification_link(notification.kind, notification.object_id)


@bp.get("/notifications")
@participant_required
def index():
    db = get_db()
    items = recent(db, current_user.id)
    unread = {n.id for n in items if n.read_at is None}
    mark_all_read(db, current_user.id)
    return render_page("notifications/index.html", items=items, unread=unread, link_for=link_for)
