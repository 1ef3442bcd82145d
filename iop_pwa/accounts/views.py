"""Signing in and out, the Account page, crisis help, and accepting an invitation."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from sqlmodel import select

from iop_pwa.accounts import my_data, services
from iop_pwa.accounts import sessions as login_sessions
from iop_pwa.accounts.forms import (
    AcceptInvitationForm,
    ChangePasswordForm,
    DeleteAccountForm,
    SignInForm,
    TimezoneForm,
)
from iop_pwa.accounts.models import User
from iop_pwa.db import get_db, purge_deleted
from iop_pwa.extensions import limiter
from iop_pwa.security import audit_event
from iop_pwa.web import form_status, local_today, participant_required, render_page, safe_next

bp = Blueprint("accounts", __name__)

SESSION_TOKEN_KEY = "sid"  # noqa: S105 - the session key name, not a secret


def home_for(user: User) -> str:
    if user.is_participant:
        return url_for("participant.today")
    if user.role == "admin":
        return url_for("admin.therapists")
    return url_for("dashboard.home")


def sign_in_user(user: User) -> None:
    """Start a server-side session for `user` in this browser (new token, fresh cookie)."""
    db = get_db()
    session.clear()  # a new session id at sign-in: no fixation
    token = login_sessions.start_session(
        db, user, login_sessions.describe_device(request.user_agent.string)
    )
    session[SESSION_TOKEN_KEY] = token
    session.permanent = True
    login_user(user)


def _account_key() -> str:
    """Rate-limit key for one account: the email being tried, normalised."""
    return "account:" + services.normalize_email(request.form.get("email", ""))


def _failed(response) -> bool:
    return response.status_code != 303


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["SIGN_IN_LIMIT_PER_ADDRESS"],
    methods=["POST"],
    deduct_when=_failed,
    scope="sign-in-address",
)
@limiter.limit(
    lambda: current_app.config["SIGN_IN_LIMIT_PER_ACCOUNT"],
    methods=["POST"],
    key_func=_account_key,
    deduct_when=_failed,
    scope="sign-in-account",
)
def sign_in():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or home_for(current_user), 303)
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        db = get_db()
        user = services.authenticate(db, email=form.email.data, password=form.password.data)
        if user is not None:
            sign_in_user(user)
            audit_event("sign_in", actor_id=user.id)
            db.commit()
            return redirect(safe_next(request.args.get("next")) or home_for(user), 303)
        audit_event("sign_in_failed", detail="bad credentials")
        db.commit()
        error = "That email and password don't match an account. Please try again."
    elif request.method == "POST":
        error = "Enter your email and password."
    status = form_status()
    return render_page("accounts/sign_in.html", form=form, error=error, status=status)


@bp.post("/sign-out")
def sign_out():
    db = get_db()
    if current_user.is_authenticated:
        audit_event("sign_out")
    login_sessions.end_session(db, session.get(SESSION_TOKEN_KEY))
    db.commit()
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("accounts.sign_in"), 303)


@bp.get("/help")
def crisis_help():
    """Crisis resources: public, one tap away on every page, no sign-in needed."""
    return render_page("accounts/help.html", resources=current_app.config["CRISIS_RESOURCES"])


@bp.get("/privacy")
def privacy():
    return render_page("accounts/privacy.html")


def _account_page(password_form=None, timezone_form=None, status=200):
    db = get_db()
    timezone_form = timezone_form or TimezoneForm(timezone=current_user.timezone)
    current_hash = login_sessions.token_hash(session.get(SESSION_TOKEN_KEY, ""))
    return render_page(
        "accounts/account.html",
        password_form=password_form or ChangePasswordForm(),
        timezone_form=timezone_form,
        devices=login_sessions.list_sessions(db, current_user),
        current_hash=current_hash,
        groups=services.groups_of(db, current_user),
        status=status,
        **_calendar_feed(db),
    )


def _calendar_feed(db) -> dict:
    """The calendar subscription section (participants): whether a feed exists, and its link
    if this browser made it (the token is kept only in the person's own session)."""
    if not current_user.is_participant:
        return {}
    from iop_pwa.therapy.forms import FeedForm
    from iop_pwa.therapy.models import CalendarFeed
    from iop_pwa.therapy.views import SHOWN_FEED

    feed = db.exec(select(CalendarFeed).where(CalendarFeed.user_id == current_user.id)).first()
    token = session.get(SHOWN_FEED) if feed else None
    return {
        "has_feed": feed is not None,
        "feed_link": url_for("sessions.feed", token=token, _external=True) if token else None,
        "feed_form": FeedForm(include_links=feed.include_links if feed else False),
    }


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
    db.commit()
    flash("Your password is changed. Any other devices were signed out.")
    return redirect(url_for("accounts.account"), 303)


@bp.post("/account/timezone")
@login_required
def change_timezone():
    form = TimezoneForm()
    if not form.validate_on_submit():
        return _account_page(timezone_form=form, status=422)
    db = get_db()
    user = db.get(User, current_user.id)
    user.timezone = form.timezone.data
    db.add(user)
    db.commit()
    flash("Your time zone is saved.")
    return redirect(url_for("accounts.account"), 303)


@bp.post("/account/sign-out-others")
@login_required
def sign_out_other_devices():
    db = get_db()
    ended = login_sessions.end_other_sessions(db, current_user, session.get(SESSION_TOKEN_KEY))
    audit_event("sign_out_others", detail=f"ended {ended} sessions")
    db.commit()
    flash("Signed out of your other devices." if ended else "No other devices were signed in.")
    return redirect(url_for("accounts.account"), 303)


@bp.route("/join/<token>", methods=["GET", "POST"])
@limiter.limit("30 per 10 minutes", methods=["POST"])
def accept_invitation(token: str):
    """A new participant opens their invitation link, chooses a password and lands on Today."""
    db = get_db()
    invitation = services.find_open_invitation(db, token)
    if invitation is None:
        return render_page("accounts/invitation_invalid.html", status=404)
    if current_user.is_authenticated:
        logout_user()
        session.clear()
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
        except services.AccountError as exc:
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
            db.commit()
            flash(f"Welcome, {participant.first_name}. This is your Today page.")
            return redirect(url_for("participant.today"), 303)
    status = form_status()
    return render_page(
        "accounts/accept_invitation.html", form=form, invitation=invitation, status=status
    )


@bp.get("/account/my-data.zip")
@participant_required
def export_my_data():
    """Download everything the participant wrote, as JSON and CSV in one ZIP."""
    db = get_db()
    data = my_data.export_zip(db, user=current_user)
    audit_event("data_export", subject_id=current_user.id)
    db.commit()
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
            db.commit()
            purge_deleted()
            logout_user()
            session.clear()
            flash("Your account and everything you wrote are deleted. Take care of yourself.")
            return redirect(url_for("accounts.sign_in"), 303)
    status = form_status()
    return render_page(
        "accounts/delete.html",
        form=form,
        deleted=my_data.DELETED_ON_ACCOUNT_DELETION,
        status=status,
    )
