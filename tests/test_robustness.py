"""No request a signed-in person can make answers 500: every GET route as an htmx request, ids too
large for the database, and odd values in every POST form (property-based, with hypothesis)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from tests.conftest import PASSWORD
from tests.test_access import World, signed_in, world  # noqa: F401  (world is a fixture)

HUGE_ID = "99999999999999999999"  # over 2**63 - 1: no database integer holds it
TOO_LARGE_IDS = [HUGE_ID, str(2**63), str(2**31)]  # 2**31: past PostgreSQL's INTEGER

# The id a route's argument takes from the access matrix's `world`.
IDS = {
    "participant_id": lambda w: w.participant.id,
    "invitation_id": lambda w: w.invitation_id,
    "flag_id": lambda w: w.flag_id,
    "entry_id": lambda w: w.entry_id,
    "exercise_id": lambda w: w.exercise_id,
    "assignment_id": lambda w: w.assignment_id,
    "completion_id": lambda w: w.completion_id,
    "session_id": lambda w: w.session_id,
    "guest_id": lambda w: w.guest_id,
    "group_id": lambda w: w.group_id,
    "user_id": lambda w: w.owner.id,
    "conversation_id": lambda w: w.conversation_id,
    "message_id": lambda w: w.message_id,
    "report_id": lambda w: w.report_id,
    "subscription_id": lambda w: w.device_id,
    "passkey_id": lambda w: w.passkey_id,
    "position": lambda w: 1,  # a crisis line, by its place in the list (Admin → Crisis resources)
    "questionnaire_id": lambda w: w.questionnaire_id,
    "schedule_id": lambda w: w.schedule_id,
}


def _role(rule: str) -> str:
    if rule.startswith("/admin"):
        return "admin"
    return "therapist" if rule.startswith("/dashboard") else "participant"


def _rules(app, method: str):
    """Every route that answers `method`, except static files and capability (token) links."""
    return sorted(
        (
            r
            for r in app.url_map.iter_rules()
            if method in r.methods
            and r.endpoint != "static"
            and "token" not in r.arguments  # capability links: tested with their features
        ),
        key=lambda r: r.rule,
    )


def _path(rule, values: dict) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:\w+:)?{name}>", str(values[name]), path)
    return path


@pytest.fixture
def clients(app, world, make_user):  # noqa: F811
    admin = make_user("admin", email="admin@example.test")
    people = {"therapist": world.owner, "participant": world.participant, "admin": admin}
    return {role: signed_in(app, person.email) for role, person in people.items()}


def test_every_get_route_answers_its_htmx_fragment(app, world, clients):  # noqa: F811
    failures = []
    for rule in _rules(app, "GET"):
        path = _path(rule, {name: IDS[name](world) for name in rule.arguments})
        try:
            response = clients[_role(rule.rule)].get(path, headers={"HX-Request": "true"})
        except Exception as exc:  # the test app re-raises what would be a 500
            failures.append(f"{path}: {type(exc).__name__}")
            continue
        if response.status_code >= 500:
            failures.append(f"{path}: {response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("too_large", TOO_LARGE_IDS)
def test_ids_too_large_for_the_database_are_404(app, world, clients, too_large):  # noqa: F811
    """A huge id never reaches the database (where it would overflow): the route doesn't match."""
    failures = []
    for method in ("GET", "POST"):
        for rule in _rules(app, method):
            if not rule.arguments:
                continue
            path = _path(rule, dict.fromkeys(rule.arguments, too_large))
            client = clients[_role(rule.rule)]
            try:
                response = client.get(path) if method == "GET" else client.post_form(path)
            except Exception as exc:  # the test app re-raises what would be a 500
                failures.append(f"{method} {path}: {type(exc).__name__}")
                continue
            if response.status_code != 404:
                failures.append(f"{method} {path}: {response.status_code}")
    assert not failures, "\n".join(failures)


