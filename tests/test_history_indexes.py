"""The per-person reads on every page use indexes that lead with the person, so a page costs the
same after a year of history (issue 15's probe found them walking all of a person's rows).

Each test fills a table with a year for several people, refreshes the planner's statistics and
reads the plan the database chose, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert

from iop_pwa.journal import services as journal
from iop_pwa.journal.models import JournalEntry
from iop_pwa.notifications import Notification, recent, unread_count
from tests.helpers import analyze, plan_of

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _postgres(db) -> bool:
    return db.get_bind().dialect.name == "postgresql"


def _uses(plan: str, index: str, postgres: bool) -> bool:
    if postgres:
        return f"using {index}" in plan or f"on {index}" in plan
    return f"INDEX {index}" in plan


def test_the_bell_and_the_list_read_only_the_persons_notifications(db, make_user):
    people = [make_user("participant") for _ in range(6)]
    rows = [
        {
            "user_id": person.id,
            "kind": "feedback",
            "text": "Feedback on your practice.",
            "created_at": START + timedelta(hours=8 * n),
            "read_at": None if n % 50 == 0 else START + timedelta(hours=8 * n + 1),
        }
        for person in people
        for n in range(1000)
    ]
    db.execute(insert(Notification), rows)
    analyze(db)
    postgres = _postgres(db)
    person = people[0]

    assert unread_count(db, person.id) == 20
    plan = plan_of(db, lambda: unread_count(db, person.id))
    assert _uses(plan, "ix_notification_unread", postgres), plan
    assert "Seq Scan" not in plan and "SCAN notification" not in plan, plan

    plan = plan_of(db, lambda: recent(db, person.id))
    assert _uses(plan, "ix_notification_user_created", postgres), plan
    assert "Seq Scan" not in plan and "SCAN notification" not in plan, plan


def test_todays_check_in_and_shared_entries_read_only_the_persons_rows(db, make_user):
    people = [make_user("participant") for _ in range(6)]
    first = date(2026, 1, 1)
    rows = [
        {
            "user_id": person.id,
            "client_id": str(uuid.uuid4()),
            "kind": "checkin" if n % 2 else "entry",
            "mood": 3,
            "body": "",
            "shared": n % 40 == 0,
            "local_date": first + timedelta(days=n // 2),
            "written_at": START + timedelta(hours=12 * n),
            "received_at": START + timedelta(hours=12 * n),
        }
        for person in people
        for n in range(730)
    ]
    db.execute(insert(JournalEntry), rows)
    analyze(db)
    postgres = _postgres(db)
    person = people[0]

    day = first + timedelta(days=200)
    assert journal.latest_checkin(db, user=person, day=day) is not None
    plan = plan_of(db, lambda: journal.latest_checkin(db, user=person, day=day))
    assert _uses(plan, "ix_journalentry_user_day", postgres), plan

    assert len(journal.shared_entries(db, participant_id=person.id)) == 19
    plan = plan_of(db, lambda: journal.shared_entries(db, participant_id=person.id))
    assert _uses(plan, "ix_journalentry_user_shared", postgres), plan
    assert "Seq Scan" not in plan and "SCAN journalentry" not in plan, plan
