"""Check-in forms: answering (a write that works offline), a team's own check-in, scheduling."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from iop_pwa.checkins.models import EVERY_WEEKS
from iop_pwa.checkins.questionnaires import Form
from iop_pwa.forms_util import DateWithin
from iop_pwa.pwa.device_write import DeviceWrite


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class AnswerBase(DeviceWrite):
    # The occurrence answered (set when the page was made, so an answer sent later from the
    # outbox still names the occurrence it was written for).
    due_on = HiddenField(validators=[InputRequired("Please reload the page."), DateWithin()])


def answer_form(form: Form, formdata=None, **kwargs) -> AnswerBase:
    """An answer form with one required radio group per item (`item_0`, `item_1`...)."""

    class AnswerForm(AnswerBase):
        pass

    for i, text in enumerate(form.items):
        setattr(
            AnswerForm,
            f"item_{i}",
            RadioField(
                text,
                choices=[SelectChoice(str(v), words) for v, words in form.choices],
                coerce=_int_or_none,
                validators=[InputRequired(f"Choose an answer for question {i + 1}.")],
            ),
        )
    made = AnswerForm(formdata=formdata, **kwargs) if formdata is not None else AnswerForm(**kwargs)
    made.item_fields = [getattr(made, f"item_{i}") for i in range(len(form.items))]
    return made


class QuestionnaireForm(FlaskForm):
    title = StringField(
        "Name of the check-in",
        validators=[DataRequired("Give the check-in a name."), Length(max=120)],
    )
    questions = TextAreaField(
        "Questions (one a line, up to five; answered from 1 Not at all to 5 Very much)",
        validators=[DataRequired("Write at least one question."), Length(max=1500)],
        render_kw={"rows": 4},
    )


class ScheduleForm(FlaskForm):
    # Choices: the built-in check-ins and the therapist's own (checked again in the view).
    questionnaire = SelectField(
        "Check-in", validators=[InputRequired("Choose a check-in.")], validate_choice=False
    )
    every_weeks = RadioField(
        "How often",
        default="1",
        coerce=_int_or_none,
        choices=[SelectChoice(str(k), v) for k, v in EVERY_WEEKS.items()],
        validators=[InputRequired("Choose how often.")],
    )
    start_date = DateField(
        "First day it is due", validators=[InputRequired("Choose a date."), DateWithin()]
    )


class GroupScheduleForm(ScheduleForm):
    pass


class StopForm(FlaskForm):
    """Stopping a schedule: only the CSRF token."""

    next = HiddenField(validators=[Optional(), Length(max=300)])
