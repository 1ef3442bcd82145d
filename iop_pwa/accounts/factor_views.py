"""The second step of a staff sign-in, setting up an authenticator app, recovery codes,
passkeys (sign in with one, add, remove) and "Confirm it's you" before the most sensitive
actions.

Between a staff member's password and their second factor there is no signed-in session: the
signed session cookie holds only a pending step (the user id, where to go next, and an expiry a
few minutes away), which this blueprint's second-factor pages alone read. Every other page sees
nobody signed in. Nothing secret goes into that cookie (it is signed, not encrypted): passkey
challenges are kept on the server (`passkeys`), and recovery codes made with a passkey set-up
are kept sealed for the new sign-in session until the next page shows them once.

Changing a second factor (a passkey, the app, recovery codes) takes the current one
(`recent_auth.second_factor_required`) and tells the person (`second_factor.tell_changed`).
"""

from __future__ import annotations

import json
import time

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import Markup

from iop_pwa import access
from iop_pwa.accounts import passkeys, second_factor, throttle
from iop_pwa.accounts import sessions as login_sessions
from iop_pwa.accounts.forms import (
    ConfirmItsYouForm,
    PasskeyNameForm,
    SecondFactorForm,
    TotpSetUpForm,
)
from iop_pwa.accounts.models import Passkey, User
from iop_pwa.accounts.passwords import verify_password
from iop_pwa.accounts.recent_auth import second_factor_required, this_login
from iop_pwa.accounts.views import home_for, sign_in_user
from iop_pwa.db import get_db
from iop_pwa.errors import wants_json
from iop_pwa.security import audit_event, audit_refusal
from iop_pwa.web import form_status, render_page, safe_next, staff_required

bp = Blueprint("factors", __name__)

PENDING_KEY = "pending_sign_in"
# Recovery codes made when a passkey was set up (a script's request): kept sealed for the new
# sign-in session (`login_sessions.keep_secret`) until the next page shows them once.
FRESH_CODES_KEY = "recovery_codes"


# --- The pending step between password and second factor ---------------------------------------


def begin(user: User, next_page: str | None) -> None:
    """The password was right; the second factor comes next. No session is started yet."""
    session.clear()  # nothing of an earlier sign-in survives, and a new cookie
    session[PENDING_KEY] = {
        "user": user.id,
        "next": next_page or "",
        "until": int(time.time() + current_app.config["SECOND_FACTOR_PENDING"].total_seconds()),
    }


