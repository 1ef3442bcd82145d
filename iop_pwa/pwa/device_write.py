"""The rules of a write made on a device, possibly offline: every feature's write form has a
device-made id (`client_id`, so a replay is stored once) and the device's time of writing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import InputRequired, ValidationError

from iop_pwa.db import utcnow

# How old a device's time of writing may be and still be believed (an outbox item can wait
# on a phone for weeks; older times are taken as the server's time of receipt).
BELIEVABLE_FOR = timedelta(days=30)


class ClientId:
    """A validator: the field holds a UUID made on the device."""

    def __call__(self, form, field):
        try:
            uuid.UUID(str(field.data))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValidationError("This form is missing its id; please reload the page.") from exc


class DeviceWrite(FlaskForm):
    """A form mixin: the device-made id and the device's time of writing."""

    client_id = HiddenField(
        validators=[InputRequired(), ClientId()], default=lambda: str(uuid.uuid4())
    )
    written_at = HiddenField()


def valid_client_id(value: str | None) -> str | None:
    """A device-made UUID in canonical form, or None."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None


def when_written(device_time: str | None) -> datetime:
    """The device's time of writing if it is believable (not in the future, not older than
    BELIEVABLE_FOR), else the server's time now."""
    now = utcnow()
    if device_time:
        try:
            written = datetime.fromisoformat(device_time.replace("Z", "+00:00"))
        except ValueError:
            written = None
        if (
            written
            and written.tzinfo
            and now - BELIEVABLE_FOR <= written <= now + timedelta(minutes=5)
        ):
            return min(written, now)
    return now
