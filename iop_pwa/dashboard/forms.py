"""Forms on the therapist's dashboard."""

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from iop_pwa.accounts.models import ParticipantStatus


class StatusForm(FlaskForm):
    status = SelectField(
        "Program status",
        choices=[
            SelectChoice(ParticipantStatus.active.value, "Active in the program"),
            SelectChoice(ParticipantStatus.alumni.value, "Alumni (finished the program)"),
            SelectChoice(ParticipantStatus.deactivated.value, "Deactivated (cannot sign in)"),
        ],
    )
