"""Practice forms: marking done (with reflection), exercises, assigning, feedback."""

from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    FieldList,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from iop_pwa.forms_util import DateWithin
from iop_pwa.practice.models import SKILLS, WEEKDAY_NAMES, Schedule
from iop_pwa.pwa.device_write import DeviceWrite

HELPFUL = [
    SelectChoice(str(v), f"{v} · {w}")
    for v, w in [(1, "Not at all"), (2, "A little"), (3, "Somewhat"), (4, "Quite"), (5, "Very")]
]
HARD = [
    SelectChoice(str(v), f"{v} · {w}")
    for v, w in [(1, "Very easy"), (2, "Easy"), (3, "Okay"), (4, "Hard"), (5, "Very hard")]
]


def _int_or_none(value):
    return int(value) if value not in (None, "") else None


def pending_key(assignment_id: int, day: date | str) -> str:
    """What the page script calls a mark done that waits on the phone for this assignment and day
    (the form's `data-pending-key`, with "{day}" filled from the form): meanwhile Today and the
    exercise page show it as done, waiting to sync."""
    return f"practice-{assignment_id}-{day if isinstance(day, str) else day.isoformat()}"


class MarkDoneForm(DeviceWrite):
    # Choices are the days offered; the service checks the day itself (clear messages for a
    # replayed or late item whose day is no longer offered).
    day = SelectField(
        "For which day?", validators=[InputRequired(), DateWithin()], validate_choice=False
    )
    answers = FieldList(TextAreaField(validators=[Length(max=5000)]), min_entries=0)
    helpful = RadioField(
        "How helpful was it?", choices=HELPFUL, coerce=_int_or_none, validators=[Optional()]
    )
    difficulty = RadioField(
        "How hard was it?", choices=HARD, coerce=_int_or_none, validators=[Optional()]
    )


class FeedbackForm(FlaskForm):
    text = TextAreaField(
        "Feedback",
        validators=[DataRequired("Write a few words of feedback."), Length(max=1000)],
        render_kw={"rows": 3},
    )


class ExerciseForm(FlaskForm):
    title = StringField(
        "Title", validators=[DataRequired("Give the exercise a title."), Length(max=120)]
    )
    skill = SelectField("Skill", choices=[SelectChoice(k, v) for k, v in SKILLS.items()])
    why = TextAreaField(
        "Why it helps",
        validators=[DataRequired("Say in a sentence or two why it helps."), Length(max=600)],
        render_kw={"rows": 3},
    )
    steps = TextAreaField(
        "Steps (Markdown: 1. first step, 2. next step)",
        validators=[DataRequired("Write the steps."), Length(max=6000)],
        render_kw={"rows": 8},
    )
    minutes = IntegerField(
        "Minutes it takes", default=10, validators=[InputRequired(), NumberRange(min=1, max=120)]
    )
    questions = TextAreaField(
        "Reflection questions (one a line, up to three)",
        validators=[Length(max=1200)],
        render_kw={"rows": 3},
    )

    def validate_questions(self, field):
        from wtforms.validators import ValidationError

        lines = [q for q in (field.data or "").splitlines() if q.strip()]
        if len(lines) > 3:
            raise ValidationError("Use at most three reflection questions.")


class Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AssignForm(FlaskForm):
    # Checked against the caseload and the therapist's groups in the view (404 otherwise).
    participant = SelectField("Participant", validators=[Optional()], validate_choice=False)
    group = SelectField("Or a whole group", validators=[Optional()], validate_choice=False)
    schedule = RadioField(
        "How often",
        default=Schedule.daily.value,
        choices=[
            SelectChoice(Schedule.once.value, "Once"),
            SelectChoice(Schedule.daily.value, "Every day"),
            SelectChoice(Schedule.weekdays.value, "On chosen days of the week"),
        ],
    )
    weekdays = Checkboxes(
        "Days of the week",
        coerce=int,
        validators=[Optional()],
        choices=[SelectChoice(i, name) for i, name in enumerate(WEEKDAY_NAMES)],
    )
    start_date = DateField(
        "Start date", validators=[InputRequired("Choose a start date."), DateWithin()]
    )
    end_date = DateField("End date (optional)", validators=[Optional(), DateWithin()])
    note = TextAreaField(
        "A personal note (optional)", validators=[Length(max=500)], render_kw={"rows": 2}
    )
    reminder_time = TimeField("Reminder time (optional)", validators=[Optional()])


class AssignmentEditForm(FlaskForm):
    schedule = AssignForm.schedule
    weekdays = AssignForm.weekdays
    start_date = AssignForm.start_date
    end_date = AssignForm.end_date
    note = AssignForm.note
    reminder_time = AssignForm.reminder_time
