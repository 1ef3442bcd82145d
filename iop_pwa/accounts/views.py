"""Signing in and out, a forgotten password, the Account page, crisis help, and accepting an
invitation."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    jsonify,
    redirect,
    request,
    session,
    url_for,
)
from flask_htmx import make_response as htmx_response
from flask_login import current_user, login_required, login_user, logout_user

from iop_pwa import mail
from iop_pwa.accounts import links, my_data, passkeys, second_factor, services, throttle
from iop_pwa.accounts import sessions as login_sessions
from iop_pwa.accounts.forms import (
    AcceptInvitationForm,
    ChangePasswordForm,
    ChoosePasswordForm,
    ClockForm,
    DeleteAccountForm,
    ForgotPasswordForm,
    PasskeyNameForm,
    SignInForm,
    SignInLinkForm,
    TimezoneForm,
)
from iop_pwa.accounts.models import User
from iop_pwa.accounts.recent_auth import SESSION_TOKEN_KEY, recent_auth_required
from iop_pwa.db import get_db, purge_deleted_after_commit
from iop_pwa.errors import wants_json
from iop_pwa.extensions import htmx, limiter
from iop_pwa.features import render_sections
from iop_pwa.security import audit_event, audit_refusal
from iop_pwa.web import form_status, local_today, participant_required, render_page, safe_next

bp = Blueprint("accounts", __name__)


def home_for(user: User) -> str:
    if user.is_participant:
        return url_for("participant.today")
    if user.role == "admin":
        return url_for("admin.therapists")
    return url_for("dashboard.home")


def sign_in_user(user: User, *, second_factor: bool = False) -> None:
    """Start a server-side session for `user` in this browser (new token, fresh cookie);
    `second_factor`: the sign-in took the person's second factor (or a passkey)."""
    db = get_db()
    session.clear()  # a new session id at sign-in: no fixation
    token = login_sessions.start_session(
        db,
        user,
        login_sessions.describe_device(request.user_agent.string),
        second_factor=second_factor,
    )
    session[SESSION_TOKEN_KEY] = token
    session.permanent = True
    login_user(user)


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Sign in. Failed tries are counted in the database (`throttle`): too many, and the next
    try waits, whichever web process or machine answers."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or home_for(current_user), 303)
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        db = get_db()
        tried = {"email": form.email.data, "address": request.remote_addr}
        refusal = throttle.check(db, **tried)
        if refusal is not None:
            body, status = render_page(
                "accounts/sign_in.html", form=form, error=refusal.message, status=429
            )
            return body, status, {"Retry-After": str(refusal.minutes * 60)}
        user = services.authenticate(db, email=form.email.data, password=form.password.data)
        if user is not None:
            throttle.clear(db, **tried)
            next_page = safe_next(request.args.get("next"))
            if second_factor.needs_second_factor(user):
                # Staff: no session until the second factor (factor_views) is verified.
                from iop_pwa.accounts.factor_views import begin

                begin(user, next_page)
                audit_event("sign_in_password_ok", actor_id=user.id, detail="second factor next")
                enrolled = second_factor.is_enrolled(db, user)
                return redirect(
                    url_for("factors.second_factor_step" if enrolled else "factors.set_up"), 303
                )
            sign_in_user(user)
            audit_event("sign_in", actor_id=user.id)
            if user.must_change_password:
                return redirect(url_for("accounts.choose_password", next=next_page), 303)
            return redirect(next_page or home_for(user), 303)
        audit_refusal(
            "sign_in_failed",
            detail="bad credentials",
            also=lambda db: throttle.record_failure(db, **tried),
        )
        error = "That email and password don't match an account. Please try again."
    elif request.method == "POST":
        error = "Enter your email and password."
    status = form_status()
    return render_page("accounts/sign_in.html", form=form, error=error, status=status)