def _pending_user() -> User | None:
    """The staff member half-way through signing in on this browser, while it is still fresh."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or int(pending.get("until", 0)) < time.time():
        return None
    user = get_db().get(User, pending.get("user"))
    if user is None or not user.is_active:
        return None
    return user


def _start_over():
    session.pop(PENDING_KEY, None)
    flash("Please sign in again: that step took too long.")
    target = url_for("accounts.sign_in")
    if wants_json():
        return jsonify(error="signed_out", sign_in=target), 401
    return redirect(target, 303)


def _finish(user: User, how: str) -> str:
    """Start the real session after the second factor; returns where to go."""
    pending = session.get(PENDING_KEY) or {}
    next_page = safe_next(pending.get("next"))
    sign_in_user(user, second_factor=True)  # clears the pending step with the old cookie
    audit_event("sign_in", actor_id=user.id, detail=f"second factor: {how}")
    if user.must_change_password:
        return url_for("accounts.choose_password", next=next_page)
    return next_page or home_for(user)


def _factor_key(user: User) -> str:
    """The failed-attempt counter of a person's second factor, apart from their password's, so
    that typing the right password again does not clear failed codes."""
    return f"second-factor:{user.id}"


def _refused(user: User) -> throttle.Refusal | None:
    return throttle.check(get_db(), email=_factor_key(user), address=request.remote_addr)


def _count_failure(action: str, user: User, detail: str) -> None:
    audit_refusal(
        action,
        actor_id=user.id,
        detail=detail,
        also=lambda db: throttle.record_failure(
            db, email=_factor_key(user), address=request.remote_addr
        ),
    )


def _clear_failures(user: User) -> None:
    throttle.clear(get_db(), email=_factor_key(user), address=request.remote_addr)


@bp.route("/sign-in/second-factor", methods=["GET", "POST"])
def second_factor_step():
    """Step two of a staff sign-in: a code from the authenticator app, a recovery code, or a
    passkey. Someone with no second factor yet sets one up first."""
    user = _pending_user()
    if user is None:
        return _start_over()
    db = get_db()
    if not second_factor.is_enrolled(db, user):
        return redirect(url_for("factors.set_up"), 303)
    form = SecondFactorForm()
    error = None
    if form.validate_on_submit():
        refusal = _refused(user)
        if refusal is not None:
            body, status = _second_factor_page(user, form, refusal.message, 429)
            return body, status, {"Retry-After": str(refusal.minutes * 60)}
        how = second_factor.use_code(db, user=user, code=form.code.data)
        if how is not None:
            _clear_failures(user)
            target = _finish(user, how)
            if how == "recovery code":
                left = second_factor.recovery_codes_left(db, user)
                flash(
                    f"You used a recovery code; {left} left. Make new ones on Account if your "
                    "phone is lost."
                )
            return redirect(target, 303)
        _count_failure("second_factor_failed", user, "wrong code")
        error = "That code didn't work. Check the app and try again, or use a recovery code."
    elif request.method == "POST":
        error = "Enter the code from your authenticator app."
    return _second_factor_page(user, form, error, form_status() if error else 200)


def _second_factor_page(user: User, form, error, status):
    db = get_db()
    return render_page(
        "accounts/second_factor.html",
        form=form,
        error=error,
        has_app=second_factor.confirmed_totp(db, user) is not None,
        has_passkey=second_factor.has_passkey(db, user),
        status=status,
    )


@bp.post("/sign-in/second-factor/passkey/options")
def second_factor_passkey_options():
    user = _pending_user()
    if user is None:
        return _start_over()
    return jsonify(passkeys.authentication_options(get_db(), user=user))


@bp.post("/sign-in/second-factor/passkey")
def second_factor_passkey():
    """The pending staff member's passkey as their second factor."""
    user = _pending_user()
    if user is None:
        return _start_over()
    refused = _check_passkey(user, "second_factor_failed")
    if refused is not None:
        return refused
    _clear_failures(user)
    return jsonify(redirect=_finish(user, "passkey"))


def _check_passkey(user: User, failure: str):
    """The posted passkey answer for `user`, checked under the failed-attempt limit: None if it
    holds, else the JSON answer (429 while waiting, 400 in words, counted as `failure`)."""
    refusal = _refused(user)
    if refusal is not None:
        return jsonify(error=refusal.message), 429
    try:
        passkeys.verify(get_db(), credential=_credential(), user=user)
    except passkeys.PasskeyError as exc:
        _count_failure(failure, user, "passkey")
        return jsonify(error=str(exc)), 400
    return None


def _posted_passkey_name() -> PasskeyNameForm:
    """The name a page's script posted with a new passkey (JSON), as a form to validate (the
    request's CSRF header was checked already)."""
    data = request.get_json(silent=True)
    name = data.get("name") if isinstance(data, dict) else None
    return PasskeyNameForm(
        data={"name": name if isinstance(name, str) else ""}, meta={"csrf": False}
    )


