"""Crisis help: public, one tap away on every page ("Get help now"), no sign-in needed.

The page is the same for everyone (no personal data): phones keep it for offline use.
"""

from __future__ import annotations

from flask import Blueprint

from iop_pwa.db import get_db
from iop_pwa.features import registry
from iop_pwa.safety.program import get_contact
from iop_pwa.safety.resources import crisis_resources
from iop_pwa.web import render_page

bp = Blueprint("safety", __name__)


@bp.get("/help")
def crisis_help():
    """The crisis lines (an admin's list, seeded from `CRISIS_RESOURCES_FILE` or the built-in
    one), the program's own contact (set by an admin), and what the app's messages are and are
    not."""
    return render_page(
        "safety/help.html",
        resources=crisis_resources(get_db()),
        contact=get_contact(get_db()),
        # Until a feature registers messages, the app has no messages to speak of.
        has_messages=registry().has_policy("message"),
    )


@bp.app_context_processor
def _crisis_lines() -> dict:
    """`crisis_resources()` for templates (the crisis panel): asked only where a page shows
    the lines, once per request."""
    return {"crisis_resources": lambda: crisis_resources(get_db())}
