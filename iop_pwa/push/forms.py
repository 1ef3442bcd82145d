"""The reminder preferences form (Account → Reminders)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectMultipleField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from iop_pwa.push.preferences import SESSION_MINUTE_CHOICES


def _minutes_label(minutes: int) -> str:
    if minutes == 1440:
        return "A day before"
    if minutes >= 60:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours > 1 else ''} before"
    return f"{minutes} minutes before"


class PreferencesForm(FlaskForm):
    daily_practice = BooleanField("A daily practice reminder, when something is still to do")
    daily_time = TimeField("Daily reminder at", validators=[InputRequired()])
    session_reminders = BooleanField("Before my sessions")
    session_minutes = SelectMultipleField(
        "When before a session",
        choices=[SelectChoice(str(m), _minutes_label(m)) for m in SESSION_MINUTE_CHOICES],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    care_team = BooleanField("Messages and feedback from my care team")
    group_activity = RadioField(
        "Group activity",
        choices=[
            SelectChoice("off", "Off"),
            SelectChoice(
                "digest", "A daily digest at my daily reminder time, when there is something new"
            ),
        ],
        default="off",  # left out of the page for staff: off
    )
    alerts = BooleanField("Alerts about people on my caseload (a new safety flag)")
    quiet_start = TimeField("Quiet from", validators=[Optional()])
    quiet_end = TimeField("Quiet until", validators=[Optional()])
    # Shown only where the program set up mail (otherwise the page says reminders come to
    # devices only, and the stored choice is left as it is).
    channel = RadioField(
        "How reminders reach me",
        choices=[
            SelectChoice("push", "On my devices (push)"),
            SelectChoice("email", "By email"),
            SelectChoice("both", "Both"),
        ],
        default="push",
    )

    def validate_quiet_end(self, field) -> None:
        if bool(self.quiet_start.data) != bool(field.data):
            raise ValidationError("Give both times for quiet hours, or neither.")
        if field.data and field.data == self.quiet_start.data:
            raise ValidationError("Quiet hours need different start and end times.")

    def validate_session_minutes(self, field) -> None:
        if self.session_reminders.data and not field.data:
            raise ValidationError("Choose when before a session, or turn session reminders off.")
