"""Shared fixtures: a migrated test database (SQLite, or PostgreSQL when TEST_DATABASE_URL is set),
an app per test, a client that sends CSRF tokens like a browser, and factories for people. A test
marked `mail` gets an app that sends mail to a real SMTP server on loopback (`mailbox`).

Every test starts from empty tables; the schema comes from the real Alembic migrations.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import argon2.profiles
import pyotp
import pytest
from alembic import command
from flask.testing import FlaskClient
from sqlalchemy import event, text
from sqlmodel import Session

_TMP = Path(tempfile.mkdtemp(prefix="iop-tests-"))
os.environ["INSTANCE_PATH"] = str(_TMP / "instance")
os.environ["APP_ENV"] = "test"
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)

from iop_pwa import create_app  # noqa: E402
from iop_pwa.accounts import passwords, services  # noqa: E402
from iop_pwa.accounts.models import Role, TotpFactor, User  # noqa: E402
from iop_pwa.db import engines, make_engine, session_scope, utcnow  # noqa: E402
from iop_pwa.models import metadata  # noqa: E402

PASSWORD = "correct horse battery"
# Staff made by `make_user` already have an authenticator app with this secret; signing in
# through the form (`Client.post`, the browser tests' `sign_in`) types its code, as a person does.
STAFF_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# The app's code is accepted this many 30-second steps either side of now in tests, so that one
# test can sign the same therapist in several times: each code works once, so each sign-in takes
# the next step's code (`totp_code`).
TEST_TOTP_WINDOW = 10
_used_steps: dict[str, int] = {}


def totp_code(key: str, secret: str = STAFF_TOTP_SECRET) -> str:
    """The authenticator app's code for the person `key` names (an email, or "user:<id>"),
    never one already typed for them in this test."""
    now = int(time.time()) // 30
    step = max(now, _used_steps.get(key, now - 1) + 1)
    _used_steps[key] = step
    return pyotp.TOTP(secret).at(step * 30)


def pytest_configure(config) -> None:
    """TEST_CLOCK=2027-03-14T06:30:00+00:00 runs the tests as if the clock had been set to that
    moment when they started (it keeps ticking): the way to look for a test that only passes on
    some days or at some hours. Tests that need a moment of their own still freeze it. Only this
    process travels: the tests that start other processes (test_faults, test_several_machines)
    and the browser's own clock keep the real time, so those fail under TEST_CLOCK."""
    moment = os.environ.get("TEST_CLOCK")
    if moment:
        import time_machine

        config._test_clock = time_machine.travel(moment, tick=True)
        config._test_clock.start()


def pytest_unconfigure(config) -> None:
    line = getattr(config, "_skipped_line", None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if line and reporter is not None:
        reporter.write_line(line, yellow=True, bold=True)
    clock = getattr(config, "_test_clock", None)
    if clock is not None:
        clock.stop()


# Which system package a skip's reason points to (the skips of tests/browser and tests/machines.py
# name the program they looked for).
_PACKAGES = {"chromium": "chromium", "redis": "redis-server", "wrk": "wrk", "openssl": "openssl"}


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The last line of a run with skips: how many, why, and the one command that installs what
    is missing (`make test` installs it itself where it runs as root with apt-get)."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: dict[str, int] = {}
    packages: set[str] = set()
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
        packages |= {pkg for word, pkg in _PACKAGES.items() if word in reason.lower()}
    if not packages:
        return  # no install would change these (a database's own test): -ra lists them
    why = "; ".join(f"{n} × {reason}" for reason, n in sorted(reasons.items(), key=lambda r: -r[1]))
    count = f"{len(skipped)} test{'s' if len(skipped) != 1 else ''} skipped"
    command = "sudo apt-get install -y " + " ".join(sorted(packages))
    line = f"{count} ({why}). Install what they need with: {command}"
    config._skipped_line = line  # written by pytest_unconfigure: after pytest's own last line


# Argon2id still, at its cheapest cost: hundreds of sign-ins in the suite stay fast.
passwords.use_parameters(argon2.profiles.CHEAPEST)
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP / 'test.sqlite3'}"


