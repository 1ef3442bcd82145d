"""Journal forms. Each write carries a device-made id and the device's time (`DeviceWrite`)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from iop_pwa.journal.models import FEELINGS, MAX_TEXT, MOODS
from iop_pwa.pwa.device_write import DeviceWrite

MOOD_CHOICES = [SelectChoice(str(value), f"{value} · {word}") for value, word in MOODS.items()]


def _coerce_mood(value):
    if value in (None, ""):
        return None
    return int(value)


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EntryContent(FlaskForm):
    """What an entry holds, for writing it and for editing it later."""

    mood = RadioField(
        "How is your mood?", choices=MOOD_CHOICES, coerce=_coerce_mood, validators=[Optional()]
    )
    feelings = CheckboxesField(
        "Feelings", choices=[SelectChoice(f, f) for f in FEELINGS], validators=[Optional()]
    )
    own_words = StringField("In your own words (optional)", validators=[Length(max=200)])
    body = TextAreaField(
        "Your entry",
        validators=[Length(max=MAX_TEXT, message=f"Entries can be up to {MAX_TEXT:,} characters.")],
        render_kw={"rows": 8, "maxlength": MAX_TEXT, "data-counter": MAX_TEXT},
    )
    shared = BooleanField("Share with my care team")

    def validate_body(self, field):
        texts = (field.data or "", self.own_words.data or "")
        if not any(t.strip() for t in texts) and not self.mood.data and not self.feelings.data:
            raise ValidationError("Write something, or choose a mood or a feeling, to save.")


class EntryForm(EntryContent, DeviceWrite):
    prompt = HiddenField(validators=[Optional(), Length(max=300)])


class EditEntryForm(EntryContent):
    pass


class CheckinForm(DeviceWrite):
    mood = RadioField(
        "How are you right now?",
        choices=MOOD_CHOICES,
        coerce=_coerce_mood,
        validators=[InputRequired("Choose how you are feeling.")],
    )
    own_words = StringField("A word for it (optional)", validators=[Length(max=200)])


class FilterForm(FlaskForm):
    """The journal list's search and filters (a GET form: no CSRF, nothing changes)."""

    class Meta:
        csrf = False

    q = SearchField("Search your journal", validators=[Optional(), Length(max=100)])
    mood = SelectField(
        "Mood",
        choices=[SelectChoice("", "Any mood")] + MOOD_CHOICES,
        coerce=_coerce_mood,
        validators=[Optional()],
    )
    feeling = SelectField(
        "Feeling",
        choices=[SelectChoice("", "Any feeling")] + [SelectChoice(f, f) for f in FEELINGS],
        validators=[Optional()],
    )
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=10_000)], default=1)