# Other scripts' digits: int() reads them, so Werkzeug's own converter took them for ids.
ARABIC_INDIC = str.maketrans(
    "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
)
FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULLWIDTH], ids=["arabic-indic", "fullwidth"])
def test_ids_in_other_digits_are_404_where_the_ascii_id_opens_the_page(
    app,
    world,  # noqa: F811
    clients,
    digits,
):
    """/messages/\u0661/poll was conversation 1: a route's id is written in ASCII digits only, so
    every other spelling of an id that opens a page answers 404."""
    opened, failures = [], []
    for rule in _rules(app, "GET"):
        if not rule.arguments:
            continue
        values = {name: IDS[name](world) for name in rule.arguments}
        client = clients[_role(rule.rule)]
        if client.get(_path(rule, values)).status_code != 200:
            continue  # (a page this person may not open, or a redirect: nothing to compare)
        opened.append(rule.rule)
        odd = _path(rule, {name: str(value).translate(digits) for name, value in values.items()})
        status = client.get(odd).status_code
        if status != 404:
            failures.append(f"GET {odd}: {status}")
    assert len(opened) >= 10, opened  # the participant's, the therapist's and the admin's pages
    assert any("/messages/" in rule for rule in opened), opened
    assert not failures, "\n".join(failures)


# --- Every POST form, fed odd values --------------------------------------------------------------


def _form_field_names() -> list[str]:
    """Every field name of every form in the app, plus the names views read from the raw form."""
    import importlib
    import pkgutil

    from flask_wtf import FlaskForm
    from wtforms.fields.core import UnboundField

    import iop_pwa

    for module in pkgutil.walk_packages(iop_pwa.__path__, "iop_pwa."):
        if module.name.endswith(".forms"):
            importlib.import_module(module.name)
    names = {"status", "next", "day", "answers-0", "answers-1", "attendance-PARTICIPANT"}
    names |= {"direction", "group-1-name", "group-1-kind"}  # read raw, or a prefixed form
    names |= {"item_0", "item_1"}  # a check-in's answers (fields made per check-in)
    pending = list(FlaskForm.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        for klass in form.__mro__:
            names.update(k for k, v in vars(klass).items() if isinstance(v, UnboundField))
    return sorted(names)


FIELD_NAMES = _form_field_names()
ODD_VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "-99999999999999999999",
            HUGE_ID,
            str(2**63),
            "1e309",
            "NaN",
            "9999-12-31",
            "0001-01-01",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "24:60",
            "<script>alert(1)</script>",
            "\x00",
            "a\x00b",
            "x" * 20_000,
            "🙂" * 300,
            "https://zoom.us.evil.example/",
            "javascript:alert(1)",
            "Ω≈ç√∫˜µ≤≥÷",
            "on",
        ]
    ),
    st.integers().map(str),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
)


def _post_rules() -> list[str]:
    """The app's POST routes, known at collection time (an app with an unused in-memory db)."""
    from iop_pwa import create_app

    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "collect-" + "x" * 32})
    return [r.rule for r in _rules(app, "POST")]


def _valid_form(w: World) -> dict[str, str]:
    """One payload every POST route accepts (each reads its own fields): odd values replace a few
    of them, so they reach the services, not only the first required field."""
    today = datetime.now(ZoneInfo("America/New_York")).date().isoformat()
    return {
        "status": "active",
        "next": "/dashboard",
        "client_id": str(uuid.uuid4()),
        "written_at": datetime.now(UTC).isoformat(),
        "body": "Edited",
        "mood": "3",
        "own_words": "calm",
        "shared": "y",
        "day": today,
        "answers-0": "It went fine.",
        "helpful": "4",
        "difficulty": "2",
        "text": "Good work.",
        "title": "Edited",
        "skill": "empathy",
        "why": "Why. Because.",
        "steps": "1. Do.",
        "minutes": "5",
        "questions": "How was it?",
        "participant": str(w.participant.id),
        "group": "",
        "schedule": "daily",
        "start_date": today,
        "note": "A note.",
        "reminder_time": "08:00",
        "kind": "individual",
        "at": "09:00",
        "duration_minutes": "60",
        "video_url": "https://zoom.us/j/2",
        "repeat_weeks": "2",
        "name": "A Person",
        "email": "a.person@example.test",
        "password": "a long enough password",
        "current_password": PASSWORD,
        "new_password": "another long enough password",
        "confirm": "another long enough password",
        "timezone": "Europe/London",
        "include_links": "y",
        "privacy": "y",
        f"attendance-{w.participant.id}": "attended",
        "daily_practice": "y",
        "daily_time": "18:30",
        "session_reminders": "y",
        "session_minutes": "10",
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "questionnaire": str(w.questionnaire_id),
        "every_weeks": "1",
        "item_0": "3",
        "due_on": today,
    }


