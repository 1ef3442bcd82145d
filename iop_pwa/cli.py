"""Command-line tasks: `flask --app app db upgrade | users create | demo | worker`."""

from __future__ import annotations

import logging
import signal
import time
from zoneinfo import available_timezones

import click
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from iop_pwa.db import session_scope

log = logging.getLogger(__name__)


def alembic_config() -> Config:
    """Alembic pointed at `migrations/` and at this app's database."""
    from iop_pwa import ROOT

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", current_app.config["DATABASE_URL"].replace("%", "%%"))
    return cfg


db_cli = AppGroup("db", help="Database migrations (Alembic).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str):
    """Bring the database to the latest migration (or REVISION), then bring the built-in
    exercise library in step with its data files."""
    from iop_pwa.practice.library import sync_builtin_exercises

    command.upgrade(alembic_config(), revision)
    if revision == "head":
        with session_scope() as db:
            counts = sync_builtin_exercises(db)
        click.echo(
            f"Exercise library: {counts['added']} added, {counts['updated']} updated, "
            f"{counts['archived']} archived."
        )


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str):
    """Step the database back to REVISION."""
    command.downgrade(alembic_config(), revision)


@db_cli.command("current")
def db_current():
    command.current(alembic_config())


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str):
    """Write a new migration from the difference between the models and the database."""
    command.revision(alembic_config(), message=message, autogenerate=True)


users_cli = AppGroup("users", help="Manage accounts.")


@users_cli.command("create")
@click.option("--role", type=click.Choice(["participant", "therapist", "admin"]), required=True)
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--name", default="")
@click.option("--timezone", default="America/New_York", show_default=True)
@click.option(
    "--therapist", "therapist_email", help="Put the participant on this therapist's caseload."
)
@click.option("--group", "group_name", help="Add the person to this group (created if needed).")
def users_create(role, email, password, name, timezone, therapist_email, group_name):
    """Create an account. Its owner must choose a new password at first sign-in."""
    from iop_pwa.accounts import services
    from iop_pwa.accounts.models import Role
    from iop_pwa.accounts.passwords import MIN_LENGTH

    if len(password) < MIN_LENGTH:
        raise click.BadParameter(f"use at least {MIN_LENGTH} characters", param_hint="--password")
    if timezone not in available_timezones():
        raise click.BadParameter(f"unknown time zone {timezone!r}", param_hint="--timezone")
    if therapist_email and role != "participant":
        raise click.BadParameter("only a participant has a therapist", param_hint="--therapist")
    if group_name and role == "admin":
        raise click.BadParameter("an admin facilitates no group", param_hint="--group")
    with session_scope() as db:
        try:
            user = services.create_user(
                db,
                role=Role(role),
                email=email,
                password=password,
                name=name,
                timezone=timezone,
                must_change_password=True,  # typed by an operator: the person chooses their own
            )
            if therapist_email:
                therapist = services.find_user_by_email(db, therapist_email)
                if therapist is None:
                    raise services.AccountError(f"No therapist with email {therapist_email}.")
                services.link_care_team(db, therapist=therapist, participant=user)
            if group_name:
                group = services.get_or_create_group(db, group_name)
                services.add_to_group(db, user=user, group=group, facilitator=role == "therapist")
        except services.AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(
            f"Created {role} {user.email} (id {user.id}). "
            "They choose their own password at first sign-in."
        )


@users_cli.command("reset-second-factor")
@click.argument("email")
def users_reset_second_factor(email):
    """A staff member lost their second factor (an admin too, whom no admin page changes): their
    app, recovery codes and passkeys go, every device is signed out, and they set one up again at
    their next sign-in. Audited as done from the command line."""
    from iop_pwa import audit
    from iop_pwa.accounts import second_factor, services
    from iop_pwa.accounts.sessions import end_other_sessions

    with session_scope() as db:
        user = services.find_user_by_email(db, email)
        if user is None or not user.is_staff:
            raise click.ClickException(f"No staff account with email {email}.")
        second_factor.reset(db, user=user)
        end_other_sessions(db, user, None)
        audit.record(
            db,
            "second_factor_reset",
            actor_id=None,
            object_type="user",
            object_id=user.id,
            detail="command line",
        )
        click.echo(
            f"Reset the second factor of {user.email}: every device is signed out, and they set "
            "one up again at their next sign-in."
        )


@click.command("demo")
@with_appcontext
def demo_command():
    """Load the demo program (idempotent) and print the demo logins."""
    from iop_pwa.accounts import second_factor
    from iop_pwa.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, load_demo

    if current_app.config["APP_ENV"] == "production":
        raise click.ClickException("The demo program is never loaded in production.")
    with session_scope() as db:
        logins = load_demo(db)
    click.echo("\nDemo program ready. Demo logins:")
    for role, email in logins:
        click.echo(f"  {role:<12} {email:<28} password: {DEMO_PASSWORD}")
    click.echo(
        "\nStaff sign in with a second factor. Add this key to an authenticator app (time-based):"
        f"\n  {second_factor.grouped_secret(DEMO_TOTP_SECRET)}"
        "\nor print the current code with: .venv/bin/flask --app app demo-code"
    )


@click.command("demo-code")
@with_appcontext
def demo_code_command():
    """Print the demo staff's current second-factor code (never in production)."""
    import pyotp

    from iop_pwa.demo import DEMO_TOTP_SECRET

    if current_app.config["APP_ENV"] == "production":
        raise click.ClickException("The demo program is never loaded in production.")
    click.echo(pyotp.TOTP(DEMO_TOTP_SECRET).now())


@click.command("worker")
@click.option("--once", is_flag=True, help="Run one round and exit.")
@click.option("--interval", default=15, show_default=True, help="Seconds between rounds.")
@with_appcontext
def worker_command(once: bool, interval: int):
    """The background worker: every registered job, each at most once per its interval."""
    from iop_pwa.worker import run_round

    stopping = False
    last_run: dict = {}

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("worker started")
    while True:
        run_round(last_run=last_run)
        if once or stopping:
            break
        deadline = time.monotonic() + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.5)
        if stopping:
            break
    log.info("worker stopped")


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(demo_code_command)
    app.cli.add_command(worker_command)
