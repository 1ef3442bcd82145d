"""Forms on the therapist's dashboard: a participant's place in the program."""

from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import InputRequired

from iop_pwa.forms_util import DateWithin


class DischargeForm(FlaskForm):
    """Discharge to alumni on a day (today by default; never in the future, never before the
    person joined: the view checks those, as they depend on the person)."""

    day = DateField(
        "Discharge date",
        validators=[InputRequired("Choose the day of discharge."), DateWithin(years_back=5)],
    )
    # Checked by the view (an alumni group by id; none when the program has none yet).
    alumni_group = SelectField("Alumni group they join", choices=[], validate_choice=False)


class ReadmitForm(FlaskForm):
    group = SelectField(
        "Group they join",
        choices=[],
        validators=[InputRequired("Choose the group they join.")],
    )


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