def _credential() -> dict:
    """The credential a page's script posted (JSON), or {} (which then fails verification)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {}
    credential = data.get("credential")
    return credential if isinstance(credential, dict) else {}


# --- Setting up an authenticator app -----------------------------------------------------------


def _qr(uri: str) -> Markup:
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(
        scale=4,
        dark="#111111",
        light="#ffffff",
        border=3,
        title="QR code for your authenticator app",
    )
    return Markup(svg)  # noqa: S704 - segno's own SVG; the URI is encoded as modules


def _set_up_page(user: User, form, status: int, *, signed_in: bool):
    db = get_db()
    factor = second_factor.start_totp(db, user=user)
    return render_page(
        "accounts/set_up_second_factor.html",
        form=form,
        passkey_form=PasskeyNameForm(),
        qr=_qr(second_factor.provisioning_uri(factor, user)),
        secret=second_factor.grouped_secret(factor.secret),
        signed_in=signed_in,
        status=status,
    )


def _confirm_app(user: User, form) -> list[str] | None:
    """The first code from the newly scanned app: on success, new recovery codes (shown once)."""
    db = get_db()
    factor = second_factor.start_totp(db, user=user)
    if second_factor.confirm_totp(db, user=user, factor=factor, code=form.code.data):
        _clear_failures(user)
        return second_factor.new_recovery_codes(db, user=user)
    _count_failure("second_factor_failed", user, "set-up code")
    form.code.errors = ["That code didn't work. Check the app shows IOP Companion and try again."]
    return None


@bp.route("/sign-in/set-up", methods=["GET", "POST"])
def set_up():
    """A staff member's first sign-in (or the first after an admin's reset): an authenticator
    app, with a QR code and the secret as text, then ten recovery codes."""
    user = _pending_user()
    if user is None:
        return _start_over()
    db = get_db()
    if second_factor.is_enrolled(db, user):
        return redirect(url_for("factors.second_factor_step"), 303)
    form = TotpSetUpForm()
    if form.validate_on_submit():
        refusal = _refused(user)
        if refusal is not None:
            form.code.errors = [refusal.message]
            return _set_up_page(user, form, 429, signed_in=False)
        codes = _confirm_app(user, form)
        if codes is not None:
            audit_event("second_factor_set_up", actor_id=user.id, detail="app")
            target = _finish(user, "app (set up)")
            return _codes_page(codes, target)
    return _set_up_page(user, form, form_status(), signed_in=False)


@bp.post("/sign-in/set-up/passkey/options")
def set_up_passkey_options():
    """A first sign-in that sets up a passkey instead of an app: the browser's options."""
    user = _pending_user()
    if user is None:
        return _start_over()
    if second_factor.is_enrolled(get_db(), user):  # (set up meanwhile, in another tab)
        return jsonify(redirect=url_for("factors.second_factor_step")), 409
    return jsonify(passkeys.registration_options(get_db(), user=user))


@bp.post("/sign-in/set-up/passkey")
def set_up_passkey():
    """Keep the passkey as the staff member's second factor, make their recovery codes, start
    the session, and send the page to the codes (shown once)."""
    user = _pending_user()
    if user is None:
        return _start_over()
    db = get_db()
    if second_factor.is_enrolled(db, user):
        return jsonify(redirect=url_for("factors.second_factor_step")), 409
    refusal = _refused(user)
    if refusal is not None:
        return jsonify(error=refusal.message), 429
    form = _posted_passkey_name()
    if not form.validate():
        return jsonify(error=" ".join(form.name.errors)), 400
    try:
        passkey = passkeys.add(db, user=user, credential=_credential(), name=form.name.data or "")
    except passkeys.PasskeyError as exc:
        _count_failure("second_factor_failed", user, "set-up passkey")
        return jsonify(error=str(exc)), 400
    _clear_failures(user)
    second_factor.drop_unconfirmed_totp(db, user=user)
    codes = second_factor.new_recovery_codes(db, user=user)
    audit_event("passkey_added", actor_id=user.id, object_type="passkey", object_id=passkey.id)
    audit_event("second_factor_set_up", actor_id=user.id, detail="passkey")
    target = _finish(user, "passkey (set up)")
    login_sessions.keep_secret(
        db, this_login(), FRESH_CODES_KEY, json.dumps({"codes": codes, "next": target})
    )
    return jsonify(redirect=url_for("factors.fresh_recovery_codes"))


@bp.get("/sign-in/recovery-codes")
@login_required
def fresh_recovery_codes():
    """The recovery codes made with a passkey set-up, once, on the device that made them;
    afterwards (or anywhere else), the home page."""
    db = get_db()
    login = this_login()
    kept = login_sessions.secret(db, login, FRESH_CODES_KEY)
    login_sessions.forget_secret(db, login, FRESH_CODES_KEY)
    try:
        fresh = json.loads(kept) if kept else None
    except ValueError:
        fresh = None
    if not isinstance(fresh, dict) or not fresh.get("codes"):
        return redirect(home_for(current_user), 303)
    return _codes_page(list(fresh["codes"]), safe_next(fresh.get("next")) or home_for(current_user))


