"""The push interface for the page's script, and the Reminders forms on Account.

- `GET /push/key` → `{"publicKey": "<base64url>"}` (the VAPID public key to subscribe with)
- `POST /push/subscriptions` with `PushSubscription.toJSON()` (CSRF header) → 201 (200 when
  the browser re-sends a subscription we have: the page does that on every app open)
- `DELETE /push/subscriptions` with `{"endpoint": ...}` → 204
- `POST /push/test` → 202: a test notification to each of the person's devices
"""

from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, request, url_for
from flask_login import current_user, login_required

from iop_pwa import mail
from iop_pwa.access import Action, load_or_404
from iop_pwa.db import get_db
from iop_pwa.push import delivery, preferences, services, settings
from iop_pwa.push.forms import PreferencesForm
from iop_pwa.push.policies import PUSH_SUBSCRIPTION

bp = Blueprint("push", __name__, url_prefix="/push")

ACCOUNT_REMINDERS = "accounts.account"


def _back():
    return redirect(url_for(ACCOUNT_REMINDERS) + "#reminders", 303)


def _json_body() -> object:
    return request.get_json(silent=True)


@bp.get("/key")
@login_required
def key():
    return jsonify(publicKey=settings.public_key())


@bp.post("/subscriptions")
@login_required
def subscribe():
    try:
        row, created = services.subscribe(
            get_db(),
            user=current_user,
            body=_json_body(),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except services.PushError as exc:
        return jsonify(error="invalid_subscription", detail=str(exc)), 400
    return jsonify(id=row.id, device=row.device), 201 if created else 200


@bp.delete("/subscriptions")
@login_required
def unsubscribe():
    body = _json_body()
    endpoint = body.get("endpoint") if isinstance(body, dict) else None
    if not isinstance(endpoint, str):
        return jsonify(error="invalid_subscription", detail="Send the endpoint as JSON."), 400
    services.unsubscribe(get_db(), user=current_user, endpoint=endpoint)
    return "", 204


@bp.post("/test")
@login_required
def test():
    db = get_db()
    count = len(services.devices(db, current_user.id))
    if count:
        delivery.queue_test(db, user_id=current_user.id)
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify(devices=count), 202
    flash(
        "A test notification is on its way to your devices. It should arrive within a minute."
        if count
        else "Turn on reminders on a device first."
    )
    return _back()


@bp.post("/devices/<int:subscription_id>/remove")
@login_required
def remove_device(subscription_id: int):
    """Turn reminders off for a device from the list (a lost phone, an old browser)."""
    sub = load_or_404(PUSH_SUBSCRIPTION, subscription_id, Action.change)
    get_db().delete(sub)
    flash("Reminders are off for that device.")
    return _back()


@bp.post("/preferences")
@login_required
def save_preferences():
    form = PreferencesForm()
    if not form.validate_on_submit():
        return _invalid(form)
    how = {}
    if mail.enabled():  # otherwise the page offers no choice: keep the stored one
        by_push, by_email = preferences.CHANNEL_CHOICES[form.channel.data or "push"]
        how = {"by_push": by_push, "by_email": by_email}
    preferences.save(
        get_db(),
        user=current_user,
        daily_practice=form.daily_practice.data,
        daily_time=form.daily_time.data.replace(second=0, microsecond=0),
        session_reminders=form.session_reminders.data,
        session_minutes=",".join(form.session_minutes.data or []) or "60,10",
        care_team=form.care_team.data,
        group_activity=form.group_activity.data == "digest",
        alerts=form.alerts.data,
        quiet_start=form.quiet_start.data,
        quiet_end=form.quiet_end.data,
        **how,
    )
    flash("Your reminder choices are saved.")
    return _back()


def _invalid(form: PreferencesForm):
    """The Account page again with the form's errors beside its fields (422)."""
    from iop_pwa.accounts.views import _account_page

    g.reminder_form = form  # the Reminders section shows this form instead of a fresh one
    return _account_page(status=422)