def _reset_schema(url: str) -> None:
    """Drop everything and build the schema with the migrations (so they are tested too)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        from iop_pwa.cli import alembic_config

        command.upgrade(alembic_config(), "head")
    app.extensions["db_engine"].dispose()


def _own_database(url: str) -> str:
    """Under pytest-xdist (`make test` runs two workers), each worker gets its own PostgreSQL
    database, `<name>_<worker>`, made here if missing; SQLite files are per process already."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not url.startswith("postgresql"):
        return url
    base, name = url.rsplit("/", 1)
    own = f"{name}_{worker}"
    server = make_engine(f"{base}/postgres").execution_options(isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": own})
        if found.first() is None:
            conn.execute(text(f'CREATE DATABASE "{own}"'))
    server.dispose()
    return f"{base}/{own}"


@pytest.fixture(scope="session")
def database_url() -> str:
    url = _own_database(TEST_DATABASE_URL)
    _reset_schema(url)
    return url


def _empty_tables(engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


# Where links in mail lead, in tests: the test client's host.
PUBLIC_URL = "http://localhost"
MAIL_FROM = "IOP Companion <care@clinic.example>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """What a real SMTP server (aiosmtpd, on a free loopback port) received: `messages` holds
    (envelope recipients, parsed message) in the order they came."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.controller = None

    def stop(self) -> None:
        """The server goes away (as a mail server that is down)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port, box.controller = controller.port, controller
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def app(database_url, request, monkeypatch):
    if request.node.get_closest_marker("mail"):
        box = request.getfixturevalue("mailbox")
        monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{box.port}")
        monkeypatch.setenv("MAIL_FROM", MAIL_FROM)
        monkeypatch.setenv("PUBLIC_URL", PUBLIC_URL)
    _used_steps.clear()
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
            "TOTP_VALID_WINDOW": TEST_TOTP_WINDOW,
        }
    )
    app.test_client_class = Client
    yield app
    _empty_tables(app.extensions["db_engine"])
    app.extensions["db_engine"].dispose()


class Client(FlaskClient):
    """A test client that behaves like a browser with a form: it sends the page's CSRF token."""

    # Tests of the second factor itself turn this off and type (or mistype) the codes.
    type_second_factor = True

    def csrf_token(self) -> str:
        page = self.get("/help").get_data(as_text=True)
        match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
        assert match, "every page carries a CSRF token for htmx"
        return match.group(1)

    def post_form(self, url: str, data: dict | None = None, **kwargs):
        payload = {"csrf_token": self.csrf_token(), **(data or {})}
        return self.post(url, data=payload, **kwargs)

    def post(self, *args, **kwargs):
        """A POST; a staff sign-in that asks for the second factor gets the app's code typed in
        (the staff of `make_user` have the app of STAFF_TOTP_SECRET), and its answer is the
        answer of that second step."""
        response = super().post(*args, **kwargs)
        data = kwargs.get("data")
        if (
            self.type_second_factor
            and response.status_code == 303
            and response.location.split("?")[0].endswith("/sign-in/second-factor")
            and isinstance(data, dict)
            and data.get("email")
            and not kwargs.get("follow_redirects")
        ):
            key, secret = self._totp_secret(data["email"].strip().lower())
            code = totp_code(key, secret)
            return super().post(
                "/sign-in/second-factor", data={"csrf_token": self.csrf_token(), "code": code}
            )
        return response

    def _totp_secret(self, email: str) -> tuple[str, str]:
        """The person's email (as when they were made: the key of their codes) and the secret
        of their authenticator app (make_user's, or the demo's)."""
        from sqlmodel import select

        with self.application.app_context(), session_scope() as db:
            factor = db.exec(
                select(TotpFactor)
                .join(User, User.id == TotpFactor.user_id)
                .where(User.email == email, TotpFactor.confirmed_at.is_not(None))
            ).first()
            if factor is None:
                return email, STAFF_TOTP_SECRET
            return f"user:{factor.user_id}", factor.secret


@pytest.fixture
def client(app) -> Client:
    return app.test_client()


class FreshSession(Session):
    """A test's own view of the database: every read sees what requests have committed since.

    It pushes no app context (a pushed context would be shared by the test client's requests,
    and with it `g`), reads in autocommit mode and refreshes objects it already holds.
    """

    def exec(self, statement, **kwargs):
        if hasattr(statement, "execution_options"):
            statement = statement.execution_options(populate_existing=True)
        return super().exec(statement, **kwargs)

    def get(self, entity, ident, **kwargs):
        return super().get(entity, ident, populate_existing=True, **kwargs)


@pytest.fixture
def db(app):
    """A session for arranging and checking data directly (call `db.commit()` after changes)."""
    engine = app.extensions["db_engine"].execution_options(isolation_level="AUTOCOMMIT")
    with FreshSession(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def make_user(app):
    """Factory: make_user(role="participant", email=..., therapist=user, group="Name")."""
    counter = {"n": 0}

    def make(
        role: str = "participant",
        *,
        email: str | None = None,
        name: str | None = None,
        timezone: str = "America/New_York",
        therapist: User | None = None,
        group: str | None = None,
        password: str = PASSWORD,
    ) -> User:
        counter["n"] += 1
        email = email or f"{role}{counter['n']}@example.test"
        with app.app_context(), session_scope() as session:
            user = services.create_user(
                session,
                role=Role(role),
                email=email,
                password=password,
                name=name or f"{role.title()} {counter['n']}",
                timezone=timezone,
            )
            if user.is_staff:
                session.flush()
                session.add(
                    TotpFactor(user_id=user.id, secret=STAFF_TOTP_SECRET, confirmed_at=utcnow())
                )
            if therapist is not None:
                services.link_care_team(
                    session, therapist=session.get(User, therapist.id), participant=user
                )
            if group:
                services.add_to_group(
                    session,
                    user=user,
                    group=services.get_or_create_group(session, group),
                    facilitator=role != "participant",
                )
        return user

    return make


@pytest.fixture
def sign_in(client):
    """sign_in(user): signs the test client in through the real form; returns the response."""

    def do(user: User, password: str = PASSWORD):
        response = client.post_form("/sign-in", {"email": user.email, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return response

    return do


@contextmanager
def _counting(app) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn, cursor, statement, *args):
        statements.append(statement)

    quick = app.extensions["quick_answers"].statement_listeners
    for engine in engines(app):
        event.listen(engine, "before_cursor_execute", before)
    quick.append(statements.append)
    try:
        yield statements
    finally:
        for engine in engines(app):
            event.remove(engine, "before_cursor_execute", before)
        quick.remove(statements.append)


@pytest.fixture
def count_queries(app):
    """`with count_queries() as q: ...` then `len(q)` is the number of SQL statements run
    (through SQLAlchemy, and by `quick_answers` on the driver's own cursor)."""
    return lambda: _counting(app)


@pytest.fixture
def fakepush(app):
    """A push service on loopback (tests/fakepush.py) that the app may send to, as a browser's
    push service would be: the test's allow-list of push endpoints holds only it."""
    from iop_pwa.push import settings
    from tests.fakepush import FakePushService

    with app.app_context():
        key = settings.public_key()
    service = FakePushService(key)
    app.config["PUSH_ALLOWED_ENDPOINTS"] = (service.origin + "/push/",)
    yield service
    service.stop()
