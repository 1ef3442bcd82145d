"""'My data': a participant's copy of everything kept about them, and deleting their account.

Core keeps the account, its devices, groups and care team, notifications and safety flags; every
feature registers a `features.DataRights` for its own tables. The export and the deletion iterate
all of them, so a new feature is covered by registering, never by editing this file, and a test
proves that every table with a person's rows has a provider.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

from sqlmodel import Session, func, or_, update

from iop_pwa import notifications
from iop_pwa.accounts.models import (
    CareTeamLink,
    GroupMembership,
    Invitation,
    LoginSession,
    Passkey,
    RecoveryCode,
    SignInLink,
    TotpFactor,
    User,
)
from iop_pwa.db import utcnow
from iop_pwa.features import DataRights, registry
from iop_pwa.mail import QueuedMail
from iop_pwa.safety import CareFlag

PART2_NOTICE = "42 CFR part 2 prohibits unauthorized disclosure of these records."
DELETED_NAME = "Deleted participant"


def _blank_invitations(db: Session, *, user: User) -> None:
    """The invitations that named the person stay in the therapist's history, without the name
    and email."""
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


CORE_DATA_RIGHTS = (
    DataRights(
        name="account",
        # Sign-in links and queued mail hold only ids: they go with the account.
        tables=(
            User,
            LoginSession,
            SignInLink,
            QueuedMail,
            GroupMembership,
            CareTeamLink,
            Invitation,
            Passkey,
            TotpFactor,
            RecoveryCode,
        ),
        deleted=(
            "your sign-in, your passkeys and your signed-in devices",
            "your place in your groups and on your care team's list",
            "your name and email on the invitation that brought you here",
        ),
        erase=_blank_invitations,
    ),
    DataRights(
        name="notifications",
        tables=(notifications.Notification,),
        deleted=("your notifications",),
        export=notifications.export_records,
    ),
    DataRights(
        name="safety",
        # Flags name a source but copy nothing the person wrote; they go with the account.
        tables=(CareFlag,),
        deleted=("any note to your care team that something you shared needed attention",),
    ),
)


def providers() -> list[DataRights]:
    """Every provider: core's, then each registered feature's."""
    return [*CORE_DATA_RIGHTS, *registry().data_rights]


def deleted_on_account_deletion() -> list[str]:
    """What deleting an account removes, in the words the confirmation page uses (features
    first: what the person wrote matters most to them)."""
    features = [w for p in registry().data_rights for w in p.deleted]
    return features + [w for p in CORE_DATA_RIGHTS for w in p.deleted]


def _csv_cell(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _flat(value):
    """One spreadsheet cell: a list of words joined with ";", any other structure (a check-in's
    answers, a list of records) as JSON, so every provider's records fit whatever they hold."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ";".join(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _csv(records: list[dict]) -> str:
    out = io.StringIO()
    if records:
        # Every record's keys, in order of first appearance: a column is never dropped.
        columns = list(dict.fromkeys(key for record in records for key in record))
        writer = csv.writer(out)
        writer.writerow(columns)
        for record in records:
            writer.writerow([_csv_cell(_flat(record.get(c))) for c in columns])
    return out.getvalue()


def export_zip(db: Session, *, user: User) -> bytes:
    """Everything the participant wrote, as JSON and CSV in one ZIP, with the Part 2 notice."""
    sections = {p.name: p.export(db, user=user) for p in providers() if p.export is not None}
    document = {
        "notice": PART2_NOTICE,
        "exported_at": utcnow().isoformat(),
        "person": {
            "name": user.name,
            "email": user.email,
            "time_zone": user.timezone,
            "clock": user.clock,
        },
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


def delete_account(db: Session, *, user: User) -> None:
    """Remove the participant and everything that hangs off them: each provider's own erase
    first (the account's blanks the invitations that named them), then the account row (the
    database cascades the rest). The view asks for `db.purge_deleted_after_commit()`."""
    for provider in providers():
        if provider.erase is not None:
            provider.erase(db, user=user)
    db.delete(user)
