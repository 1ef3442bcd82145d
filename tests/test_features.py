"""The feature contract (iop_pwa/features.py): each feature registers itself, core iterates what
was registered and never imports a feature, and "My data" covers every table by construction."""

from __future__ import annotations

import importlib
import pkgutil
import tomllib
import uuid
import zipfile
from datetime import UTC, datetime, time, timedelta
from io import BytesIO
from pathlib import Path

from jinja2 import ChoiceLoader, DictLoader
from sqlmodel import select

import iop_pwa
from iop_pwa.accounts.models import User
from iop_pwa.features import DataRights, Feature, Job, Section, add, registry
from iop_pwa.models import metadata
from iop_pwa.notifications import Notification
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


def _feature_packages() -> set[str]:
    """Every package of iop_pwa with a `register` function is a feature."""
    found = set()
    for module in pkgutil.iter_modules(iop_pwa.__path__):
        if module.ispkg:
            package = importlib.import_module(f"iop_pwa.{module.name}")
            if callable(getattr(package, "register", None)):
                found.add(f"iop_pwa.{module.name}")
    return found


def test_every_feature_package_is_forbidden_to_core_by_the_import_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    by_type = {c["type"]: c for c in config["contracts"]}
    contract = by_type["forbidden"]
    assert _feature_packages() == set(contract["forbidden_modules"])
    assert not _feature_packages() & set(contract["source_modules"])
    # And every feature is in the contract that keeps features independent of each other.
    assert _feature_packages() == set(by_type["independence"]["modules"])


def test_every_feature_is_registered_once_by_the_app(app):
    names = [f.name for f in registry(app).features]
    assert sorted(names) == ["checkins", "journal", "messages", "practice", "push", "sessions"]
    assert len(_feature_packages()) == len(names)


def test_features_register_one_policy_per_kind_of_object_they_own(app):
    found = registry(app)
    for kind in ("journal_entry", "exercise", "assignment", "completion", "therapy_session"):
        assert found.policy(kind).kind == kind
    tables = {p.model.__table__.name for f in found.features for p in f.policies}
    assert {"journalentry", "assignment", "therapy_session", "familyguest"} <= tables


def test_every_table_with_a_persons_rows_has_a_data_rights_provider(app):
    """A new table that points at a user must be exported and deleted by someone: this fails
    until a provider (core's or a feature's) names it."""
    from iop_pwa.accounts.my_data import providers

    with app.app_context():
        covered = {model.__table__.name for p in providers() for model in p.tables}
    with_people = {
        table.name
        for table in metadata.sorted_tables
        if table.name == "user" or any(fk.column.table.name == "user" for fk in table.foreign_keys)
    }
    assert with_people, "the schema has tables that point at users"
    assert with_people - covered == set(), f"no provider covers {sorted(with_people - covered)}"


def _world(app, make_user):
    """A participant with practice done and feedback on it, a past session with attendance,
    and a notification."""
    from iop_pwa.db import session_scope
    from iop_pwa.practice import services as practice
    from iop_pwa.practice.models import Exercise
    from iop_pwa.therapy import services as therapy

    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    today = datetime.now(UTC).date()
    with app.app_context(), session_scope() as db:
        exercise = Exercise(
            slug="t", title="Listening", skill="empathy", why="W", steps="1. Do.", questions="Q?"
        )
        db.add(exercise)
        db.flush()
        a = practice.assign(
            db,
            therapist=db.get(User, therapist.id),
            exercise=exercise,
            participant=db.get(User, person.id),
            group=None,
            schedule="daily",
            weekdays=[],
            start_date=today - timedelta(days=3),
            end_date=None,
            note="",
            reminder_time=None,
        )
        completion, _ = practice.mark_done(
            db,
            participant=db.get(User, person.id),
            assignment=a,
            exercise=exercise,
            day=today - timedelta(days=1),
            today=today,
            client_id=str(uuid.uuid4()),
            answers=["It went well"],
            helpful=4,
            difficulty=2,
            done_at=datetime.now(UTC),
        )
        practice.give_feedback(
            db,
            therapist=db.get(User, therapist.id),
            completion=completion,
            text="Lovely reflection",
            exercise_title=exercise.title,
        )
        [past] = therapy.schedule(
            db,
            therapist=db.get(User, therapist.id),
            kind="individual",
            title="One to one",
            day=today + timedelta(days=2),
            at=time(10, 0),
            duration_minutes=50,
            video_url="https://zoom.us/j/5",
            participant=db.get(User, person.id),
            group_id=None,
        )
        past.starts_at = datetime.now(UTC) - timedelta(days=2)
        therapy.mark_attendance(
            db,
            session=past,
            participant_id=person.id,
            status="attended",
            by=db.get(User, therapist.id),
        )
    return therapist, person, a


