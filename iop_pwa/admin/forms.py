"""The admin's form for the program's own contact (the help page shows it to everyone)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TelField
from wtforms.validators import DataRequired, Length, ValidationError

from iop_pwa.safety.program import phone_problem


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

    def validate_phone(self, field):
        if problem := phone_problem(field.data or ""):
            raise ValidationError(problem)
