"""Staff's second factor (authenticator app, recovery codes), an admin's reset, "Confirm it's
you" before the most sensitive actions, and the passkey endpoints' answers to bad input.

Codes are made with pyotp at a frozen time, as the person's app would make them. Passkeys are
used for real in Chromium (tests/browser/test_second_factor.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from sqlmodel import select

from iop_pwa.accounts.models import LoginSession, RecoveryCode, TotpFactor, User
from iop_pwa.audit import AuditEvent
from tests.conftest import PASSWORD, STAFF_TOTP_SECRET
from tests.helpers import signed_in

NOON = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)  # a Tuesday, noon in New York
APP = pyotp.TOTP(STAFF_TOTP_SECRET)


def app_code(at: datetime) -> str:
    return APP.at(at)


@pytest.fixture
def raw(app):
    """A test client that leaves the second factor to the test."""
    client = app.test_client()
    client.type_second_factor = False
    return client


@pytest.fixture(autouse=True)
def strict_window(app):
    """The production window: the code for now, or one step either side."""
    app.config["TOTP_VALID_WINDOW"] = 1


def actions(db, action: str) -> list[AuditEvent]:
    return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)))


def password_step(client, user, next_page: str = ""):
    url = "/sign-in" + (f"?next={next_page}" if next_page else "")
    return client.post_form(url, {"email": user.email, "password": PASSWORD})


def test_a_therapist_needs_the_apps_code_after_the_password(app, raw, make_user, db):
    therapist = make_user("therapist")
    with time_machine.travel(NOON, tick=False):
        first = password_step(raw, therapist, "/dashboard/participants")
        assert first.status_code == 303 and first.headers["Location"] == "/sign-in/second-factor"
        # Half-way, nobody is signed in: no session row, and no page but this step opens.
        assert db.exec(select(LoginSession)).all() == []
        for path in ["/dashboard", "/account", "/account/confirm", "/admin/therapists"]:
            answer = raw.get(path)
            assert answer.status_code in (302, 303) and "/sign-in" in answer.headers["Location"]
        assert raw.get("/api/session").status_code == 401
        page = raw.get("/sign-in/second-factor")
        assert page.status_code == 200 and "<h1>Second factor</h1>" in page.text
        assert 'autocomplete="one-time-code"' in page.text

        wrong = raw.post_form("/sign-in/second-factor", {"code": "000000"})
        assert wrong.status_code == 422 and "didn&#39;t work" in wrong.text
        assert db.exec(select(LoginSession)).all() == []
        [failed] = actions(db, "second_factor_failed")
        assert failed.actor_id == therapist.id and failed.detail == "wrong code"
        assert raw.get("/dashboard").status_code in (302, 303)

        done = raw.post_form("/sign-in/second-factor", {"code": app_code(NOON)})
        assert done.status_code == 303 and done.headers["Location"] == "/dashboard/participants"
        assert raw.get("/dashboard").status_code == 200
        [signed] = actions(db, "sign_in")
        assert signed.actor_id == therapist.id and signed.detail == "second factor: app"
        assert len(db.exec(select(LoginSession)).all()) == 1


def test_a_code_works_once_and_only_near_its_time(app, raw, make_user, db):
    therapist = make_user("therapist")
    with time_machine.travel(NOON, tick=False):
        password_step(raw, therapist)
        assert raw.post_form("/sign-in/second-factor", {"code": app_code(NOON)}).status_code == 303
        again = app.test_client()
        again.type_second_factor = False
        password_step(again, therapist)
        replay = again.post_form("/sign-in/second-factor", {"code": app_code(NOON)})
        assert replay.status_code == 422  # the same code a second time: refused
        stale = again.post_form(
            "/sign-in/second-factor", {"code": app_code(NOON - timedelta(minutes=2))}
        )
        assert stale.status_code == 422  # four steps old
        later = again.post_form(
            "/sign-in/second-factor", {"code": app_code(NOON + timedelta(seconds=30))}
        )
        assert later.status_code == 303  # the next step (a phone's clock a little ahead)


def test_the_step_between_password_and_code_expires(app, raw, make_user, db):
    therapist = make_user("therapist")
    with time_machine.travel(NOON, tick=False) as clock:
        password_step(raw, therapist)
        clock.shift(timedelta(minutes=6))
        late = raw.post_form("/sign-in/second-factor", {"code": app_code(NOON)})
        assert late.status_code == 303 and late.headers["Location"] == "/sign-in"
        assert raw.get("/dashboard").status_code in (302, 303)
    assert db.exec(select(LoginSession)).all() == []


def test_failed_codes_are_rate_limited_and_the_password_does_not_reset_the_count(
    app, raw, make_user, db
):
    therapist = make_user("therapist")
    with time_machine.travel(NOON, tick=False):
        password_step(raw, therapist)
        for _ in range(5):
            assert raw.post_form("/sign-in/second-factor", {"code": "123456"}).status_code == 422
        # The right password again gives no fresh tries at the code.
        assert password_step(raw, therapist).headers["Location"] == "/sign-in/second-factor"
        held = raw.post_form("/sign-in/second-factor", {"code": app_code(NOON)})
        assert held.status_code == 429 and "Too many tries" in held.text
        assert int(held.headers["Retry-After"]) >= 60
        assert db.exec(select(LoginSession)).all() == []
    assert len(actions(db, "second_factor_failed")) == 5


def test_a_participant_signs_in_with_the_password_alone(client, make_user, db):
    person = make_user("participant")
    response = client.post_form("/sign-in", {"email": person.email, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/today"


def test_first_sign_in_sets_up_the_app_and_shows_ten_recovery_codes_once(app, raw, make_user, db):
    therapist = make_user("therapist")
    db.exec(select(TotpFactor))  # make_user's app goes: this therapist starts with none
    for row in db.exec(select(TotpFactor).where(TotpFactor.user_id == therapist.id)).all():
        db.delete(row)
    db.commit()
    with time_machine.travel(NOON, tick=False):
        assert password_step(raw, therapist).headers["Location"] == "/sign-in/set-up"
        # The code step sends them to set-up; nothing else opens.
        assert raw.get("/sign-in/second-factor").headers["Location"] == "/sign-in/set-up"
        assert raw.get("/dashboard").status_code in (302, 303)
        page = raw.get("/sign-in/set-up")
        assert page.status_code == 200 and "<svg" in page.text and "QR code" in page.text
        secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
        assert raw.get("/sign-in/set-up").text.count(" ".join(re.findall(".{1,4}", secret))) == 1
        app_of_theirs = pyotp.TOTP(secret)

        wrong = raw.post_form("/sign-in/set-up", {"code": "999999"})
        assert wrong.status_code == 422 and raw.get("/dashboard").status_code in (302, 303)
        done = raw.post_form("/sign-in/set-up", {"code": app_of_theirs.at(NOON)})
        assert done.status_code == 200 and "Your recovery codes" in done.text
        assert done.headers["Cache-Control"] == "no-store"
        codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.text)
        assert len(codes) == 10 and len(set(codes)) == 10
        assert raw.get("/dashboard").status_code == 200  # signed in now

    rows = db.exec(select(RecoveryCode).where(RecoveryCode.user_id == therapist.id)).all()
    assert len(rows) == 10
    assert all(r.code_hash.startswith("$argon2id$") for r in rows)
    assert not any(c.replace("-", "") in r.code_hash for c in codes for r in rows)
    factor = db.exec(select(TotpFactor).where(TotpFactor.user_id == therapist.id)).one()
    assert factor.confirmed_at is not None and factor.secret == secret
    assert [e.detail for e in actions(db, "second_factor_set_up")] == ["app"]

    # A recovery code signs in once.
    with time_machine.travel(NOON + timedelta(hours=1), tick=False):
        phone = app.test_client()
        phone.type_second_factor = False
        password_step(phone, therapist)
        used = phone.post_form("/sign-in/second-factor", {"code": codes[3].upper()})
        assert used.status_code == 303
        assert "9 left" in phone.get("/dashboard").text
        other = app.test_client()
        other.type_second_factor = False
        password_step(other, therapist)
        assert other.post_form("/sign-in/second-factor", {"code": codes[3]}).status_code == 422
    [signed] = [e for e in actions(db, "sign_in") if e.detail == "second factor: recovery code"]
    assert signed.actor_id == therapist.id


def test_an_admin_resets_a_therapists_second_factor(app, make_user, db):
    admin = make_user("admin")
    therapist = make_user("therapist")
    theirs = signed_in(app, therapist)
    client = signed_in(app, admin)
    page = client.get(f"/admin/therapists/{therapist.id}")
    assert "Reset second factor" in page.text
    reset = client.post_form(f"/admin/therapists/{therapist.id}/second-factor/reset")
    assert reset.status_code == 303
    assert db.exec(select(TotpFactor).where(TotpFactor.user_id == therapist.id)).all() == []
    assert theirs.get("/dashboard").status_code in (302, 303)  # signed out everywhere
    [event] = actions(db, "second_factor_reset")
    assert (event.actor_id, event.object_id) == (admin.id, therapist.id)
    fresh = app.test_client()
    again = fresh.post_form("/sign-in", {"email": therapist.email, "password": PASSWORD})
    assert again.headers["Location"] == "/sign-in/set-up"


def test_a_sign_in_link_replaces_a_staff_password_but_not_the_second_factor(
    app, raw, make_user, db
):
    from iop_pwa.accounts import links
    from iop_pwa.db import session_scope

    therapist = make_user("therapist")
    with app.app_context(), session_scope() as s:
        _, token = links.create_link(s, user=s.get(User, therapist.id), created_by=None)
    page = raw.get(f"/sign-in/link/{token}")
    assert page.status_code == 200
    new = "a brand new password"
    used = raw.post_form(f"/sign-in/link/{token}", {"new_password": new, "confirm": new})
    assert used.status_code == 303 and used.headers["Location"] == "/sign-in/second-factor"
    assert raw.get("/dashboard").status_code in (302, 303)


# --- "Confirm it's you" --------------------------------------------------------------------------


def test_exporting_my_data_asks_to_confirm_after_a_few_minutes(app, make_user, db):
    person = make_user("participant")
    with time_machine.travel(NOON, tick=False) as clock:
        client = signed_in(app, person)
        assert client.get("/account/my-data.zip").status_code == 200  # just signed in
        clock.shift(timedelta(minutes=6))
        asked = client.get("/account/my-data.zip")
        assert asked.status_code == 303
        assert asked.headers["Location"] == "/account/confirm?next=/account/my-data.zip"
        page = client.get(asked.headers["Location"])
        assert page.status_code == 200 and "Confirm it&#39;s you" in page.text
        assert "authenticator app" not in page.text  # participants: password (or passkey)
        wrong = client.post_form(
            "/account/confirm?next=/account/my-data.zip", {"password": "not it at all"}
        )
        assert wrong.status_code == 422
        assert [e.actor_id for e in actions(db, "reauthentication_failed")] == [person.id]
        empty = client.post_form("/account/confirm?next=/account/my-data.zip", {})
        assert empty.status_code == 422 and "Enter your password." in empty.text
        ok = client.post_form("/account/confirm?next=//evil.example/", {"password": PASSWORD})
        assert ok.headers["Location"] == "/account"  # never off the site
        assert client.get("/account/my-data.zip").status_code == 200
        assert [e.detail for e in actions(db, "reauthenticated")] == ["password"]
        clock.shift(timedelta(minutes=6))
        htmx = client.get("/account/my-data.zip", headers={"HX-Request": "true"})
        assert htmx.headers["HX-Redirect"].startswith("/account/confirm")
        api = client.get("/account/my-data.zip", headers={"Accept": "application/json"})
        assert api.status_code == 403 and api.get_json()["error"] == "confirm_required"


def test_deactivating_an_account_asks_staff_to_confirm_with_the_app(app, make_user, db):
    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    path = f"/dashboard/participants/{person.id}"
    with time_machine.travel(NOON, tick=False) as clock:
        client = signed_in(app, therapist)
        clock.shift(timedelta(minutes=10))
        asked = client.post_form(
            f"{path}/deactivate", headers={"Referer": f"http://localhost{path}"}
        )
        assert asked.status_code == 303
        assert asked.headers["Location"] == f"/account/confirm?next={path}"
        assert db.get(User, person.id).is_active  # nothing happened yet
        page = client.get(asked.headers["Location"]).text
        assert "Or a code from your authenticator app" in page
        confirmed = client.post_form(
            f"/account/confirm?next={path}", {"code": app_code(NOON + timedelta(minutes=10))}
        )
        assert confirmed.headers["Location"] == path
        assert client.post_form(f"{path}/deactivate").status_code == 303
        assert not db.get(User, person.id).is_active
        assert [e.detail for e in actions(db, "reauthenticated")] == ["code"]


def test_new_recovery_codes_and_a_new_app_need_a_recent_confirmation(app, make_user, db):
    therapist = make_user("therapist")
    with time_machine.travel(NOON, tick=False) as clock:
        client = signed_in(app, therapist)
        account = client.get("/account").text
        assert "Second factor" in account and "Make new recovery codes" in account
        made = client.post_form("/account/recovery-codes")
        assert made.status_code == 200 and len(re.findall(r"<code>", made.text)) == 10
        assert len(db.exec(select(RecoveryCode)).all()) == 10
        page = client.get("/account/second-factor/app")
        assert page.status_code == 200 and "Your current app keeps working" in page.text
        clock.shift(timedelta(minutes=6))
        assert (
            client.post_form("/account/recovery-codes")
            .headers["Location"]
            .startswith("/account/confirm")
        )
        assert (
            client.get("/account/second-factor/app")
            .headers["Location"]
            .startswith("/account/confirm")
        )
    assert [e.actor_id for e in actions(db, "recovery_codes_made")] == [therapist.id]


def test_participants_have_no_second_factor_pages(app, make_user):
    client = signed_in(app, make_user("participant"))
    assert client.get("/account/second-factor/app").status_code == 403
    assert client.post_form("/account/recovery-codes").status_code == 403
    assert "Passkeys" in client.get("/account").text


# --- Passkeys: bad input gets a clear 4xx -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        None,
        "not json",
        {"credential": "x"},
        {"credential": {"rawId": 5}},
        {"credential": {"rawId": "a" * 5000}},
        {"credential": {"id": "x", "rawId": "unknown", "response": {}}},
    ],
)
def test_passkey_sign_in_refuses_odd_input_with_a_message(app, client, body):
    options = client.post("/sign-in/passkey/options", headers=_json_headers(client))
    assert options.status_code == 200
    assert options.get_json()["userVerification"] == "required"
    assert options.get_json()["rpId"] == "localhost"
    kwargs = {"json": body} if not isinstance(body, str) else {"data": body}
    answer = client.post("/sign-in/passkey", headers=_json_headers(client), **kwargs)
    assert answer.status_code == 400 and answer.get_json()["error"]


def test_a_passkey_answer_without_options_first_is_refused(client):
    answer = client.post(
        "/sign-in/passkey", headers=_json_headers(client), json={"credential": {"rawId": "x"}}
    )
    assert answer.status_code == 400
    assert "try again" in answer.get_json()["error"]


def test_adding_a_passkey_needs_a_recent_confirmation_and_refuses_a_bad_answer(app, make_user):
    person = make_user("participant")
    with time_machine.travel(NOON, tick=False) as clock:
        client = signed_in(app, person)
        options = client.post("/account/passkeys/options", headers=_json_headers(client))
        body = options.get_json()
        assert body["authenticatorSelection"]["residentKey"] == "required"
        assert body["user"]["name"] == person.email
        bad = client.post(
            "/account/passkeys", headers=_json_headers(client), json={"credential": {}}
        )
        assert bad.status_code == 400
        long_name = client.post(
            "/account/passkeys", headers=_json_headers(client), json={"name": "x" * 61}
        )
        assert long_name.status_code == 400 and "60 characters" in long_name.get_json()["error"]
        clock.shift(timedelta(minutes=6))
        later = client.post("/account/passkeys/options", headers=_json_headers(client))
        assert later.status_code == 403 and later.get_json()["confirm"].startswith(
            "/account/confirm"
        )


def _json_headers(client) -> dict[str, str]:
    return {"X-CSRFToken": client.csrf_token(), "Accept": "application/json"}


# --- The migration -------------------------------------------------------------------------------


def test_the_second_factor_migration_downgrades_and_upgrades_again(tmp_path):
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect, text

    from iop_pwa import create_app
    from iop_pwa.cli import alembic_config

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite3'}", "TESTING": True})
    with app.app_context():
        command.upgrade(alembic_config(), "head")
        engine = app.extensions["db_engine"]
        tables = set(inspect(engine).get_table_names())
        assert {"totp_factor", "recovery_code", "passkey"} <= tables
        command.downgrade(alembic_config(), "0020_large_program_indexes")
        inspector = inspect(engine)
        assert not {"totp_factor", "recovery_code", "passkey"} & set(inspector.get_table_names())
        assert "confirmed_at" not in {c["name"] for c in inspector.get_columns("loginsession")}
        command.upgrade(alembic_config(), "head")
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
    app.extensions["db_engine"].dispose()


def test_failed_passkey_sign_ins_wait_like_failed_passwords(app, client, db):
    with time_machine.travel(NOON, tick=False):
        for _ in range(5):
            answer = client.post(
                "/sign-in/passkey", headers=_json_headers(client), json={"credential": {}}
            )
            assert answer.status_code == 400
        held = client.post(
            "/sign-in/passkey", headers=_json_headers(client), json={"credential": {}}
        )
        assert held.status_code == 429 and "Too many tries" in held.get_json()["error"]
    failed = actions(db, "sign_in_failed")
    assert len(failed) == 5 and {e.detail for e in failed} == {"passkey"}


def test_a_sign_in_link_can_lead_a_participant_straight_to_adding_a_passkey(app, raw, make_user):
    from iop_pwa.accounts import links
    from iop_pwa.db import session_scope

    person = make_user("participant")
    with app.app_context(), session_scope() as s:
        _, token = links.create_link(s, user=s.get(User, person.id), created_by=None)
    page = raw.get(f"/sign-in/link/{token}")
    assert "Then add a passkey" in page.text
    new = "a brand new password"
    used = raw.post_form(
        f"/sign-in/link/{token}", {"new_password": new, "confirm": new, "add_passkey": "y"}
    )
    assert used.status_code == 303 and used.headers["Location"] == "/account#passkeys-heading"
    # Just signed in: adding a passkey needs no further confirmation.
    options = raw.post("/account/passkeys/options", headers=_json_headers(raw))
    assert options.status_code == 200 and options.get_json()["challenge"]


def test_setting_up_a_passkey_at_first_sign_in_refuses_bad_input_and_needs_the_password_first(
    app, raw, make_user, db
):
    """The passkey choice of the set-up page: only half-way through a sign-in, a bad answer is a
    400 in words that counts as a failure, and nobody is signed in until it succeeds."""
    therapist = make_user("therapist")
    for row in db.exec(select(TotpFactor).where(TotpFactor.user_id == therapist.id)).all():
        db.delete(row)
    db.commit()
    outsider = app.test_client()
    refused = outsider.post("/sign-in/set-up/passkey/options", headers=_json_headers(outsider))
    assert refused.status_code == 401 and refused.get_json()["error"] == "signed_out"

    with time_machine.travel(NOON, tick=False):
        assert password_step(raw, therapist).headers["Location"] == "/sign-in/set-up"
        page = raw.get("/sign-in/set-up")
        assert "Use a passkey instead" in page.text
        options = raw.post("/sign-in/set-up/passkey/options", headers=_json_headers(raw))
        assert options.status_code == 200 and options.get_json()["rp"]["id"] == "localhost"
        for body in [{"credential": {}, "name": "Laptop"}, {"credential": {"id": 5}, "name": ""}]:
            answer = raw.post("/sign-in/set-up/passkey", headers=_json_headers(raw), json=body)
            assert answer.status_code == 400 and answer.get_json()["error"]
        long_name = {"credential": {}, "name": "x" * 500}
        answer = raw.post("/sign-in/set-up/passkey", headers=_json_headers(raw), json=long_name)
        assert answer.status_code == 400 and answer.get_json()["error"]
        assert raw.get("/dashboard").status_code in (302, 303)  # still not signed in
        assert db.exec(select(LoginSession)).all() == []
    failed = actions(db, "second_factor_failed")
    assert [e.detail for e in failed] == ["set-up passkey", "set-up passkey"]
    # Without a passkey set up, the recovery-codes page shows nothing to a stranger either.
    assert outsider.get("/sign-in/recovery-codes").status_code in (302, 303)


def test_the_apps_key_is_stored_sealed_and_a_key_sealed_under_another_secret_opens_nothing(
    app, raw, make_user, db
):
    """A copy of the database alone does not give anyone a staff member's second factor: the
    authenticator app's key is encrypted under a key derived from SECRET_KEY. After SECRET_KEY
    changes, the old row opens nothing."""
    from sqlalchemy import text

    therapist = make_user("therapist")
    with db.get_bind().connect() as conn:
        stored = conn.execute(
            text("SELECT secret FROM totp_factor WHERE user_id = :u"), {"u": therapist.id}
        ).scalar_one()
    assert STAFF_TOTP_SECRET not in stored and len(stored) > 64
    [factor] = db.exec(select(TotpFactor).where(TotpFactor.user_id == therapist.id)).all()
    assert factor.secret == STAFF_TOTP_SECRET  # read back through the app

    app.config["SECRET_KEY"] = "another-secret-key-of-at-least-32-characters"
    with time_machine.travel(NOON, tick=False):
        password_step(raw, therapist)
        answer = raw.post_form("/sign-in/second-factor", {"code": app_code(NOON)})
        assert answer.status_code == 422
        assert raw.get("/dashboard").status_code in (302, 303)
