"""Push's parts of other pages: Reminders on Account, a line on Today, and the therapist's view
of whether a participant's reminders arrive."""

from __future__ import annotations

from datetime import datetime

from flask import g
from sqlmodel import Session

from iop_pwa import mail
from iop_pwa.accounts.models import User
from iop_pwa.push import by_email, preferences, services
from iop_pwa.push.forms import PreferencesForm


def _form(db: Session, person: User) -> PreferencesForm:
    pref = preferences.load(db, person.id)
    return PreferencesForm(
        daily_practice=pref.daily_practice,
        daily_time=pref.daily_time,
        session_reminders=pref.session_reminders,
        session_minutes=[str(m) for m in preferences.session_minutes(pref)],
        care_team=pref.care_team,
        group_activity="digest" if pref.group_activity else "off",
        alerts=pref.alerts,
        quiet_start=pref.quiet_start,
        quiet_end=pref.quiet_end,
        channel=preferences.channel_choice(pref),
    )


def account(*, db: Session, person: User) -> dict:
    """Reminders: this device's switch (the script fills it in), the devices, the choices."""
    return {
        "person": person,
        "found": services.reliability(db, person.id),
        "form": g.get("reminder_form") or _form(db, person),
        "mail_enabled": mail.enabled(),
        "email_subject": by_email.subject("alerts" if person.is_staff else "practice"),
    }


def today(*, db: Session, person: User, now: datetime) -> dict:
    """Whether reminders are on for this device (the script knows) and when one last came."""
    return {"person": person, "found": services.reliability(db, person.id)}


def participant_page(*, db: Session, person: User) -> dict | None:
    """For the therapist: reminders on or off, the last delivery, and a warning when none can
    arrive (no device, or every device failing)."""
    if not person.is_participant:
        return None
    return {
        "person": person,
        "found": services.reliability(db, person.id),
        "mail_enabled": mail.enabled(),
    }
