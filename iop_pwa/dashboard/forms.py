"""Forms on the therapist's dashboard."""

from flask_wtf import FlaskForm
from wtforms import SelectField

from iop_pwa.accounts.models import ParticipantStatus


class StatusForm(FlaskForm):
    status = SelectField(
        "Program status",
        choices=[
            (ParticipantStatus.active.value, "Active in the program"),
            (ParticipantStatus.alumni.value, "Alumni (finished the program)"),
            (ParticipantStatus.deactivated.value, "Deactivated (cannot sign in)"),
        ],
    )
