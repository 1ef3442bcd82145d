"""Who may reach a journal entry: only the participant who wrote it. Staff read the entries a
participant shared through the participant's record (`access.PARTICIPANT`), never by entry id."""

from __future__ import annotations

from sqlalchemy import false

from iop_pwa.access import Policy
from iop_pwa.journal.models import JournalEntry

JOURNAL_ENTRY = Policy(
    "journal_entry",
    JournalEntry,
    lambda user, _action: JournalEntry.user_id == user.id if user.is_participant else false(),
    subject=lambda entry: entry.user_id,
)
