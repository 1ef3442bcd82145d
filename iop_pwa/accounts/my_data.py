"""'My data': a participant's copy of everything they wrote, and deleting their account.

Each feature contributes its records here (journal now; completions and sent messages as their
issues land), so the export stays complete in one place.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

from sqlmodel import Session, delete, func, or_, update

from iop_pwa.accounts.models import Invitation, User
from iop_pwa.db import utcnow
from iop_pwa.journal import services as journal
from iop_pwa.practice import services as practice

PART2_NOTICE = "42 CFR part 2 prohibits unauthorized disclosure of these records."

# What deleting an account removes, in the words the confirmation page uses.
DELETED_ON_ACCOUNT_DELETION = [
    "every journal entry and mood check-in, shared or private",
    "every practice you marked done, with your reflections",
    "your sign-in and your signed-in devices",
    "your place in your groups and on your care team's list",
]


def _csv_cell(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(records: list[dict]) -> str:
    out = io.StringIO()
    if records:
        columns = list(records[0])
        writer = csv.writer(out)
        writer.writerow(columns)
        for record in records:
            writer.writerow(
                [_csv_cell(";".join(v) if isinstance(v, list) else v) for v in record.values()]
            )
    return out.getvalue()


def export_zip(db: Session, *, user: User) -> bytes:
    """Everything the participant wrote, as JSON and CSV in one ZIP, with the Part 2 notice."""
    sections = {
        "journal": journal.export_records(db, user=user),
        "practice": practice.export_records(db, user=user),
    }
    document = {
        "notice": PART2_NOTICE,
        "exported_at": utcnow().isoformat(),
        "person": {"name": user.name, "email": user.email, "time_zone": user.timezone},
        **sections,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "NOTICE.txt",
            f"{PART2_NOTICE}\n\nThis is a copy of everything you wrote in the IOP Companion app, "
            "as JSON (my-data.json) and as spreadsheets (one CSV file per section).\n",
        )
        archive.writestr("my-data.json", json.dumps(document, indent=2, ensure_ascii=False))
        for name, records in sections.items():
            archive.writestr(f"{name}.csv", _csv(records))
    return buffer.getvalue()


DELETED_NAME = "Deleted participant"


def delete_account(db: Session, *, user: User) -> None:
    """Remove the participant and everything that hangs off them (the database cascades).

    The invitations that named them are kept for the therapist's history, without the name
    and email. After the commit, the view calls `db.purge_deleted()` (SQLite's WAL).
    """
    from iop_pwa.journal.models import JournalEntry

    db.exec(
        update(Invitation)
        .where(
            or_(
                Invitation.participant_id == user.id,
                func.lower(Invitation.email) == user.email.lower(),
            )
        )
        .values(name=DELETED_NAME, email=None)
    )
    db.exec(delete(JournalEntry).where(JournalEntry.user_id == user.id))
    db.delete(user)
