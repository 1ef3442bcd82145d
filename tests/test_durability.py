"""How hard each commit holds on to what it wrote.

A page read by staff writes an audit row (who read whose record), and signed-in pages now and then
touch the session's last-seen time. Those commits don't wait for the disk: on SQLite they run with
`synchronous=NORMAL` (in WAL mode that survives the app crashing; the rows reach the disk with the
next synced write or checkpoint), on PostgreSQL with `synchronous_commit = off` for that
transaction alone. Every write of a person's words (a POST) still waits for the disk. These tests
read the level each commit really ran with, from the database itself."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

from sqlalchemy import event
from sqlmodel import select

from iop_pwa.audit import AuditEvent
from iop_pwa.journal.models import JournalEntry
from tests.helpers import signed_in


@contextmanager
def commit_levels(app):
    """The durability level of each commit while inside, as the database reports it."""
    engine = app.extensions["db_engine"]
    seen: list[str] = []

    def at_commit(conn):
        raw = conn.connection.driver_connection
        if engine.dialect.name == "sqlite":
            level = raw.execute("PRAGMA synchronous").fetchone()[0]
            seen.append({1: "NORMAL", 2: "FULL"}.get(level, str(level)))
        else:
            seen.append(raw.execute("SHOW synchronous_commit").fetchone()[0])

    event.listen(engine, "commit", at_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", at_commit)


def _durable(level: str) -> bool:
    return level in {"FULL", "on"}


def test_a_staff_read_keeps_its_audit_row_without_waiting_for_the_disk(app, make_user, db):
    therapist = make_user("therapist", email="care@example.test")
    sam = make_user("participant", therapist=therapist, email="sam@example.test")
    staff = signed_in(app, therapist)
    with commit_levels(app) as levels:
        assert staff.get(f"/dashboard/participants/{sam.id}").status_code == 200
    assert levels and not any(_durable(level) for level in levels), levels
    reads = db.exec(
        select(AuditEvent).where(AuditEvent.action == "staff_read", AuditEvent.subject_id == sam.id)
    ).all()
    assert len(reads) == 1 and reads[0].actor_id == therapist.id


def test_a_journal_entry_waits_for_the_disk_even_after_a_relaxed_read(app, make_user, db):
    """The same pooled connection serves a relaxed read and then a write: the write is synced."""
    therapist = make_user("therapist", email="care@example.test")
    sam = make_user("participant", therapist=therapist, email="sam@example.test")
    staff, phone = signed_in(app, therapist), signed_in(app, sam)
    for _ in range(2):
        with commit_levels(app) as levels:
            assert staff.get(f"/dashboard/participants/{sam.id}").status_code == 200
        assert levels and not any(_durable(level) for level in levels)
        entry = {"client_id": str(uuid.uuid4()), "body": "Kept.", "prompt": ""}
        token = phone.csrf_token()  # (a page read of its own)
        with commit_levels(app) as levels:
            answer = phone.post("/journal", data={"csrf_token": token, **entry})
        assert answer.status_code == 303
        assert levels and all(_durable(level) for level in levels), levels
    assert len(db.exec(select(JournalEntry).where(JournalEntry.user_id == sam.id)).all()) == 2