def _codes_page(codes: list[str], continue_to: str):
    body, status = render_page("accounts/recovery_codes.html", codes=codes, continue_to=continue_to)
    return body, status, {"Cache-Control": "no-store"}


# --- "Confirm it's you" ------------------------------------------------------------------------


def _confirmed(how: str, *, factor: bool = False):
    """`factor`: confirmed with the second factor (a code) or a passkey, which is enough to
    change a second factor for the next few minutes."""
    login = this_login()
    if login is not None:
        second_factor.stamp_confirmed(get_db(), login, factor=factor)
    _clear_failures(current_user)
    audit_event("reauthenticated", detail=how)
    return safe_next(request.args.get("next")) or url_for("accounts.account")


@bp.route("/account/confirm", methods=["GET", "POST"])
@login_required
def confirm():
    """ "Confirm it's you" before exporting records, changing a second factor or deactivating
    an account: the password, a passkey, or (staff) a code from the authenticator app or a
    recovery code. Before changing a second factor (`?factor=1`) staff must use their current
    one: the password alone is not enough."""
    db = get_db()
    user = db.get(User, current_user.id)
    form = ConfirmItsYouForm()
    factor_only = bool(request.args.get("factor")) and second_factor.factor_guards_changes(db, user)
    ask = (
        "Enter a code from your authenticator app or a recovery code, or use your passkey."
        if factor_only
        else "Enter your password."
    )
    error = None
    status = 200
    if form.validate_on_submit():
        refusal = _refused(user)
        if refusal is not None:
            error, status = refusal.message, 429
        elif form.code.data and user.is_staff:
            if second_factor.use_code(db, user=user, code=form.code.data) is not None:
                return redirect(_confirmed("code", factor=True), 303)
            _count_failure("reauthentication_failed", user, "wrong code")
            error, status = "That code didn't work. Please try again.", 422
        elif factor_only:
            error, status = ask, 422
        elif form.password.data and verify_password(user.password_hash, form.password.data):
            return redirect(_confirmed("password"), 303)
        elif not form.password.data:
            error, status = ask, 422
        else:
            _count_failure("reauthentication_failed", user, "wrong password or code")
            error, status = "That didn't match. Please try again.", 422
    elif request.method == "POST":
        error, status = ask, 422
    if factor_only:
        form.code.label.text = "A code from your authenticator app, or a recovery code"
    return render_page(
        "accounts/confirm.html",
        form=form,
        error=error,
        factor_only=factor_only,
        has_app=user.is_staff and second_factor.confirmed_totp(db, user) is not None,
        has_passkey=second_factor.has_passkey(db, user),
        status=status,
    )


@bp.post("/account/confirm/passkey/options")
@login_required
def confirm_passkey_options():
    return jsonify(passkeys.authentication_options(get_db(), user=current_user))


@bp.post("/account/confirm/passkey")
@login_required
def confirm_passkey():
    refused = _check_passkey(current_user, "reauthentication_failed")
    if refused is not None:
        return refused
    return jsonify(redirect=_confirmed("passkey", factor=True))


# --- Staff: a new app, new recovery codes (on Account) --------------------------------------------


@bp.route("/account/second-factor/app", methods=["GET", "POST"])
@staff_required
@second_factor_required
def change_app():
    """Set up a new authenticator app (a new phone): the old one works until the new one's
    first code is accepted."""
    user = get_db().get(User, current_user.id)
    form = TotpSetUpForm()
    if form.validate_on_submit():
        codes = _confirm_app(user, form)
        if codes is not None:
            audit_event("second_factor_set_up", detail="app (changed)")
            second_factor.tell_changed(get_db(), user=user, change="app_changed")
            return _codes_page(codes, url_for("accounts.account"))
    return _set_up_page(user, form, form_status(), signed_in=True)


