"""A request is one transaction, savepoints included.

The journal, practice and messages services write inside `begin_nested()` (a SAVEPOINT), so that
the same write arriving twice at once (page and worker) is answered as a replay instead of an
error. Python's sqlite3 driver began no transaction before a SAVEPOINT, so on SQLite the
savepoint's RELEASE committed on its own: a request that failed afterwards still left its entry
behind. The app now begins every SQLite transaction itself (the recipe in SQLAlchemy's SQLite
dialect documentation), and these tests prove a failed request keeps nothing, on both databases,
with SQLite's settings (WAL, busy timeout, foreign keys, secure_delete) as they were.
"""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from iop_pwa.journal import views as journal_views
from iop_pwa.journal.models import JournalEntry
from iop_pwa.messages.models import Message
from tests.helpers import signed_in


def _entries(db, person) -> list[JournalEntry]:
    return db.exec(select(JournalEntry).where(JournalEntry.user_id == person.id)).all()


def test_a_journal_entry_is_not_kept_when_its_request_fails_after_saving_it(
    app, make_user, db, monkeypatch
):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production: a 500 page
    sam = make_user("participant", email="sam@example.test")
    phone = signed_in(app, sam)

    def fails(*_args, **_kwargs):  # the step after the service's savepoint breaks
        raise RuntimeError("something after the save failed")

    monkeypatch.setattr(journal_views, "_crisis_message", fails)
    entry = {"client_id": str(uuid.uuid4()), "body": "Half-saved?", "prompt": ""}
    answer = phone.post_form("/journal", entry)
    assert answer.status_code == 500
    assert _entries(db, sam) == []

    monkeypatch.undo()  # the same write again, now the request succeeds: stored once
    assert phone.post_form("/journal", entry).status_code == 303
    assert [e.body for e in _entries(db, sam)] == ["Half-saved?"]


def test_a_refused_request_keeps_nothing_it_wrote_inside_a_savepoint(app, make_user, db):
    """A view that answers 4xx after a service wrote (inside a savepoint) is rolled back too."""
    from iop_pwa.db import get_db
    from iop_pwa.journal import services

    sam = make_user("participant", email="sam@example.test")

    @app.post("/test-save-then-refuse")
    def save_then_refuse():
        from flask_login import current_user

        from iop_pwa.db import utcnow

        services.save_entry(
            get_db(),
            user=current_user,
            client_id=str(uuid.uuid4()),
            mood=None,
            feelings=[],
            own_words="",
            prompt=None,
            body="Written, then refused.",
            shared=False,
            written_at=utcnow(),
        )
        return "refused", 409

    phone = signed_in(app, sam)
    assert phone.post_form("/test-save-then-refuse").status_code == 409
    assert _entries(db, sam) == []


def test_a_message_is_not_kept_when_its_request_fails_after_sending_it(
    app, make_user, db, monkeypatch
):
    """The messages service uses savepoints too (several in one send)."""
    from iop_pwa.db import session_scope
    from iop_pwa.messages import services as messages
    from iop_pwa.messages import views as message_views
    from iop_pwa.messages.models import Conversation

    app.config["PROPAGATE_EXCEPTIONS"] = False
    therapist = make_user("therapist", email="care@example.test")
    sam = make_user("participant", therapist=therapist, email="sam@example.test")
    with app.app_context(), session_scope() as s:
        messages.ensure_conversations(s, user=s.get(type(sam), sam.id))
    care = db.exec(select(Conversation.id).where(Conversation.participant_id == sam.id)).one()
    phone = signed_in(app, sam)

    def fails(*_args, **_kwargs):  # the step after the service's savepoints breaks
        raise RuntimeError("something after the send failed")

    monkeypatch.setattr(message_views, "redirect", fails)
    fields = {"client_id": str(uuid.uuid4()), "body": "Sent, then the request failed."}
    assert phone.post_form(f"/messages/{care}/send", fields).status_code == 500
    assert db.exec(select(Message).where(Message.author_id == sam.id)).all() == []


@pytest.mark.parametrize("first_use", ["request", "autocommit"])
def test_sqlite_settings_hold_on_every_connection(app, make_user, db, first_use):
    """WAL, the busy timeout, foreign keys and secure_delete are set on each new connection
    (outside any transaction, where SQLite accepts them), also on a pooled connection that the
    test's own AUTOCOMMIT session used before; and a transaction really is one."""
    engine = app.extensions["db_engine"]
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's settings")
    make_user("participant", email="sam@example.test")  # a connection used in AUTOCOMMIT
    if first_use == "request":
        assert signed_in(app, "sam@example.test").get("/today").status_code == 200
    with engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == 15000
        assert pragma("foreign_keys") == 1
        assert pragma("secure_delete") == 1
        assert not conn.connection.driver_connection.in_transaction  # reads stand alone
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS begin_probe (x)")
        assert conn.connection.driver_connection.in_transaction  # a write begins one
        conn.rollback()
    with engine.connect() as conn:
        conn.exec_driver_sql("SAVEPOINT s")
        conn.exec_driver_sql("CREATE TABLE savepoint_probe (x)")
        conn.exec_driver_sql("RELEASE SAVEPOINT s")
        conn.rollback()
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE name = 'savepoint_probe'"
        ).scalar()
    assert found == 0


def test_writes_and_staff_reads_at_the_same_moment_all_succeed(app, make_user, db):
    """Each request is one transaction, and none is refused for it: people writing at the same
    moment wait their turn (never "database is locked", a 503), and a staff read's audit row
    goes in beside them."""
    import threading

    therapist = make_user("therapist", email="care@example.test")
    people = [
        make_user("participant", therapist=therapist, email=f"p{n}@example.test") for n in range(4)
    ]
    phones = [signed_in(app, person) for person in people]
    staff = signed_in(app, therapist)
    tokens = [phone.csrf_token() for phone in phones]
    answers: list[int] = []
    start = threading.Barrier(len(phones) + 1)

    def write(phone, token):
        start.wait()
        for n in range(3):
            entry = {"csrf_token": token, "client_id": str(uuid.uuid4()), "body": f"Entry {n}"}
            answers.append(phone.post("/journal", data=entry).status_code)

    def read():
        start.wait()
        for person in people:
            answers.append(staff.get(f"/dashboard/participants/{person.id}").status_code)

    threads = [
        threading.Thread(target=write, args=pair) for pair in zip(phones, tokens, strict=True)
    ]
    threads.append(threading.Thread(target=read))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(set(answers)) == [200, 303], answers
    assert len(answers) == 3 * len(people) + len(people)
    assert len(db.exec(select(JournalEntry)).all()) == 3 * len(people)
