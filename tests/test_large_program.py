"""A year of a full program costs the pages nothing more (issue 15, "As the history grows").

One test builds the demo program, measures the pages the benchmark loads, then adds one
therapist's share of `bench/large.py`'s program at full size (Dr. Lopez with 50 participants in
her groups, each with a year of journal, practice, sessions, messages, check-ins and
notifications, and two other therapists with theirs, for the access rules to exclude) and
measures again: the number of SQL queries per page is the same, and no query of these pages
reads a whole table of history (the plans after ANALYZE, on SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from sqlalchemy import event
from sqlmodel import func, select

from bench.large import seed_large
from iop_pwa.accounts.models import CareTeamLink, User
from iop_pwa.db import session_scope
from iop_pwa.demo import DEMO_PASSWORD, THERAPIST_EMAIL, load_demo
from iop_pwa.journal.models import JournalEntry
from iop_pwa.messages.models import Conversation, Message

# The tables that grow with the program's history: no page may scan one of them whole.
HISTORY = {
    "journalentry",
    "completion",
    "therapy_session",
    "attendance",
    "message",
    "notification",
    "checkin_answer",
    "message_read",
    "feedback",
}
# SQLite: "SCAN message" or "SCAN message USING INDEX ..." (every row of the table or index);
# PostgreSQL: "Seq Scan on message". SQLAlchemy's aliases end in "_1".
FULL_SCAN = re.compile(r"\bSCAN (\w+?)(?:_\d+)?\b(?! CONSTANT)|Seq Scan on (\w+)")
RECENT_SESSIONS = re.compile(r"ix_therapy_session_starts_at \(starts_at>\? AND starts_at<\?\)")
MOST_QUERIES = 40  # a sanity bound only (the participant page runs 35): the check is "the same"


def _client(app, email):
    client = app.test_client()
    response = client.post_form("/sign-in", {"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return client


def _pages(db) -> dict[str, tuple[str, str, int]]:
    """Page name -> (who, path, expected status): the benchmark's pages."""
    sam = db.exec(select(User).where(User.email == "sam@demo.test")).one()
    care = db.exec(select(Conversation.id).where(Conversation.participant_id == sam.id)).one()
    newest = db.exec(select(func.max(Message.id)).where(Message.conversation_id == care)).one()
    return {
        "Today": ("sam", "/today", 200),
        "Journal": ("sam", "/journal", 200),
        "Sessions": ("sam", "/sessions", 200),
        "Messages poll": ("sam", f"/messages/{care}/poll?after={newest}", 204),
        "Dashboard": ("therapist", "/dashboard", 200),
        "Participant page": ("therapist", f"/dashboard/participants/{sam.id}", 200),
    }


def _measure(app, db, clients) -> dict[str, list[tuple[str, object]]]:
    """Each page once to warm it (the session touch is once a minute), then once counted:
    page name -> the statements it sent, with their parameters."""
    engine = app.extensions["db_engine"]
    sent: dict[str, list[tuple[str, object]]] = {}
    for name, (who, path, status) in _pages(db).items():
        client = clients[who]
        assert client.get(path).status_code == status, (name, path)
        statements: list[tuple[str, object]] = []

        def grab(conn, cursor, statement, parameters, context, executemany):
            statements.append((statement, parameters))  # noqa: B023 - used before the loop moves

        event.listen(engine, "before_cursor_execute", grab)
        try:
            assert client.get(path).status_code == status, (name, path)
        finally:
            event.remove(engine, "before_cursor_execute", grab)
        sent[name] = statements
    return sent


def _plans(db, statements) -> list[tuple[str, str]]:
    """(statement, the database's plan for it) for the reads among `statements`."""
    postgres = db.get_bind().dialect.name == "postgresql"
    prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
    plans = []
    for statement, parameters in statements:
        if not statement.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE")):
            continue
        rows = db.connection().exec_driver_sql(prefix + statement, parameters).all()
        plans.append((statement, "\n".join(str(row[0] if postgres else row[-1]) for row in rows)))
    return plans


# The participant page's attendance list (a person's ~130 rows by index, each joined to its
# session): in this test's three-therapist program PostgreSQL hashes the 5,700 sessions instead
# of looking each up by key; with the full program's 40,000 it looks them up (EXPLAIN on
# bench/large.py's program). The only scan allowed, and only there.
PLANNER_CHOICE = {("Participant page", "therapy_session", "ix_attendance_participant_status")}


def _full_scans(name: str, plans) -> list[str]:
    """The plans of page `name` that scan a whole history table."""
    found = []
    for statement, plan in plans:
        scanned = {a or b for a, b in FULL_SCAN.findall(plan)} & HISTORY
        allowed = {t for page, t, index in PLANNER_CHOICE if page == name and index in plan}
        if scanned - allowed:
            found.append(f"{statement}\n{plan}")
    return found


def test_pages_cost_the_same_after_a_year_of_a_full_program(app, db):
    with app.app_context(), session_scope() as session:
        load_demo(session)
    clients = {"sam": _client(app, "sam@demo.test"), "therapist": _client(app, THERAPIST_EMAIL)}
    small = {name: len(sent) for name, sent in _measure(app, db, clients).items()}

    rows = seed_large(app.extensions["db_engine"], therapists=3, participants=150, log=None)
    assert rows["journalentry"] > 40_000 and rows["message"] > 25_000, rows
    therapist = db.exec(select(User).where(User.email == THERAPIST_EMAIL)).one()
    caseload = db.exec(select(func.count()).where(CareTeamLink.therapist_id == therapist.id)).one()
    sam_year = db.exec(
        select(func.count()).where(
            JournalEntry.user_id
            == select(User.id).where(User.email == "sam@demo.test").scalar_subquery()
        )
    ).one()
    assert caseload == 50 and sam_year > 300, (caseload, sam_year)

    large_sent = _measure(app, db, clients)
    large = {name: len(sent) for name, sent in large_sent.items()}
    assert large == small, {"small": small, "large": large}
    assert max(large.values()) <= MOST_QUERIES, large

    plans = {name: _plans(db, sent) for name, sent in large_sent.items()}
    read = "\n".join(plan for found in plans.values() for _, plan in found)
    for table in HISTORY - {"message_read", "feedback"}:
        assert re.search(rf"\b{table}\b", read), f"no plan reads {table}: the check saw nothing"
    scans = {name: _full_scans(name, found) for name, found in plans.items()}
    # "Missed a session in the last 14 days", for the whole caseload: from each person's missed
    # ones, or from the program's sessions of those 14 days; never from everyone's year.
    missed = [plan for statement, plan in plans["Dashboard"] if "attendance.status" in statement]
    assert missed and all(
        "ix_attendance_participant_status" in plan or RECENT_SESSIONS.search(plan)
        for plan in missed
    ), missed
    assert not any(scans.values()), "\n\n".join(
        f"{name}:\n" + "\n\n".join(found) for name, found in scans.items() if found
    )
