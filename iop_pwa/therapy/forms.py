"""Forms for scheduling sessions, family guests, attendance and the calendar feed."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    SelectField,
    StringField,
    TimeField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from iop_pwa.accounts.forms import EmailAddress
from iop_pwa.forms_util import DateWithin
from iop_pwa.therapy.models import KINDS


class SessionForm(FlaskForm):
    kind = SelectField("Kind of session", choices=[SelectChoice(k, v) for k, v in KINDS.items()])
    title = StringField(
        "Title", validators=[DataRequired("Give the session a title."), Length(max=120)]
    )
    day = DateField("Date", validators=[InputRequired("Choose a date."), DateWithin()])
    at = TimeField("Start time (your time zone)", validators=[InputRequired("Choose a time.")])
    duration_minutes = IntegerField(
        "Length in minutes", default=60, validators=[InputRequired(), NumberRange(min=5, max=480)]
    )
    video_url = URLField(
        "Video link (https)", validators=[DataRequired("Add the video link."), Length(max=500)]
    )
    participant = SelectField(
        "Participant (individual and family sessions)",
        validators=[Optional()],
        validate_choice=False,
    )
    group = SelectField("Group (group sessions)", validators=[Optional()], validate_choice=False)
    repeat_weeks = IntegerField(
        "Repeat weekly for how many weeks",
        default=1,
        validators=[InputRequired(), NumberRange(min=1, max=26)],
    )
    already_happened = BooleanField("Record a session that already happened")


class EditSessionForm(FlaskForm):
    title = SessionForm.title
    day = SessionForm.day
    at = SessionForm.at
    duration_minutes = SessionForm.duration_minutes
    video_url = SessionForm.video_url


class GuestForm(FlaskForm):
    name = StringField(
        "Guest's name", validators=[DataRequired("Enter the guest's name."), Length(max=120)]
    )
    email = EmailField("Email (optional)", validators=[Optional(), EmailAddress(), Length(max=254)])


class FeedForm(FlaskForm):
    include_links = BooleanField("Include video links in my calendar")
