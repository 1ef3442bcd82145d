"""The reminder preferences form (Account → Reminders)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectMultipleField, TimeField
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
    group_activity = BooleanField("Group activity")
    alerts = BooleanField("Alerts about people on my caseload (a new safety flag)")
    quiet_start = TimeField("Quiet from", validators=[Optional()])
    quiet_end = TimeField("Quiet until", validators=[Optional()])
    by_push = BooleanField("On my devices (push)")
    by_email = BooleanField("By email")

    def validate_quiet_end(self, field) -> None:
        if bool(self.quiet_start.data) != bool(field.data):
            raise ValidationError("Give both times for quiet hours, or neither.")
        if field.data and field.data == self.quiet_start.data:
            raise ValidationError("Quiet hours need different start and end times.")

    def validate_session_minutes(self, field) -> None:
        if self.session_reminders.data and not field.data:
            raise ValidationError("Choose when before a session, or turn session reminders off.")
