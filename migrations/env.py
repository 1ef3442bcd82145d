"""Alembic environment: the schema is the SQLModel metadata of `iop_pwa.models`."""

from logging.config import fileConfig

from alembic import context

from iop_pwa.db import make_engine
from iop_pwa.models import metadata

config = context.config
if config.config_file_name and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        import os

        from iop_pwa.config import load_settings

        url = load_settings(os.environ.get("INSTANCE_PATH", "instance"))["DATABASE_URL"]
    return url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch migrations copy a table and drop the old one; with foreign keys on, that drop
        # would cascade into every table that points at it. Off for the migration (it must be
        # set before the transaction begins), on again after.
        # On the driver's connection, outside any transaction (the engine begins one before
        # the first statement it runs: see `make_engine`).
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        _migrate(connection)
        if sqlite:
            connection.commit()
    finally:
        if sqlite:
            connection.rollback()  # (nothing left to undo after the commit)
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table copies to alter
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