def test_my_data_exports_feedback_sessions_attendance_and_notifications(app, make_user):
    _, person, _ = _world(app, make_user)
    client = app.test_client()
    client.post_form("/sign-in", {"email": person.email, "password": PASSWORD})
    archive = zipfile.ZipFile(BytesIO(client.get("/account/my-data.zip").data))
    names = set(archive.namelist())
    assert {"practice.csv", "sessions.csv", "notifications.csv", "journal.csv"} <= names
    assert "Lovely reflection" in archive.read("practice.csv").decode()
    sessions = archive.read("sessions.csv").decode()
    assert "One to one" in sessions and "attended" in sessions
    assert "left feedback" in archive.read("notifications.csv").decode()
    assert "zoom.us" not in archive.read("my-data.json").decode()  # no video links


def test_deleting_an_account_names_every_providers_words(app, make_user):
    person = make_user("participant")
    client = app.test_client()
    client.post_form("/sign-in", {"email": person.email, "password": PASSWORD})
    page = client.get("/account/delete").get_data(as_text=True)
    from iop_pwa.accounts.my_data import providers

    with app.app_context():
        words = [w for p in providers() for w in p.deleted]
    assert len(words) >= 6
    for word in words:
        assert word.replace("'", "&#39;") in page


def test_notifications_lead_where_their_kind_says(app, make_user, db):
    _, person, assignment = _world(app, make_user)
    client = app.test_client()
    client.post_form("/sign-in", {"email": person.email, "password": PASSWORD})
    page = client.get("/notifications").get_data(as_text=True)
    assert f'href="/practice/{assignment.id}"' in page
    rows = db.exec(select(Notification).where(Notification.user_id == person.id)).all()
    assert rows and all(n.object_id for n in rows)


def test_a_registered_feature_shows_on_today_and_runs_in_the_worker(app, make_user):
    """A new feature touches nothing in core: registering is enough."""
    app.jinja_loader = ChoiceLoader(
        [app.jinja_loader, DictLoader({"garden/_today.html": "<p>Garden: {{ count }} plants</p>"})]
    )
    runs = []
    add(
        app,
        Feature(
            name="garden",
            today=(Section("garden", "garden/_today.html", lambda **_: {"count": 3}, order=5),),
            jobs=(Job("water", timedelta(hours=1), lambda db, now: runs.append(now) or 1),),
            data_rights=(DataRights(name="garden", tables=(), deleted=("your garden",)),),
        ),
    )
    person = make_user("participant")
    client = app.test_client()
    client.post_form("/sign-in", {"email": person.email, "password": PASSWORD})
    today = client.get("/today").get_data(as_text=True)
    assert "Garden: 3 plants" in today
    assert today.index("Garden:") < today.index("Next session")  # order 5 comes first

    from iop_pwa.worker import run_round

    with app.app_context():
        last_run: dict = {}
        start = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
        assert run_round(start, last_run)["water"] == 1
        assert "water" not in run_round(start + timedelta(minutes=5), last_run)
        assert run_round(start + timedelta(hours=1), last_run)["water"] == 1
    assert len(runs) == 2
    assert "your garden" in client.get("/account/delete").get_data(as_text=True)


def test_offline_pages_come_from_the_features(client):
    body = client.get("/sw.js").get_data(as_text=True)
    for path in ('"/today"', '"/journal"', '"/practice"', '"/sessions"'):
        assert path in body
    assert '"/practice/"' in body and '"/sessions/"' in body
