"""Who may reach a journal entry: only the participant who wrote it. Staff read the entries a
participant shared through the participant's record (`access.PARTICIPANT`), never by entry id."""

from __future__ import annotations

from iop_pwa.access import Policy
from iop_pwa.journal.models import JournalEntry

JOURNAL_ENTRY = Policy(
    "journal_entry",
    JournalEntry,
    lambda _db, user, entry, _action: user.is_participant and entry.user_id == user.id,
    subject=lambda entry: entry.user_id,
)
