"""Crisis help: public, one tap away on every page ("Get help now"), no sign-in needed."""

from __future__ import annotations

from flask import Blueprint, current_app

from iop_pwa.web import render_page

bp = Blueprint("safety", __name__)


@bp.get("/help")
def crisis_help():
    """Crisis resources for the program's region (`CRISIS_RESOURCES_FILE`)."""
    return render_page("safety/help.html", resources=current_app.config["CRISIS_RESOURCES"])
