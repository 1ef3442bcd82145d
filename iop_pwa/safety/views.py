"""Crisis help: public, one tap away on every page ("Get help now"), no sign-in needed.

The page is the same for everyone (no personal data): phones keep it for offline use.
"""

from __future__ import annotations

from flask import Blueprint, current_app

from iop_pwa.db import get_db
from iop_pwa.features import registry
from iop_pwa.safety.program import get_contact
from iop_pwa.web import render_page

bp = Blueprint("safety", __name__)


@bp.get("/help")
def crisis_help():
    """Crisis resources for the program's region (`CRISIS_RESOURCES_FILE`), the program's own
    contact (set by an admin), and what the app's messages are and are not."""
    return render_page(
        "safety/help.html",
        resources=current_app.config["CRISIS_RESOURCES"],
        contact=get_contact(get_db()),
        # Until a messages feature is registered, the app has no messages to speak of.
        has_messages=any(f.name == "messages" for f in registry().features),
    )
