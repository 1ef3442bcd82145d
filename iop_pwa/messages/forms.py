"""Messages forms. Sending carries a device-made id and the device's time (`DeviceWrite`), so a
message written offline is stored exactly once."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional

from iop_pwa.messages.models import MAX_MESSAGE, REMOVAL_REASONS, REPORT_REASONS
from iop_pwa.messages.services import MUTE_CHOICES
from iop_pwa.pwa.device_write import DeviceWrite


class MessageForm(DeviceWrite):
    body = TextAreaField(
        "Message",
        validators=[
            DataRequired("Write a message to send."),
            Length(max=MAX_MESSAGE, message=f"Messages can be up to {MAX_MESSAGE:,} characters."),
        ],
        render_kw={"rows": 2, "maxlength": MAX_MESSAGE, "data-counter": MAX_MESSAGE},
    )


class ReportForm(FlaskForm):
    reason = RadioField(
        "Why are you reporting this message?",
        choices=[SelectChoice(k, v) for k, v in REPORT_REASONS.items()],
        validators=[InputRequired("Choose a reason.")],
    )
    detail = TextAreaField(
        "Anything the facilitators should know (optional)",
        validators=[Optional(), Length(max=500)],
        render_kw={"rows": 3, "maxlength": 500},
    )


class RemoveMessageForm(FlaskForm):
    """A facilitator confirms removing a message, with the reason its author is told."""

    reason = RadioField(
        "Why is it removed? Its author is told this, in general words.",
        choices=[SelectChoice(k, label) for k, (label, _) in REMOVAL_REASONS.items()],
        validators=[InputRequired("Choose why the message is removed.")],
    )
    # Where to go back to: the moderation queue, or (anything else) the room.
    next = HiddenField()


class MuteForm(FlaskForm):
    member = HiddenField(validators=[InputRequired()])
    hours = SelectField(
        "Pause posting",
        choices=[SelectChoice(str(k), v) for k, v in MUTE_CHOICES.items()],
        coerce=int,
        validators=[InputRequired()],
    )


class MemberForm(FlaskForm):
    member = HiddenField(validators=[InputRequired()])


class GuidelinesForm(FlaskForm):
    guidelines = TextAreaField(
        "Guidelines, one a line",
        validators=[Optional(), Length(max=4000)],
        render_kw={"rows": 8, "maxlength": 4000},
    )


class DirectMessagesForm(FlaskForm):
    """A facilitator turns direct messages between a group's members on or off."""

    turn = HiddenField(validators=[InputRequired(), AnyOf(["on", "off"])])


class ButtonForm(FlaskForm):
    """A button alone (block, unblock): the form is only its CSRF token."""
