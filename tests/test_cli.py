"""Command-line tasks: users create, demo, worker, db upgrade."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlmodel import func, select

from iop_pwa.accounts.models import CareTeamLink, Group, GroupMembership, LoginSession, User
from iop_pwa.db import utcnow
from tests.conftest import PASSWORD
from tests.helpers import set_up_second_factor


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_users_create_a_therapist_and_a_participant_on_their_caseload(app, db):
    result = run(
        app,
        "users",
        "create",
        "--role",
        "therapist",
        "--email",
        "T@Clinic.test",
        "--password",
        PASSWORD,
        "--name",
        "Dr. T",
        "--group",
        "Evening",
    )
    assert result.exit_code == 0, result.output
    result = run(
        app,
        "users",
        "create",
        "--role",
        "participant",
        "--email",
        "p@clinic.test",
        "--password",
        PASSWORD,
        "--timezone",
        "Europe/Dublin",
        "--therapist",
        "t@clinic.test",
        "--group",
        "Evening",
    )
    assert result.exit_code == 0, result.output
    therapist = db.exec(select(User).where(User.email == "t@clinic.test")).one()
    participant = db.exec(select(User).where(User.email == "p@clinic.test")).one()
    assert participant.timezone == "Europe/Dublin"
    assert (
        db.exec(select(CareTeamLink).where(CareTeamLink.participant_id == participant.id))
        .one()
        .therapist_id
        == therapist.id
    )
    memberships = db.exec(select(GroupMembership)).all()
    assert {(m.user_id, m.is_facilitator) for m in memberships} == {
        (therapist.id, True),
        (participant.id, False),
    }


def test_a_user_made_on_the_command_line_chooses_a_new_password_at_first_sign_in(app, db, client):
    result = run(
        app,
        "users",
        "create",
        "--role",
        "therapist",
        "--email",
        "t@clinic.test",
        "--password",
        PASSWORD,
    )
    assert result.exit_code == 0 and "choose their own password" in result.output
    assert db.exec(select(User).where(User.email == "t@clinic.test")).one().must_change_password
    response = client.post_form("/sign-in", {"email": "t@clinic.test", "password": PASSWORD})
    assert response.headers["Location"] == "/sign-in/set-up"  # staff: a second factor first
    assert set_up_second_factor(client, "t@clinic.test") == "/account/choose-password"
    assert client.get("/dashboard").headers["Location"] == "/account/choose-password"
    new = "a password of my own"
    chosen = client.post_form("/account/choose-password", {"new_password": new, "confirm": new})
    assert chosen.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200


def test_users_create_refuses_bad_input_with_a_clear_message(app, db):
    short = run(app, "users", "create", "--role", "admin", "--email", "a@x.test", "--password", "1")
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    zone = run(
        app,
        "users",
        "create",
        "--role",
        "admin",
        "--email",
        "a@x.test",
        "--password",
        PASSWORD,
        "--timezone",
        "Moon/Base",
    )
    assert zone.exit_code != 0 and "time zone" in zone.output
    no_therapist = run(
        app,
        "users",
        "create",
        "--role",
        "participant",
        "--email",
        "p@x.test",
        "--password",
        PASSWORD,
        "--therapist",
        "missing@x.test",
    )
    assert no_therapist.exit_code != 0 and "No therapist" in no_therapist.output
    assert db.exec(select(func.count()).select_from(User)).one() == 0  # nothing half-made
    run(app, "users", "create", "--role", "admin", "--email", "a@x.test", "--password", PASSWORD)
    dup = run(
        app, "users", "create", "--role", "admin", "--email", "A@x.test", "--password", PASSWORD
    )
    assert dup.exit_code != 0 and "already exists" in dup.output


def test_demo_is_idempotent_and_prints_logins(app, db, client):
    first = run(app, "demo")
    assert first.exit_code == 0, first.output
    assert "therapist@demo.test" in first.output and "sam@demo.test" in first.output
    counts = (
        db.exec(select(func.count()).select_from(User)).one(),
        db.exec(select(func.count()).select_from(Group)).one(),
        db.exec(select(func.count()).select_from(CareTeamLink)).one(),
    )
    assert run(app, "demo").exit_code == 0
    assert counts == (
        db.exec(select(func.count()).select_from(User)).one(),
        db.exec(select(func.count()).select_from(Group)).one(),
        db.exec(select(func.count()).select_from(CareTeamLink)).one(),
    )
    assert counts[0] >= 7
    from iop_pwa.demo import DEMO_PASSWORD

    # Demo logins work at once: nobody is asked to choose a new password.
    assert not any(u.must_change_password for u in db.exec(select(User)))
    response = client.post_form(
        "/sign-in", {"email": "therapist@demo.test", "password": DEMO_PASSWORD}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/dashboard"
    assert "Jordan Lee" in client.get("/dashboard").get_data(as_text=True)
    # The help page has the program's own number beside the crisis lines.
    assert 'href="tel:5550100199"' in client.get("/help").get_data(as_text=True)


def test_demo_is_refused_in_production(app):
    app.config["APP_ENV"] = "production"
    result = run(app, "demo")
    assert result.exit_code != 0 and "never loaded in production" in result.output


def test_worker_round_removes_expired_sessions(app, make_user, db, client):
    user = make_user("therapist")
    client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    assert db.exec(select(func.count()).select_from(LoginSession)).one() == 1
    assert run(app, "worker", "--once").exit_code == 0
    assert db.exec(select(func.count()).select_from(LoginSession)).one() == 1  # still valid
    with time_machine.travel(utcnow() + timedelta(days=400), tick=False):
        assert run(app, "worker", "--once").exit_code == 0
    assert db.exec(select(func.count()).select_from(LoginSession)).one() == 0


def test_db_upgrade_is_a_no_op_on_a_current_database(app):
    result = run(app, "db", "upgrade")
    assert result.exit_code == 0, result.output
    current = run(app, "db", "current")
    assert current.exit_code == 0


def test_upgrading_to_free_group_names_keeps_every_membership(tmp_path):
    """0005 copies the group table on SQLite; foreign keys must not cascade the old table's
    drop into memberships, sessions and assignments."""
    from alembic import command
    from sqlalchemy import text

    from iop_pwa import create_app
    from iop_pwa.cli import alembic_config

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    with app.app_context():
        command.upgrade(alembic_config(), "0004_sessions")
        engine = app.extensions["db_engine"]
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO therapy_group (id, name, created_at) VALUES (1, 'G', '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO user (id, email, name, password_hash, role, status, timezone,"
                    " created_at, password_changed_at) VALUES (1, 'a@x.test', 'A', 'h',"
                    " 'participant', 'active', 'UTC', '2026-01-01', '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO groupmembership (group_id, user_id, is_facilitator, joined_at)"
                    " VALUES (1, 1, 0, '2026-01-01')"
                )
            )
        command.upgrade(alembic_config(), "head")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM groupmembership")).scalar() == 1
            conn.execute(
                text("INSERT INTO therapy_group (name, created_at) VALUES ('G', '2026-01-02')")
            )
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    app.extensions["db_engine"].dispose()
