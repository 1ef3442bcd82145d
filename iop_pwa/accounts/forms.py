"""Forms for signing in, accounts and invitations (Flask-WTF: CSRF included)."""

from __future__ import annotations

from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from iop_pwa.accounts.passwords import MAX_LENGTH, MIN_LENGTH

TIMEZONES = sorted(tz for tz in available_timezones() if "/" in tz and not tz.startswith("Etc/"))


# Grouped by region ("America", "Europe"...) so the long list is easier to scan on a phone.
TIMEZONE_CHOICES = [
    SelectChoice(tz, tz.split("/", 1)[1].replace("_", " "), optgroup=tz.split("/", 1)[0])
    for tz in TIMEZONES
]


class EmailAddress:
    """A syntactically valid email (email-validator; no DNS look-up). Outside production the
    reserved `.test` domain is allowed, so the demo and tests can use addresses nobody owns."""

    def __call__(self, form, field):
        try:
            validate_email(
                field.data or "",
                check_deliverability=False,
                test_environment=current_app.config["APP_ENV"] != "production",
            )
        except EmailNotValidError as exc:
            raise ValidationError("Enter a valid email.") from exc


class KnownTimezone:
    """Only IANA zone names this server knows (what `zoneinfo` can compute local dates with)."""

    def __call__(self, form, field):
        if field.data not in available_timezones():
            raise ValidationError("Choose a time zone from the list.")


def new_password_field(label: str = "Password") -> PasswordField:
    return PasswordField(
        label,
        validators=[
            InputRequired("Choose a password."),
            Length(
                min=MIN_LENGTH,
                max=MAX_LENGTH,
                message=f"Use at least {MIN_LENGTH} characters (a short sentence works well).",
            ),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class SignInForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[InputRequired("Enter your email."), Length(max=254)],
        render_kw={"autocomplete": "username", "inputmode": "email"},
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter your password."), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[InputRequired()],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = new_password_field("New password")
    confirm = PasswordField(
        "Repeat new password",
        validators=[EqualTo("new_password", "The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class ChoosePasswordForm(FlaskForm):
    """A first sign-in with a password someone else chose (the person just typed it)."""

    new_password = new_password_field("New password")
    confirm = PasswordField(
        "Repeat new password",
        validators=[EqualTo("new_password", "The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email",
        filters=[_strip],  # phone keyboards add a space after a suggested address
        validators=[InputRequired("Enter your email."), EmailAddress(), Length(max=254)],
        render_kw={"autocomplete": "username", "inputmode": "email"},
    )


class EmailLinkForm(FlaskForm):
    """Where to email an invitation's link (filled in with the invitation's email)."""

    email = EmailField(
        "Their email",
        validators=[InputRequired("Enter their email."), EmailAddress(), Length(max=254)],
    )


class TimezoneForm(FlaskForm):
    timezone = SelectField("Time zone", choices=TIMEZONE_CHOICES, validators=[KnownTimezone()])


class InvitationForm(FlaskForm):
    name = StringField(
        "Participant's name", validators=[DataRequired("Enter a name."), Length(max=120)]
    )
    email = EmailField("Email (optional)", validators=[Optional(), EmailAddress(), Length(max=254)])
    # Choices are the therapist's own groups; a posted id outside them is refused by the group
    # policy (an audited 404), not by WTForms.
    group = SelectField("Group", coerce=str, validators=[Optional()], validate_choice=False)
    new_group = StringField("Or a new group", validators=[Optional(), Length(max=120)])


class AcceptInvitationForm(FlaskForm):
    name = StringField(
        "Your name",
        validators=[DataRequired("Enter your name."), Length(max=120)],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        "Email",
        validators=[
            InputRequired("Enter your email."),
            EmailAddress(),
            Length(max=254),
        ],
        render_kw={"autocomplete": "username", "inputmode": "email"},
    )
    password = new_password_field("Choose a password")
    timezone = SelectField(
        "Time zone",
        choices=TIMEZONE_CHOICES,
        validators=[KnownTimezone()],
        render_kw={"data-prefill-timezone": "1"},
    )
    privacy = BooleanField(
        "I have read how my information is kept private",
        validators=[DataRequired("Please read the privacy notice and tick the box.")],
    )


class TherapistForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Enter a name."), Length(max=120)])
    email = EmailField(
        "Email",
        validators=[
            InputRequired("Enter an email."),
            EmailAddress(),
            Length(max=254),
        ],
    )
    password = new_password_field("Temporary password")
    timezone = SelectField(
        "Time zone",
        choices=TIMEZONE_CHOICES,
        validators=[KnownTimezone()],
        default="America/New_York",
    )


class GroupForm(FlaskForm):
    """An admin starts a group and names its first facilitator."""

    name = StringField("Group name", validators=[DataRequired("Enter a name."), Length(max=120)])
    facilitator = SelectField("Facilitator", validators=[DataRequired("Choose a therapist.")])


class FacilitatorForm(FlaskForm):
    facilitator = SelectField("Add a facilitator", validators=[DataRequired("Choose a therapist.")])


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        "Your password, to confirm",
        validators=[InputRequired("Enter your password to confirm.")],
        render_kw={"autocomplete": "current-password"},
    )