@pytest.mark.parametrize("rule", _post_rules())
@settings(
    max_examples=25,
    deadline=None,
    database=None,  # nothing written into the project folder
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(odd=st.dictionaries(st.sampled_from(FIELD_NAMES), st.none() | ODD_VALUES, max_size=5))
# What it found once, kept: a NUL byte (PostgreSQL refuses it), ids past INTEGER, odd digits.
@example(odd={"own_words": "\x00", "body": "a\x00b", "title": "\x00", "text": "\x00"})
@example(odd={"participant": str(2**31), "group": str(2**31), "attendance-PARTICIPANT": "²"})
@example(odd={"participant": "²", "group": "²", "new_group": "Ísland"})
@example(odd={"day": "9999-12-31", "start_date": "9999-12-31", "end_date": "9999-12-31"})
@example(odd={"day": "0001-01-01", "start_date": "0001-01-01", "at": "00:00"})
def test_no_post_form_answers_5xx_whatever_it_is_sent(app, world, clients, rule, odd):  # noqa: F811
    """Huge numbers and strings, NUL bytes, far dates, markup, empty and missing (None) fields in
    an otherwise valid form: each route answers its owner 2xx to 4xx, never 5xx."""
    rule_obj = next(r for r in app.url_map.iter_rules() if r.rule == rule and "POST" in r.methods)
    path = _path(rule_obj, {name: IDS[name](world) for name in rule_obj.arguments})
    form = _valid_form(world)
    for key, value in odd.items():
        key = key.replace("PARTICIPANT", str(world.participant.id))
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    response = clients[_role(rule)].post_form(path, form)
    assert response.status_code < 500


# --- What the fuzzing found, as plain tests ----------------------------------------------


def test_a_nul_byte_is_refused_with_a_reason_and_nothing_is_saved(app, world, clients, db):  # noqa: F811
    """PostgreSQL can't store a NUL character (it answered 500); SQLite stored it silently."""
    from iop_pwa.journal.models import JournalEntry

    before = len(db.exec(select(JournalEntry)).all())
    fields = {"client_id": str(uuid.uuid4()), "body": "a\x00b"}
    response = clients["participant"].post_form("/journal", fields)
    assert response.status_code == 400
    assert "(a NUL byte). Please remove it" in response.get_data(as_text=True)
    assert len(db.exec(select(JournalEntry)).all()) == before


def test_a_new_group_name_with_accents_is_recognised_as_ones_own(app, world, clients, db):  # noqa: F811
    """SQLite's lower() folds only ASCII, so a second "Ísland" missed the first (once a 500 on
    the UNIQUE name); now the therapist is told they already have that group."""
    from iop_pwa.accounts.models import Group

    fields = {"name": "Ana", "email": "", "group": "", "new_group": "Ísland"}
    assert clients["therapist"].post_form("/dashboard/invitations", fields).status_code == 303
    again = clients["therapist"].post_form("/dashboard/invitations", {**fields, "name": "Bea"})
    assert again.status_code == 422
    assert "You already have a group called Ísland" in again.get_data(as_text=True)
    assert [g.name for g in db.exec(select(Group).where(Group.name == "Ísland"))] == ["Ísland"]
