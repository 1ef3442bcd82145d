"""The admin's forms: the program's own contact (the help page shows it to everyone), therapists,
groups, the crisis lines and the audit log's filters."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from iop_pwa.accounts.forms import EmailAddress
from iop_pwa.accounts.models import GroupKind
from iop_pwa.forms_util import DateWithin
from iop_pwa.safety.program import phone_problem
from iop_pwa.safety.resources import reach_problem


class ProgramContactForm(FlaskForm):
    name = StringField(
        "Program name",
        validators=[DataRequired("Enter the program's name."), Length(max=120)],
    )
    phone = TelField(
        "Phone",
        validators=[DataRequired("Enter the program's phone number."), Length(max=40)],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    hours = StringField("Hours (optional)", validators=[Length(max=200)])
    message_hours = StringField(
        "When the care team answers messages (optional)", validators=[Length(max=200)]
    )
    alumni_message_hours = StringField(
        "When the care team answers alumni (optional)", validators=[Length(max=200)]
    )

    def validate_phone(self, field):
        if problem := phone_problem(field.data or ""):
            raise ValidationError(problem)


class TherapistEditForm(FlaskForm):
    """An admin corrects a therapist's name or email (their password stays theirs)."""

    name = StringField("Name", validators=[DataRequired("Enter a name."), Length(max=120)])
    email = EmailField(
        "Email", validators=[InputRequired("Enter an email."), EmailAddress(), Length(max=254)]
    )


class GroupEditForm(FlaskForm):
    """One per group on the page, told apart by a prefix ("group-7-name"). Its token is the
    page's `csrf_token` field, which CSRFProtect checks on every POST."""

    class Meta:
        csrf = False

    name = StringField("Group name", validators=[DataRequired("Enter a name."), Length(max=120)])
    kind = SelectField(
        "Kind of group",
        choices=[
            SelectChoice(GroupKind.cohort.value, "A group of the program (a cohort)"),
            SelectChoice(GroupKind.alumni.value, "An alumni group (after discharge)"),
        ],
    )


class CrisisResourceForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter the line's name."), Length(max=120)])
    detail = TextAreaField(
        "What it is and when to use it",
        validators=[DataRequired("Say what the line is for."), Length(max=300)],
        render_kw={"rows": 2},
    )
    phone = TelField(
        "Number to call (optional)",
        validators=[Length(max=40)],
        render_kw={"inputmode": "tel"},
    )
    text_number = TelField(
        "Number to text (optional)",
        validators=[Length(max=40)],
        render_kw={"inputmode": "tel"},
    )
    url = URLField("Web address (optional)", validators=[Length(max=300)])

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        problem = reach_problem(
            phone=(self.phone.data or "").strip(),
            text_number=(self.text_number.data or "").strip(),
            url=(self.url.data or "").strip(),
        )
        if problem:
            field = getattr(self, problem[0])
            field.errors = [*field.errors, problem[1]]
            return False
        return valid


class AuditFilterForm(FlaskForm):
    """The audit log's filters (a GET form: no CSRF, nothing changes)."""

    class Meta:
        csrf = False

    who = StringField("Who (name or email)", validators=[Optional(), Length(max=120)])
    whom = StringField("Whose record (name or email)", validators=[Optional(), Length(max=120)])
    what = SelectField("What", choices=[], validate_choice=False)
    since = DateField("From", validators=[Optional(), DateWithin(years_back=10, years_ahead=1)])
    until = DateField("To", validators=[Optional(), DateWithin(years_back=10, years_ahead=1)])
