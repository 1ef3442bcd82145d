"""The "Confirm it's you" guards for the most sensitive actions (exporting a participant's record,
deactivating an account: `recent_auth_required`; changing a second factor:
`second_factor_required`): the person must have proved it was them a few minutes ago (signing
in counts), else they go to "Confirm it's you" (`factor_views.confirm`) and come back.

Changing a second factor takes the current one: a stolen session plus the password must not
become a permanent second factor. Staff confirm with a code from their app, a recovery code or a
passkey (the password alone is refused); participants, whose password signs them in on its own,
confirm with the password or a passkey as for anything else."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import jsonify, redirect, request, session, url_for
from flask_htmx import make_response as htmx_response
from flask_login import login_required
from sqlmodel import select

from iop_pwa.accounts import second_factor
from iop_pwa.accounts import sessions as login_sessions
from iop_pwa.accounts.models import LoginSession
from iop_pwa.db import get_db
from iop_pwa.errors import wants_json
from iop_pwa.extensions import htmx
from iop_pwa.web import safe_next

SESSION_TOKEN_KEY = "sid"  # noqa: S105 - the session key name (accounts.views), not a secret


def this_login() -> LoginSession | None:
    token = session.get(SESSION_TOKEN_KEY)
    if not token:
        return None
    return (
        get_db()
        .exec(
            select(LoginSession).where(LoginSession.token_hash == login_sessions.token_hash(token))
        )
        .first()
    )


def _back_here() -> str | None:
    """Where to come back after confirming: this page for a GET, the page the form was on for
    anything else (a POST is not repeated on its own)."""
    if request.method == "GET":
        return safe_next(request.full_path.rstrip("?"))
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc and referrer.netloc != request.host:
        return None
    return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))


def recent_auth_required(view):
    """The person must have proved it was them in the last few minutes (signing in counts), or
    they are sent to "Confirm it's you" first (403 JSON for scripts, HX-Redirect for htmx).
    Put it under a sign-in or role guard."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if second_factor.recently_confirmed(this_login()):
            return view(*args, **kwargs)
        return _ask_to_confirm(url_for("factors.confirm", next=_back_here()))

    return wrapper


def _ask_to_confirm(target: str):
    """Send the person to "Confirm it's you" in the way their request can follow."""
    if wants_json():
        return jsonify(error="confirm_required", confirm=target), 403
    if htmx:
        return htmx_response(redirect=target)
    return redirect(target, 303)


def second_factor_required(view):
    """Like `recent_auth_required`, for changing a second factor (adding or removing a passkey,
    a new authenticator app, new recovery codes): staff who have a second factor must have used
    it in the last few minutes (a staff sign-in counts), or "Confirm it's you" asks for it."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        from flask_login import current_user

        db = get_db()
        login = this_login()
        guarded = second_factor.factor_guards_changes(db, current_user)
        confirmed = (
            second_factor.recently_confirmed_factor(login)
            if guarded
            else second_factor.recently_confirmed(login)
        )
        if confirmed:
            return view(*args, **kwargs)
        return _ask_to_confirm(
            url_for("factors.confirm", next=_back_here(), factor=1 if guarded else None)
        )

    return wrapper
