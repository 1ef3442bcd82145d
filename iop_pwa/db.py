"""The database: one engine per app, one session per request (or CLI command), committed once.

Service functions take the session and never commit; the view (or command) that called them does.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import DateTime, Enum, TypeDecorator, event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

# A request with one of these methods writes only bookkeeping (the audit row of a staff read, a
# session's last-seen time), never a person's words: see `_bookkeeping_durability`.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Statements that only read (SQLite: see `make_engine`, where a transaction begins).
_READS = frozenset({"SELECT", "PRAGMA"})

MAX_ID = 2**31 - 1  # the largest id an INTEGER column holds on PostgreSQL (SQLite's is larger)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


def enum_type(kind: type[enum.Enum], name: str, length: int = 20) -> Enum:
    """A Python enum stored as its value in a VARCHAR (portable: no native database enum)."""
    return Enum(
        kind,
        name=name,
        native_enum=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file owner-only (0o600) before SQLite does (its -wal and -shm files
    take the same mode); a missing folder is made owner-only too (0o700)."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    db_file = Path(path)
    db_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    db_file.touch(mode=0o600, exist_ok=True)
    db_file.chmod(0o600)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL mode, a busy timeout, enforced foreign keys, and
    secure_delete (deleted rows are overwritten with zeros, not left in free pages).

    On SQLite the app begins its transactions itself (SQLAlchemy's documented recipe for the
    sqlite3 driver): the driver's own transaction control is off (`isolation_level = None`),
    and BEGIN is emitted here. Left to the driver, no transaction began before a SAVEPOINT
    (`begin_nested()`), so its RELEASE committed at once and a request that failed afterwards
    could no longer roll that write back. Every transaction is BEGIN IMMEDIATE (it takes the
    write lock at once, waiting for it as long as the busy timeout): a deferred one that read
    first cannot become a writer once another request has committed meanwhile, and SQLite
    refuses that at once ("database is locked") instead of waiting.
    - A request that writes (POST and the like) is one transaction from its first statement:
      BEGIN IMMEDIATE in the engine's `begin` event.
    - A page read (GET) and work outside a request (worker, CLI) begin theirs at their first
      write or savepoint: until then each read stands alone, so reading never waits for a writer
      and holds no lock; from then on everything up to COMMIT or ROLLBACK is one transaction.
    The settings below are made on each new connection, outside any transaction (SQLite ignores
    some of them inside one)."""
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # the driver begins nothing: see below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_durability(conn):
            """Every write that can carry a person's words is synced to disk at commit (FULL);
            a page read's bookkeeping is not (NORMAL: in WAL mode it survives the app crashing,
            and is synced with the next write or checkpoint). The level is per connection and
            cannot change inside a transaction, so it is set here, before SQLite's BEGIN, and
            only when it differs from what the pooled connection has."""
            autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
            conn.info["begin_at_first_write"] = False
            if autocommit:
                return  # asked for no transaction (a checkpoint, a test's reading session)
            driver = conn.connection.driver_connection
            # SQLAlchemy puts the driver's own transaction control back on a pooled connection
            # that was lent in AUTOCOMMIT; this engine's transactions are begun here, always.
            if driver.isolation_level is not None:
                driver.isolation_level = None
            level = "NORMAL" if _bookkeeping_only() else "FULL"
            if conn.info.get("synchronous") != level:
                # On the driver's connection: a setting, not one of the page's queries.
                driver.execute(f"PRAGMA synchronous={level}")
                conn.info["synchronous"] = level
            if has_request_context() and request.method not in SAFE_METHODS:
                driver.execute("BEGIN IMMEDIATE")
            else:
                conn.info["begin_at_first_write"] = True

        @event.listens_for(engine, "before_cursor_execute")
        def _sqlite_begin_at_first_write(conn, _cursor, statement, *_args):
            """A read's or a worker's transaction begins before its first write or SAVEPOINT."""
            if not conn.info.get("begin_at_first_write"):
                return
            driver = conn.connection.driver_connection
            if driver.in_transaction or statement.lstrip()[:6].upper() in _READS:
                return
            driver.execute("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def make_read_engine(engine: Engine) -> Engine:
    """The engine `quick_answers` reads with: on PostgreSQL, its own small pool in autocommit
    and without a ping before each use, so a lone SELECT costs one round trip, not four (ping,
    BEGIN, SELECT, ROLLBACK). A connection that died meanwhile fails that read, which then goes
    to the app (which pings), and the pool drops it. On SQLite neither costs anything: the
    app's engine. Disposing of the app's engine disposes of this one too."""
    if engine.dialect.name != "postgresql":
        return engine
    reader = create_engine(engine.url, pool_size=1, max_overflow=1, isolation_level="AUTOCOMMIT")
    event.listen(engine, "engine_disposed", lambda _engine: reader.dispose())
    return reader


def engines(app: Flask) -> list[Engine]:
    """Every engine the app uses (to count or watch all of its statements)."""
    found = [app.extensions["db_engine"], app.extensions["db_read_engine"]]
    return [e for i, e in enumerate(found) if e not in found[:i]]


def init_app(app: Flask) -> None:
    """Bind an engine to the app and close the request's session on teardown."""
    app.extensions["db_engine"] = make_engine(app.config["DATABASE_URL"])
    app.extensions["db_read_engine"] = make_read_engine(app.extensions["db_engine"])

    @app.after_request
    def _commit_once(response):
        """One transaction per request: what the view and its services wrote commits here,
        after the view returned, if the answer is a success or a redirect. A refused or invalid
        request (4xx, 5xx) keeps nothing; its own audit row of a refusal commits on its own."""
        session = g.get("db")
        if session is not None:
            if response.status_code < 400:
                _bookkeeping_durability(session)
                session.commit()
            else:
                session.rollback()
        return response

    @app.teardown_appcontext
    def _close_session(exc):
        session = g.pop("db", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def _bookkeeping_only() -> bool:
    return has_request_context() and request.method in SAFE_METHODS


def _bookkeeping_durability(session: Session) -> None:
    """On PostgreSQL, a page read's commit (its audit row, a session's last-seen time) does not
    wait for the WAL flush (`synchronous_commit = off` for that transaction only): nothing is lost
    if the app dies, and the database stays consistent; a crash of the database server itself
    could lose the last fraction of a second of such rows. Writes of people's words (POST) wait
    as always. SQLite's equivalent is set where its transactions begin (`make_engine`)."""
    if (
        _bookkeeping_only()
        and session.in_transaction()
        and (session.new or session.dirty or session.deleted or session.info.get("wrote"))
        and session.get_bind().dialect.name == "postgresql"
    ):
        # On the driver's connection: a setting, not one of the page's queries.
        session.connection().connection.driver_connection.execute(
            "SET LOCAL synchronous_commit TO OFF"
        )


def engine() -> Engine:
    return current_app.extensions["db_engine"]


def get_db() -> Session:
    """The request's database session (created on first use)."""
    if "db" not in g:
        g.db = Session(engine(), expire_on_commit=False)
    return g.db


@event.listens_for(Session, "after_flush")
def _note_write(session: Session, _context) -> None:
    """Whether a session has written anything (a flush empties `new` and `dirty`)."""
    session.info["wrote"] = True


def purge_deleted() -> None:
    """Call after committing the deletion of a person. On SQLite, the WAL still holds copies of
    the pages with their text: copy it into the database file (where secure_delete has zeroed
    the rows) and truncate it. PostgreSQL needs nothing here (its VACUUM reclaims dead rows)."""
    if engine().dialect.name != "sqlite":
        return
    with engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        current_app.logger.warning("WAL checkpoint after a deletion was blocked by a reader")


def purge_deleted_after_commit() -> None:
    """`purge_deleted()` once the request's transaction has committed (a checkpoint before the
    commit would copy nothing): for a view that deletes a person."""
    event.listen(get_db(), "after_commit", lambda _session: purge_deleted(), once=True)


def rollback_request_session() -> None:
    """Undo whatever the failed request had added, so an error page can still query."""
    session = g.get("db")
    if session is not None:
        session.rollback()


@contextmanager
def session_scope(bind: Engine | None = None) -> Iterator[Session]:
    """A session for work outside a request (CLI, worker) that commits once at the end."""
    session = Session(bind or engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC timestamps")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
