"""Signing in and out, server-side sessions, timeouts, passwords and the Account page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlmodel import select

from iop_pwa.accounts.models import LoginSession, ParticipantStatus, User
from iop_pwa.audit import AuditEvent
from tests.conftest import PASSWORD
from tests.helpers import set_up_second_factor

MONDAY_9AM = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 in New York


def audit_actions(db) -> list[str]:
    return [e.action for e in db.exec(select(AuditEvent).order_by(AuditEvent.id))]


def test_sign_in_page_has_labelled_fields_and_button(client):
    page = client.get("/sign-in").get_data(as_text=True)
    assert '<label for="email">Email</label>' in page
    assert '<label for="password">Password</label>' in page
    assert ">Sign in</button>" in page


def test_participant_signs_in_and_lands_on_today(client, make_user, sign_in, db):
    participant = make_user("participant", name="Sam Rivera")
    response = sign_in(participant)
    assert response.headers["Location"] == "/today"
    today = client.get("/today")
    assert today.status_code == 200
    assert "Sam" in today.get_data(as_text=True)
    assert "sign_in" in audit_actions(db)


def test_therapist_lands_on_dashboard_and_admin_on_therapists(client, make_user, sign_in):
    assert sign_in(make_user("therapist")).headers["Location"] == "/dashboard"
    client.post_form("/sign-out")
    assert sign_in(make_user("admin")).headers["Location"] == "/admin/therapists"


def test_wrong_password_gets_a_generic_error_and_is_audited(client, make_user, db):
    user = make_user("participant")
    wrong = client.post_form("/sign-in", {"email": user.email, "password": "not the password"})
    unknown = client.post_form("/sign-in", {"email": "nobody@example.test", "password": "x" * 9})
    for response in (wrong, unknown):
        assert response.status_code == 422
        assert "match an account" in response.get_data(as_text=True)
    assert wrong.get_data(as_text=True).count("don") == unknown.get_data(as_text=True).count("don")
    assert audit_actions(db).count("sign_in_failed") == 2
    # No password ever reaches the audit log.
    assert not any("not the password" in (e.detail or "") for e in db.exec(select(AuditEvent)))


def test_email_is_case_insensitive(client, make_user):
    user = make_user("participant", email="Mixed.Case@Example.test")
    response = client.post_form(
        "/sign-in", {"email": "  MIXED.case@example.TEST ", "password": PASSWORD}
    )
    assert response.status_code == 303
    assert user.email == "mixed.case@example.test"


def test_deactivated_participant_cannot_sign_in(client, make_user, db):
    user = make_user("participant")
    db.get(User, user.id).status = ParticipantStatus.deactivated
    db.commit()
    response = client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 422


def test_pages_need_sign_in_and_remember_where_you_were_going(client):
    response = client.get("/today")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/sign-in?next=/today")


def test_next_parameter_follows_local_paths_only(client, make_user):
    user = make_user("participant")
    local = client.post_form("/sign-in?next=/journal", {"email": user.email, "password": PASSWORD})
    assert local.headers["Location"] == "/journal"
    for evil in [
        "https://evil.example/x",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
    ]:
        client.post_form("/sign-out")
        response = client.post_form(
            f"/sign-in?next={evil}", {"email": user.email, "password": PASSWORD}
        )
        assert response.headers["Location"] == "/today", evil


def test_sign_out_really_ends_the_session_on_the_server(app, client, make_user, sign_in, db):
    user = make_user("participant")
    sign_in(user)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert db.exec(select(LoginSession).where(LoginSession.user_id == user.id)).all()

    client.post_form("/sign-out")
    assert db.exec(select(LoginSession).where(LoginSession.user_id == user.id)).all() == []

    # Replaying the old cookie (as a thief who copied it would) no longer signs anyone in.
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    assert thief.get("/today").status_code == 303


def test_sign_out_requires_post_with_csrf(client, make_user, sign_in):
    sign_in(make_user("participant"))
    assert client.get("/sign-out").status_code == 405
    assert client.post("/sign-out").status_code == 400
    assert client.get("/today").status_code == 200


def test_sign_out_other_devices(app, make_user, db):
    user = make_user("participant")
    phone, laptop = app.test_client(), app.test_client()
    for device in (phone, laptop):
        assert (
            device.post_form("/sign-in", {"email": user.email, "password": PASSWORD}).status_code
            == 303
        )
    account = phone.get("/account").get_data(as_text=True)
    assert "This device" in account
    assert account.count("last used") == 2

    response = phone.post_form("/account/sign-out-others")
    assert response.status_code == 303
    assert phone.get("/today").status_code == 200
    assert laptop.get("/today").status_code == 303
    assert len(db.exec(select(LoginSession).where(LoginSession.user_id == user.id)).all()) == 1


def test_changing_the_password_ends_other_sessions(app, make_user):
    user = make_user("participant")
    phone, laptop = app.test_client(), app.test_client()
    for device in (phone, laptop):
        device.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    wrong = phone.post_form(
        "/account/password",
        {
            "current_password": "wrong one!",
            "new_password": "a new long password",
            "confirm": "a new long password",
        },
    )
    assert wrong.status_code == 422
    assert "not your current password" in wrong.get_data(as_text=True)
    short = phone.post_form(
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short", "confirm": "short"},
    )
    assert short.status_code == 422
    assert "at least 8 characters" in short.get_data(as_text=True)

    ok = phone.post_form(
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "a new long password",
            "confirm": "a new long password",
        },
    )
    assert ok.status_code == 303
    assert phone.get("/today").status_code == 200
    assert laptop.get("/today").status_code == 303
    fresh = app.test_client()
    assert (
        fresh.post_form("/sign-in", {"email": user.email, "password": PASSWORD}).status_code == 422
    )
    assert (
        fresh.post_form(
            "/sign-in", {"email": user.email, "password": "a new long password"}
        ).status_code
        == 303
    )


def test_time_zone_can_be_changed_and_is_validated(client, make_user, sign_in, db):
    user = make_user("participant")
    sign_in(user)
    bad = client.post_form("/account/timezone", {"timezone": "Mars/Olympus_Mons"})
    assert bad.status_code == 422
    good = client.post_form("/account/timezone", {"timezone": "Europe/Berlin"})
    assert good.status_code == 303
    assert db.get(User, user.id).timezone == "Europe/Berlin"
    # Any real zone is accepted; an old name is stored as the one it stands for, a place that
    # shares another's clock keeps its own name.
    for sent, stored in (
        ("US/Eastern", "America/New_York"),
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("Europe/Oslo", "Europe/Oslo"),
        ("America/Argentina/Cordoba", "America/Argentina/Cordoba"),
    ):
        assert client.post_form("/account/timezone", {"timezone": sent}).status_code == 303
        assert db.get(User, user.id).timezone == stored


def test_a_time_zone_outside_the_lists_stays_chosen_on_the_account_page(
    client, make_user, sign_in, db
):
    """Someone made with an old zone name (`flask users create`) sees it, not the list's first
    zone, so saving the form does not move them without their knowing."""
    user = make_user("participant", timezone="Asia/Calcutta")
    sign_in(user)
    page = client.get("/account").get_data(as_text=True)
    assert (
        '<optgroup label="Your time zone"><option selected value="Asia/Calcutta">'
        "Asia / Calcutta</option></optgroup>" in page
    )
    zones = page.split('id="timezone"')[1].split("</select>")[0]
    assert zones.count("selected") == 1


def test_staff_session_expires_after_30_idle_minutes(client, make_user, sign_in):
    with time_machine.travel(MONDAY_9AM, tick=False) as clock:
        sign_in(make_user("therapist"))
        clock.shift(timedelta(minutes=29))
        assert client.get("/dashboard").status_code == 200  # use slides the idle window
        clock.shift(timedelta(minutes=29))
        assert client.get("/dashboard").status_code == 200
        clock.shift(timedelta(minutes=31))
        assert client.get("/dashboard").status_code == 303


def test_staff_session_ends_after_12_hours_even_when_used(client, make_user, sign_in):
    with time_machine.travel(MONDAY_9AM, tick=False) as clock:
        sign_in(make_user("therapist"))
        for _ in range(25):
            clock.shift(timedelta(minutes=29))
            client.get("/dashboard")
        assert client.get("/dashboard").status_code == 303


def test_participant_session_slides_for_30_days(client, make_user, sign_in):
    with time_machine.travel(MONDAY_9AM, tick=False) as clock:
        sign_in(make_user("participant"))
        clock.shift(timedelta(days=29))
        assert client.get("/today").status_code == 200
        clock.shift(timedelta(days=29))
        assert client.get("/today").status_code == 200
        clock.shift(timedelta(days=31))
        assert client.get("/today").status_code == 303


def test_expired_session_on_htmx_request_redirects_with_hx_redirect(client, make_user, sign_in):
    with time_machine.travel(MONDAY_9AM, tick=False) as clock:
        sign_in(make_user("therapist"))
        clock.shift(timedelta(hours=1))
        response = client.get("/dashboard", headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert response.headers["HX-Redirect"].startswith("/sign-in?next=/dashboard")


def test_expired_session_on_json_request_answers_401_json(client):
    response = client.get("/today", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "signed_out"


def test_roles_are_enforced(client, make_user, sign_in):
    sign_in(make_user("participant"))
    assert client.get("/dashboard").status_code == 403
    assert client.get("/admin/therapists").status_code == 403
    client.post_form("/sign-out")
    sign_in(make_user("therapist"))
    assert client.get("/today").status_code == 403
    assert client.get("/admin/therapists").status_code == 403


def test_admin_creates_a_therapist_in_the_web_app(client, make_user, sign_in, db):
    sign_in(make_user("admin"))
    bad = client.post_form(
        "/admin/therapists",
        {
            "name": "Dr. X",
            "email": "not-an-email",
            "password": "long enough pw",
            "timezone": "America/New_York",
        },
    )
    assert bad.status_code == 422
    assert "valid email" in bad.get_data(as_text=True)
    ok = client.post_form(
        "/admin/therapists",
        {
            "name": "Dr. Ada Park",
            "email": "ada@clinic.test",
            "password": "long enough pw",
            "timezone": "America/Chicago",
        },
    )
    assert ok.status_code == 303
    therapist = db.exec(select(User).where(User.email == "ada@clinic.test")).one()
    assert therapist.role == "therapist"
    assert "Dr. Ada Park" in client.get("/admin/therapists").get_data(as_text=True)
    again = client.post_form(
        "/admin/therapists",
        {
            "name": "Dup",
            "email": "ADA@clinic.test",
            "password": "long enough pw",
            "timezone": "America/Chicago",
        },
    )
    assert again.status_code == 422
    assert "already exists" in again.get_data(as_text=True)


def test_crisis_help_is_public_and_linked_from_every_page(client, make_user, sign_in):
    help_page = client.get("/help").get_data(as_text=True)
    assert "988" in help_page and "911" in help_page and "1-800-662-4357" in help_page
    assert 'href="/help">Get help now</a>' in client.get("/sign-in").get_data(as_text=True)
    sign_in(make_user("participant"))
    for path in ["/today", "/journal", "/account"]:
        page = client.get(path).get_data(as_text=True)
        assert 'href="/help">Get help now</a>' in page, path
        assert ">Sign out</button>" in page and ">Account</a>" in page


def test_passwords_are_stored_as_argon2id_hashes(db, make_user):
    user = make_user("participant")
    stored = db.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


NEW = {"new_password": "my very own password", "confirm": "my very own password"}


def test_a_therapist_an_admin_created_must_choose_a_new_password_first(app, make_user, db):
    admin = app.test_client()
    admin.post_form("/sign-in", {"email": make_user("admin").email, "password": PASSWORD})
    made = admin.post_form(
        "/admin/therapists",
        {
            "name": "Dr. Ada Park",
            "email": "ada@clinic.test",
            "password": "the admin's temporary",
            "timezone": "America/Chicago",
        },
    )
    assert made.status_code == 303
    assert db.exec(select(User).where(User.email == "ada@clinic.test")).one().must_change_password

    laptop, phone = app.test_client(), app.test_client()
    signed_in = laptop.post_form(
        "/sign-in?next=/dashboard/participants",
        {"email": "ada@clinic.test", "password": "the admin's temporary"},
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"] == "/sign-in/set-up"  # staff: a second factor first
    then = set_up_second_factor(laptop, "ada@clinic.test")
    assert then.startswith("/account/choose-password")
    phone.post_form("/sign-in", {"email": "ada@clinic.test", "password": "the admin's temporary"})

    # Every other page sends her there, in the way each kind of request understands.
    for path in ["/dashboard", "/account", "/dashboard/participants"]:
        response = laptop.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == "/account/choose-password"
    htmx = laptop.get("/dashboard", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/account/choose-password"
    api = laptop.get("/api/session")
    assert api.status_code == 403 and api.get_json()["error"] == "password_change_required"
    assert laptop.get("/help").status_code == 200  # crisis help is never in the way
    page = laptop.get("/account/choose-password").get_data(as_text=True)
    assert "<h1>Choose a new password</h1>" in page and "Current password" not in page

    differ = laptop.post_form(
        "/account/choose-password", {"new_password": "one long password", "confirm": "another"}
    )
    assert differ.status_code == 422 and "The two passwords differ." in differ.text
    short = laptop.post_form(
        "/account/choose-password", {"new_password": "short", "confirm": "short"}
    )
    assert short.status_code == 422 and "at least 8 characters" in short.text
    same = laptop.post_form(
        "/account/choose-password",
        {"new_password": "the admin's temporary", "confirm": "the admin's temporary"},
    )
    assert same.status_code == 422 and "different from the one you were given" in same.text

    chosen = laptop.post_form("/account/choose-password?next=/dashboard/participants", NEW)
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/dashboard/participants"
    ada = db.exec(select(User).where(User.email == "ada@clinic.test")).one()
    assert not ada.must_change_password
    assert laptop.get("/dashboard").status_code == 200
    assert phone.get("/dashboard").status_code == 303  # her other session ended
    assert len(db.exec(select(LoginSession).where(LoginSession.user_id == ada.id)).all()) == 1
    assert "password_changed" in audit_actions(db)
    again = app.test_client().post_form(
        "/sign-in", {"email": "ada@clinic.test", "password": NEW["new_password"]}
    )
    assert again.headers["Location"] == "/dashboard"


def test_someone_who_chose_their_own_password_is_never_asked(client, make_user, sign_in):
    sign_in(make_user("participant"))
    assert client.get("/today").status_code == 200
    response = client.get("/account/choose-password")
    assert response.status_code == 303 and response.headers["Location"] == "/account"


def test_time_zones_are_named_as_the_picker_names_them_never_by_their_raw_id(app, make_user):
    """Sessions, Reminders, the therapist's pages: "Los Angeles (Pacific)", not
    "America/Los_Angeles" (nor "America/Los Angeles")."""
    from tests.helpers import signed_in

    therapist = make_user("therapist", timezone="America/Chicago")
    person = make_user("participant", therapist=therapist, timezone="America/Los_Angeles")
    phone = signed_in(app, person)
    desk = signed_in(app, therapist)
    pages = {
        "Sessions": phone.get("/sessions"),
        "Account (Reminders)": phone.get("/account"),
        "participant page": desk.get(f"/dashboard/participants/{person.id}"),
        "sessions list": desk.get("/dashboard/sessions"),
        "week": desk.get("/dashboard/sessions?view=week"),
        "new session": desk.get("/dashboard/sessions/new"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        text = response.get_data(as_text=True)
        shown = text.split('id="main"')[1]  # the page, not the zone picker's option values
        assert "America/" not in shown.replace('value="America/', ""), name
    assert "Times are in your time zone (Los Angeles (Pacific))" in pages["Sessions"].text
    assert "Your time zone: Los Angeles (Pacific)." in pages["Account (Reminders)"].text
    assert "(Los Angeles (Pacific))" in pages["participant page"].text
    assert "Times in your time zone (Chicago (Central))" in pages["week"].text
    assert "In your time zone (Chicago (Central))" in pages["new session"].text
