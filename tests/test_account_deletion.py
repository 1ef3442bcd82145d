"""Deleting an account leaves no trace of what the person wrote or who they were: the invitation
loses their name and email, and on SQLite the text is gone from the database file and its WAL.
The instance folder and the database file are owner-only."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from iop_pwa.accounts.models import Invitation, User
from tests.test_invitations import accept, create_invitation


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def joined(app, client, make_user, sign_in, db):
    """A participant who joined through an invitation that named them; their phone's client."""
    therapist = make_user("therapist")
    sign_in(therapist)
    invitation_id, path = create_invitation(client, name="Casey Morgan", email="casey@example.test")
    phone, response = accept(app, path, email="casey@example.test")
    assert response.status_code == 303
    person = db.exec(select(User).where(User.email == "casey@example.test")).one()
    return phone, person, invitation_id


def delete_account(phone):
    response = phone.post_form("/account/delete", {"password": "my own long password"})
    assert response.status_code == 303


def test_the_invitation_forgets_the_deleted_persons_name_and_email(joined, db):
    phone, person, invitation_id = joined
    before = db.get(Invitation, invitation_id)
    assert (before.name, before.email, before.participant_id) == (
        "Casey Morgan",
        "casey@example.test",
        person.id,
    )
    delete_account(phone)
    after = db.get(Invitation, invitation_id)
    assert (after.name, after.email) == ("Deleted participant", None)
    assert db.get(User, person.id) is None


def sqlite_bytes(app) -> bytes:
    """The database file and its write-ahead log, as raw bytes."""
    db_file = Path(make_url(app.config["DATABASE_URL"]).database)
    wal = db_file.with_name(db_file.name + "-wal")
    return db_file.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.fixture
def sqlite_app(tmp_path):
    """An app on its own SQLite file, whichever database the rest of the suite runs on: what
    SQLite leaves in its files is checked in the PostgreSQL round too."""
    from alembic import command

    from iop_pwa import create_app
    from iop_pwa.cli import alembic_config
    from tests.conftest import Client

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'own.sqlite3'}",
            "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
        }
    )
    app.test_client_class = Client
    with app.app_context():
        command.upgrade(alembic_config(), "head")
    yield app
    app.extensions["db_engine"].dispose()


def test_on_sqlite_the_deleted_text_is_gone_from_the_file_and_the_wal(sqlite_app):
    from iop_pwa.accounts import services
    from iop_pwa.accounts.models import Role
    from iop_pwa.db import session_scope
    from tests.conftest import PASSWORD

    with sqlite_app.app_context(), session_scope() as db:
        services.create_user(
            db, role=Role.participant, email="casey@example.test", password=PASSWORD, name="Casey"
        )
    phone = sqlite_app.test_client()
    assert (
        phone.post_form(
            "/sign-in", {"email": "casey@example.test", "password": PASSWORD}
        ).status_code
        == 303
    )
    secret = f"distinctive-{uuid.uuid4().hex}".encode()
    fields = {"client_id": str(uuid.uuid4()), "body": f"{secret.decode()} " * 40}
    assert phone.post_form("/journal", fields).status_code == 303
    assert secret in sqlite_bytes(sqlite_app)  # the test can see it while it exists
    response = phone.post_form("/account/delete", {"password": PASSWORD})
    assert response.status_code == 303
    assert secret not in sqlite_bytes(sqlite_app)
    assert b"casey@example.test" not in sqlite_bytes(sqlite_app)


def test_secure_delete_is_on_for_every_sqlite_connection(sqlite_app):
    with sqlite_app.extensions["db_engine"].connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


def test_instance_folder_and_database_file_are_owner_only(monkeypatch, tmp_path):
    from iop_pwa import create_app

    instance = tmp_path / "instance"
    monkeypatch.setenv("INSTANCE_PATH", str(instance))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app()  # the defaults: a generated secret and SQLite, both in instance/
    with app.extensions["db_engine"].connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    app.extensions["db_engine"].dispose()
    assert mode(instance) == 0o700
    assert mode(instance / "secret_key") == 0o600
    assert mode(instance / "iop.sqlite3") == 0o600


def test_an_existing_instance_folder_is_made_owner_only(monkeypatch, tmp_path):
    from iop_pwa import create_app

    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    (instance / "iop.sqlite3").touch(mode=0o644)
    monkeypatch.setenv("INSTANCE_PATH", str(instance))
    app = create_app({"SECRET_KEY": "x" * 40})
    app.extensions["db_engine"].dispose()
    assert mode(instance) == 0o700
    assert mode(instance / "iop.sqlite3") == 0o600