@bp.post("/account/recovery-codes")
@staff_required
@second_factor_required
def new_recovery_codes():
    """Ten new recovery codes; the old ones stop working."""
    if not PasskeyNameForm().validate_on_submit():  # any FlaskForm: the CSRF check
        return redirect(url_for("accounts.account"), 303)
    user = get_db().get(User, current_user.id)
    codes = second_factor.new_recovery_codes(get_db(), user=user)
    audit_event("recovery_codes_made")
    second_factor.tell_changed(get_db(), user=user, change="recovery_codes_made")
    return _codes_page(codes, url_for("accounts.account"))


# --- Passkeys: sign in with one; add and remove them on Account ---------------------------------


@bp.post("/sign-in/passkey/options")
def passkey_sign_in_options():
    if current_user.is_authenticated:
        return jsonify(error="already_signed_in", redirect=home_for(current_user)), 409
    return jsonify(passkeys.authentication_options(get_db()))


@bp.post("/sign-in/passkey")
def passkey_sign_in():
    """ "Sign in with a passkey": the phone's lock instead of a password (for staff, a passkey
    is both factors). Failures count against this address, as failed passwords do."""
    if current_user.is_authenticated:
        return jsonify(error="already_signed_in", redirect=home_for(current_user)), 409
    db = get_db()
    # No account is known before the passkey is checked: the counters are this address's (one
    # shared "passkey" account key would let anyone hold up everyone's passkey sign-ins).
    tried = {"email": f"passkey:{request.remote_addr}", "address": request.remote_addr}
    refusal = throttle.check(db, **tried)
    if refusal is not None:
        return jsonify(error=refusal.message), 429
    try:
        passkey = passkeys.verify(db, credential=_credential())
    except passkeys.PasskeyError as exc:
        audit_refusal(
            "sign_in_failed",
            detail="passkey",
            also=lambda db: throttle.record_failure(db, **tried),
        )
        return jsonify(error=str(exc)), 400
    user = db.get(User, passkey.user_id)
    if user is None or not user.is_active:
        audit_refusal("sign_in_failed", detail="passkey of a deactivated account")
        return jsonify(error="This account can't sign in. Please ask your care team."), 400
    next_page = safe_next((request.get_json(silent=True) or {}).get("next"))
    sign_in_user(user, second_factor=True)  # a passkey is both factors
    audit_event("sign_in", actor_id=user.id, detail="passkey")
    if user.must_change_password:
        return jsonify(redirect=url_for("accounts.choose_password", next=next_page))
    return jsonify(redirect=next_page or home_for(user))


@bp.post("/account/passkeys/options")
@second_factor_required
def add_passkey_options():
    return jsonify(passkeys.registration_options(get_db(), user=current_user))


@bp.post("/account/passkeys")
@second_factor_required
def add_passkey():
    """Keep the passkey this phone just made (named by the person: "My phone")."""
    form = _posted_passkey_name()
    if not form.validate():
        return jsonify(error=" ".join(form.name.errors)), 400
    try:
        passkey = passkeys.add(
            get_db(), user=current_user, credential=_credential(), name=form.name.data or ""
        )
    except passkeys.PasskeyError as exc:
        return jsonify(error=str(exc)), 400
    audit_event("passkey_added", object_type="passkey", object_id=passkey.id)
    second_factor.tell_changed(get_db(), user=current_user, change="passkey_added")
    flash(f"Passkey added: {passkey.name}. Next time, sign in with your phone's lock.")
    return jsonify(redirect=url_for("accounts.account"))


@bp.post("/account/passkeys/<int:passkey_id>/remove")
@second_factor_required
def remove_passkey(passkey_id: int):
    """Remove one of your own passkeys (anyone else's answers "not found")."""
    db = get_db()
    passkey = db.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != current_user.id:
        access.deny("passkey", passkey_id)
    if not PasskeyNameForm().validate_on_submit():  # the CSRF check
        return redirect(url_for("accounts.account"), 303)
    db.delete(passkey)
    audit_event("passkey_removed", object_type="passkey", object_id=passkey_id)
    second_factor.tell_changed(db, user=current_user, change="passkey_removed")
    flash(f"Passkey removed: {passkey.name}.")
    return redirect(url_for("accounts.account") + "#passkeys-heading", 303)
