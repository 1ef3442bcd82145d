"""Forms for signing in, accounts and invitations (Flask-WTF: CSRF included)."""

from __future__ import annotations

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
from iop_pwa.accounts.timezones import KnownTimezone, TimezoneField

__all__ = ["KnownTimezone"]  # kept importable from here

# How app.js treats a time zone select (data-prefill-timezone): "select" puts the device's zone
# first and chooses it (a new account); "suggest" only puts it first (someone's saved choice).
SELECT_DEVICE_ZONE = {"data-prefill-timezone": "select"}
SUGGEST_DEVICE_ZONE = {"data-prefill-timezone": "suggest"}


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
    timezone = TimezoneField(render_kw=SUGGEST_DEVICE_ZONE)


class ClockForm(FlaskForm):
    """12 or 24 hours, or the habit of the person's language (iop_pwa.dates.CLOCKS)."""

    clock = SelectField(
        "Clock",
        choices=[
            SelectChoice("", "As usual for my language"),
            SelectChoice("12", "12-hour (8:45 PM)"),
            SelectChoice("24", "24-hour (20:45)"),
        ],
        validate_choice=True,
    )


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
    timezone = TimezoneField()
    privacy = BooleanField(
        "I have read how my information is kept private",
        validators=[DataRequired("Please read the privacy notice and tick the box.")],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The device's zone is chosen for a new account, but never over what the person chose
        # and sent (a form shown again to fix another field).
        self.timezone.render_kw = SUGGEST_DEVICE_ZONE if self.is_submitted() else SELECT_DEVICE_ZONE


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
    timezone = TimezoneField(default="America/New_York", render_kw=SUGGEST_DEVICE_ZONE)


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


class SecondFactorForm(FlaskForm):
    """The code on the second step of a staff sign-in: the app's 6 digits or a recovery code."""

    code = StringField(
        "Code",
        validators=[InputRequired("Enter the code from your authenticator app."), Length(max=40)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text", "autocapitalize": "off"},
    )


class TotpSetUpForm(FlaskForm):
    code = StringField(
        "Code from the app",
        validators=[InputRequired("Enter the 6-digit code the app shows."), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ConfirmItsYouForm(FlaskForm):
    """ "Confirm it's you": the password, or (staff) a code from the authenticator app."""

    password = PasswordField(
        "Password",
        validators=[Optional(), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        "Or a code from your authenticator app",
        validators=[Optional(), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class PasskeyNameForm(FlaskForm):
    name = StringField(
        "Name of this passkey",
        validators=[Optional(), Length(max=60, message="Use at most 60 characters.")],
        render_kw={"placeholder": "My phone"},
    )


class SignInLinkForm(ChoosePasswordForm):
    """A sign-in link's page: a new password, and (participants) a passkey right after."""

    add_passkey = BooleanField("Then add a passkey, to sign in with this phone's lock next time")
