"""Small helpers shared by every blueprint's views: rendering a page or its htmx fragment, role
guards, and the participant's local clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import wraps
from zoneinfo import ZoneInfo

from flask import abort, g, has_request_context, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from iop_pwa.accounts.models import Role
from iop_pwa.db import utcnow
from iop_pwa.extensions import htmx
from iop_pwa.features import NavItem, registry


def once_per_request(key: tuple, compute: Callable):
    """`compute()`, worked out once per request for `key`: for what two parts of one page ask
    alike (the dashboard's needs and its columns read the same moods). Nothing outlives the
    request, so nothing needs invalidating."""
    if not has_request_context():
        return compute()
    memo = g.setdefault("_once_per_request", {})
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def render_page(template: str, *, status: int = 200, block: str = "content", **context):
    """The full page, or only its `block` for an htmx request (same template, one source).

    A history-restore request always gets the full page, as htmx expects.
    """
    if htmx and not htmx.history_restore_request and not htmx.boosted:
        return render_block(template, block, **context), status
    return render_template(template, **context), status


def roles_required(*roles: Role) -> Callable:
    """Sign-in required, and the signed-in person must have one of `roles` (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


participant_required = roles_required(Role.participant)
staff_required = roles_required(Role.therapist, Role.admin)
admin_required = roles_required(Role.admin)


def in_zone(value: datetime, timezone: str) -> datetime:
    """A UTC timestamp in the person's time zone. At the ends of the calendar, where the zone's
    offset would overflow (9999-12-31 23:00 UTC in Tokyo), the UTC time itself: a far date
    already stored must not break the pages that show it."""
    try:
        return value.astimezone(ZoneInfo(timezone))
    except OverflowError:
        return value


def local_now(timezone: str) -> datetime:
    return utcnow().astimezone(ZoneInfo(timezone))


def local_today(timezone: str) -> date:
    """'Today' is the person's local date, never the server's."""
    return local_now(timezone).date()


def safe_next(target: str | None) -> str | None:
    """A `next` URL only if it stays on this site (a path, no scheme or host, no `//`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ch in target for ch in "\r\n\t"):
        return None
    return target


def form_status() -> int:
    """The status for a page with a form: 422 when it comes back after a refused POST."""
    return 422 if request.method == "POST" else 200


# Core's own navigation items; features add theirs (`features.NavItem`) between them by order.
# The participant's bar reads Today, Practice, Journal, Messages, Sessions; the therapist's
# Dashboard, Participants, Library, Sessions, Messages, Groups (PRODUCT.md's words).
CORE_NAV = (
    NavItem("participant", "today", "participant.today", "Today", order=10),
    NavItem("staff", "dashboard", "dashboard.home", "Dashboard", order=10),
    NavItem("staff", "participants", "dashboard.participants", "Participants", order=20),
    NavItem("staff", "groups", "dashboard.groups", "Groups", order=60),
)


@dataclass(frozen=True)
class NavLink:
    key: str
    url: str
    label: str
    unread: int = 0


def main_nav(audience: str, db, person) -> list[NavLink]:
    """The main navigation for "participant" or "staff": core's items and every feature's, in
    order, each with its unread count (one query per item that counts)."""
    items = [i for i in CORE_NAV if i.audience == audience] + registry().nav(audience)
    return [
        NavLink(
            item.key,
            url_for(item.endpoint),
            item.label,
            item.unread(db, person) if item.unread else 0,
        )
        for item in sorted(items, key=lambda i: (i.order, i.key))
    ]
