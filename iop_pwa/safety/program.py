"""The program's own contact (name, phone, hours), set by an admin and shown on the public
help page beside the crisis lines: who to call about the program, as opposed to an emergency.

One row (id 1). It is the program's, not a person's: it may be shown to anyone, and kept on a
phone for offline reading with the help page.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Field, Session, SQLModel

from iop_pwa import audit
from iop_pwa.db import UTCDateTime, utcnow

ROW_ID = 1
PHONE = re.compile(r"\+?[0-9 ().-]+")
MIN_DIGITS, MAX_DIGITS = 3, 15  # 911-style short numbers to E.164's longest


class ProgramContact(SQLModel, table=True):
    __tablename__ = "program_contact"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    phone: str = Field(max_length=40)
    hours: str = Field(default="", max_length=200)
    # When the care team answers messages in the app (shown in every care-team thread).
    message_hours: str = Field(default="", max_length=200)
    # The same for alumni (after discharge): often fewer hours, or a slower answer.
    alumni_message_hours: str = Field(default="", max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    def answer_hours(self, person) -> str:
        """When the care team answers this person's messages: the alumni hours for someone
        discharged to alumni (when set), else the message hours, else the program's hours."""
        if getattr(person, "status", None) == "alumni" and self.alumni_message_hours:
            return self.alumni_message_hours
        return self.message_hours or self.hours

    @property
    def tel(self) -> str:
        """The phone number as a `tel:` link: its digits, with a leading + kept."""
        digits = re.sub(r"\D", "", self.phone)
        return "tel:" + ("+" if self.phone.strip().startswith("+") else "") + digits


def phone_problem(phone: str) -> str | None:
    """Why a phone number cannot be dialled from a link, or None if it can."""
    digits = len(re.sub(r"\D", "", phone))
    if not PHONE.fullmatch(phone.strip()) or not MIN_DIGITS <= digits <= MAX_DIGITS:
        return "Enter a phone number with digits, spaces, brackets or dashes, like (555) 010-0199."
    return None


def get_contact(db: Session) -> ProgramContact | None:
    return db.get(ProgramContact, ROW_ID)


def save_contact(
    db: Session,
    *,
    by_id: int,
    name: str,
    phone: str,
    hours: str,
    message_hours: str = "",
    alumni_message_hours: str = "",
) -> ProgramContact:
    """Set the program's contact; the change is audited (who and when, not the words)."""
    contact = get_contact(db) or ProgramContact(id=ROW_ID, name="", phone="")
    contact.name, contact.phone, contact.hours = name.strip(), phone.strip(), hours.strip()
    contact.message_hours = message_hours.strip()
    contact.alumni_message_hours = alumni_message_hours.strip()
    contact.updated_at = utcnow()
    db.add(contact)
    audit.record(
        db, "program_contact_changed", actor_id=by_id, object_type="program_contact", object_id=1
    )
    return contact