@bp.route("/sign-in/forgot", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def forgot_password():
    """The "Forgot your password?" page. Where mail is set up, the worker emails the account a
    sign-in link, and the answer is the same whether or not the email has an account.
    Elsewhere, the page says to ask the therapist for a sign-in link."""
    if not mail.enabled():
        return render_page("accounts/forgot_password.html", form=None, sent=False)
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        links.ask_by_email(get_db(), email=form.email.data)
        return render_page("accounts/forgot_password.html", form=None, sent=True)
    status = form_status()
    return render_page("accounts/forgot_password.html", form=form, sent=False, status=status)


def _no_store(page: tuple) -> tuple:
    """A page reached with a capability link: kept by no browser cache or proxy."""
    body, status = page
    return body, status, {"Cache-Control": "no-store"}


@bp.route("/sign-in/link/<token>", methods=["GET", "POST"])
@limiter.limit("30 per 10 minutes", methods=["POST"])
def use_sign_in_link(token: str):
    """A sign-in link (from the therapist or by email): choose a new password, which signs the
    person out everywhere else and in on this device, then on to their home page."""
    db = get_db()
    found = links.find_open_link(db, token)
    if found is None:
        return _no_store(render_page("accounts/sign_in_link_invalid.html", status=404))
    link, person = found
    if current_user.is_authenticated and current_user.id != person.id:
        # Someone else uses this browser: never sign them out behind their back. They choose.
        return _no_store(
            _signed_in_elsewhere(
                "Sign-in link", url_for("accounts.sign_out_for_sign_in_link", token=token)
            )
        )
    form = SignInLinkForm()
    if form.validate_on_submit():
        if not links.use_link(db, link=link, user=person, password=form.new_password.data):
            db.rollback()  # another request used the link a moment ago
            return _no_store(render_page("accounts/sign_in_link_invalid.html", status=404))
        ended = login_sessions.end_other_sessions(db, person, None)
        throttle.clear(db, email=person.email, address=request.remote_addr)
        audit_event(
            "sign_in_link_used",
            actor_id=person.id,
            subject_id=person.id,
            detail=f"ended {ended} sessions",
        )
        if second_factor.needs_second_factor(person):
            # A link replaces the password, never the second factor.
            from iop_pwa.accounts.factor_views import begin

            begin(person, None)
            flash("Your new password is saved. Now your second factor, to finish signing in.")
            enrolled = second_factor.is_enrolled(db, person)
            return redirect(
                url_for("factors.second_factor_step" if enrolled else "factors.set_up"), 303
            )
        sign_in_user(person)
        flash("Your new password is saved. You are signed out on your other devices.")
        if form.add_passkey.data:
            # Signing in just now counts as "Confirm it's you": the passkey can be added at once.
            return redirect(url_for("accounts.account") + "#passkeys-heading", 303)
        return redirect(home_for(person), 303)
    return _no_store(
        render_page("accounts/sign_in_link.html", form=form, person=person, status=form_status())
    )


@bp.post("/sign-in/link/<token>/sign-out")
def sign_out_for_sign_in_link(token: str):
    """The "Sign out and continue" button on a sign-in link opened where someone else is signed
    in: sign out as Sign out does, then show the link's page."""
    end_this_session()
    flash("You are signed out. You can choose the new password now.")
    return redirect(url_for("accounts.use_sign_in_link", token=token), 303)


# What someone who must choose a new password can still reach: sign out, crisis help, the
# privacy page, and what the browser needs to show a page (static files, the service worker).
OPEN_DURING_PASSWORD_CHANGE = {
    "accounts.choose_password",
    "accounts.use_sign_in_link",
    "accounts.sign_out_for_sign_in_link",
    "accounts.sign_out",
    "safety.crisis_help",
    "accounts.privacy",
    "static",
    "healthz",
    "pwa.service_worker",
    "pwa.manifest",
    "pwa.offline",
}


@bp.before_app_request
def require_own_password():
    """Until a person replaces a password someone else chose, every other page sends them to
    "Choose a new password" (303; HX-Redirect for htmx; 403 JSON for the app's API)."""
    if request.endpoint in OPEN_DURING_PASSWORD_CHANGE:
        return None
    if not (current_user.is_authenticated and current_user.must_change_password):
        return None
    target = url_for("accounts.choose_password")
    if wants_json():
        return jsonify(error="password_change_required", change_password=target), 403
    if htmx:
        return htmx_response(redirect=target)
    return redirect(target, 303)


@bp.route("/account/choose-password", methods=["GET", "POST"])
@login_required
def choose_password():
    """First sign-in with a password an admin chose: the person chooses one only they know.

    They have just typed the old one, so it is not asked again; their other sessions end."""
    if not current_user.must_change_password:
        return redirect(url_for("accounts.account"), 303)
    form = ChoosePasswordForm()
    if form.validate_on_submit():
        db = get_db()
        user = db.get(User, current_user.id)
        try:
            services.replace_temporary_password(db, user=user, password=form.new_password.data)
        except services.AccountError as exc:
            form.new_password.errors = [str(exc)]
        else:
            ended = login_sessions.end_other_sessions(db, user, session.get(SESSION_TOKEN_KEY))
            audit_event("password_changed", detail=f"first sign-in; ended {ended} other sessions")
            flash("Your new password is saved.")
            return redirect(safe_next(request.args.get("next")) or home_for(user), 303)
    return render_page("accounts/choose_password.html", form=form, status=form_status())


def end_this_session() -> None:
    """Sign this browser out for real: delete its server-side session row, then the cookie's."""
    db = get_db()
    if current_user.is_authenticated:
        audit_event("sign_out")
    login_sessions.end_session(db, session.get(SESSION_TOKEN_KEY))
    logout_user()
    session.clear()


def _signed_in_elsewhere(link_name: str, sign_out_url: str, *, new_account: bool = False):
    """The page for a link meant for another account, opened where someone is signed in: 200 to
    look at, 409 to a form posted anyway (nothing changes)."""
    return render_page(
        "accounts/signed_in_elsewhere.html",
        link_name=link_name,
        sign_out_url=sign_out_url,
        new_account=new_account,
        home=home_for(current_user),
        status=200 if request.method == "GET" else 409,
    )


@bp.post("/sign-out")
def sign_out():
    end_this_session()
    flash("You are signed out.")
    return redirect(url_for("accounts.sign_in"), 303)


@bp.get("/privacy")
def privacy():
    return render_page("accounts/privacy.html")


def _account_page(password_form=None, timezone_form=None, clock_form=None, status=200):
    db = get_db()
    timezone_form = timezone_form or TimezoneForm(timezone=current_user.timezone)
    clock_form = clock_form or ClockForm(clock=current_user.clock)
    current_hash = login_sessions.token_hash(session.get(SESSION_TOKEN_KEY, ""))
    return render_page(
        "accounts/account.html",
        password_form=password_form or ChangePasswordForm(),
        timezone_form=timezone_form,
        clock_form=clock_form,
        devices=login_sessions.list_sessions(db, current_user),
        passkeys=passkeys.passkeys_of(db, current_user),
        passkey_form=PasskeyNameForm(),
        totp=second_factor.confirmed_totp(db, current_user) if current_user.is_staff else None,
        codes_left=second_factor.recovery_codes_left(db, current_user),
        current_hash=current_hash,
        groups=services.groups_of(db, current_user),
        sections=render_sections("account", db=db, person=current_user),
        status=status,
    )


@bp.get("/account")
@login_required
def account():
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    db = get_db()
    if not form.validate_on_submit():
        return _account_page(password_form=form, status=422)
    user = db.get(User, current_user.id)
    if services.authenticate(db, email=user.email, password=form.current_password.data) is None:
        form.current_password.errors = ["That is not your current password."]
        return _account_page(password_form=form, status=422)
    services.set_password(db, user=user, password=form.new_password.data)
    ended = login_sessions.end_other_sessions(db, user, session.get(SESSION_TOKEN_KEY))
    audit_event("password_changed", detail=f"ended {ended} other sessions")
    flash("Your password is changed. Any other devices were signed out.")
    return redirect(url_for("accounts.account"), 303)


@bp.post("/account/timezone")
@login_required
def change_timezone():
    return _save_setting(TimezoneForm(), "timezone", "Your time zone is saved.")


@bp.post("/account/clock")
@login_required
def change_clock():
    """12 or 24 hours on every page and in the page's scripts ("" follows the language)."""
    return _save_setting(ClockForm(), "clock", "Your clock is saved.")


def _save_setting(form, name: str, saved: str):
    """One of the person's display settings from its own small form on Account: the form's
    field `name` is stored on the user of the same name; a bad value shows Account again (422)."""
    if not form.validate_on_submit():
        return _account_page(**{f"{name}_form": form}, status=422)
    db = get_db()
    user = db.get(User, current_user.id)
    setattr(user, name, getattr(form, name).data)
    db.add(user)
    flash(saved)
    return redirect(url_for("accounts.account"), 303)


@bp.post("/account/sign-out-others")
@login_required
def sign_out_other_devices():
    db = get_db()
    ended = login_sessions.end_other_sessions(db, current_user, session.get(SESSION_TOKEN_KEY))
    audit_event("sign_out_others", detail=f"ended {ended} sessions")
    flash("Signed out of your other devices." if ended else "No other devices were signed in.")
    return redirect(url_for("accounts.account"), 303)


@bp.route("/join/<token>", methods=["GET", "POST"])
@limiter.limit("30 per 10 minutes", methods=["POST"])
def accept_invitation(token: str):
    """A new participant opens their invitation link, chooses a password and lands on Today."""
    db = get_db()
    invitation = services.find_open_invitation(db, token)
    if invitation is None:
        used = services.find_invitation(db, token)
        if (
            used is not None
            and current_user.is_authenticated
            and used.participant_id == current_user.id
        ):
            # Their own link, opened again (from the message it came in): they are in already.
            flash("You set up your account with this link already: you are signed in.")
            return redirect(url_for("participant.today"), 303)
        return render_page("accounts/invitation_invalid.html", status=404)
    if current_user.is_authenticated:
        # Someone already uses this browser: never sign them out behind their back. They choose.
        return _signed_in_elsewhere(
            "Invitation", url_for("accounts.sign_out_for_invitation", token=token), new_account=True
        )
    form = AcceptInvitationForm(
        data=None
        if request.method == "POST"
        else {
            "name": invitation.name,
            "email": invitation.email or "",
            "timezone": "America/New_York",
        }
    )
    if form.validate_on_submit():
        try:
            participant = services.accept_invitation(
                db,
                invitation=invitation,
                name=form.name.data,
                email=form.email.data,
                password=form.password.data,
                timezone=form.timezone.data,
            )
        except services.InvitationGone:
            db.rollback()  # someone else's request took the link a moment ago
            return render_page("accounts/invitation_invalid.html", status=404)
        except services.AccountError as exc:
            db.rollback()  # releases the claim on the invitation, so it can be used again
            form.email.errors = [str(exc)]
        else:
            sign_in_user(participant)
            audit_event(
                "invitation_accepted",
                actor_id=participant.id,
                object_type="invitation",
                object_id=invitation.id,
                subject_id=participant.id,
            )
            flash(f"Welcome, {participant.first_name}. This is your Today page.")
            return redirect(url_for("participant.today"), 303)
    status = form_status()
    return render_page(
        "accounts/accept_invitation.html", form=form, invitation=invitation, status=status
    )


@bp.post("/join/<token>/sign-out")
def sign_out_for_invitation(token: str):
    """The "Sign out and continue" button on an invitation link: end this browser's session as
    Sign out does, then show the invitation to the new person."""
    end_this_session()
    flash("You are signed out. You can set up the new account now.")
    return redirect(url_for("accounts.accept_invitation", token=token), 303)


@bp.get("/account/my-data.zip")
@participant_required
@recent_auth_required
def export_my_data():
    """Download everything the participant wrote, as JSON and CSV in one ZIP ("Confirm it's
    you" first, unless they signed in or confirmed a few minutes ago)."""
    db = get_db()
    data = my_data.export_zip(db, user=current_user)
    audit_event("data_export", subject_id=current_user.id)
    filename = f"my-data-{local_today(current_user.timezone).isoformat()}.zip"
    return Response(
        data,
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/account/delete", methods=["GET", "POST"])
@participant_required
def delete_account():
    """Delete the participant's account after a confirmation that names what goes."""
    form = DeleteAccountForm()
    db = get_db()
    if form.validate_on_submit():
        user = db.get(User, current_user.id)
        if services.authenticate(db, email=user.email, password=form.password.data) is None:
            form.password.errors = ["That is not your password."]
        else:
            audit_event("account_deleted", subject_id=user.id)
            my_data.delete_account(db, user=user)
            purge_deleted_after_commit()
            logout_user()
            session.clear()
            flash("Your account and everything you wrote are deleted. Take care of yourself.")
            return redirect(url_for("accounts.sign_in"), 303)
    status = form_status()
    return render_page(
        "accounts/delete.html",
        form=form,
        deleted=my_data.deleted_on_account_deletion(),
        status=status,
    )
