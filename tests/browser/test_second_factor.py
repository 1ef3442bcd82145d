"""Passkeys and the second factor in real Chromium.

Passkeys are made and used by Chromium's virtual authenticator (DevTools protocol:
`WebAuthn.enable`, `WebAuthn.addVirtualAuthenticator`), a platform authenticator that keeps
discoverable credentials and verifies its user, as a phone's Face ID or fingerprint does. The
site is opened on http://localhost (a passkey's relying party is a domain, never an IP address),
and PUBLIC_URL names it, as in production. Authenticator-app codes are made with pyotp.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from iop_pwa.accounts.models import Passkey, TotpFactor
from iop_pwa.audit import AuditEvent
from tests.browser.helpers import assert_no_axe_violations, greeting, sign_in
from tests.conftest import PASSWORD


@pytest.fixture
def site(app, live_server) -> str:
    """The live server by name (localhost), which is also the passkeys' relying party."""
    base = live_server.replace("127.0.0.1", "localhost")
    app.config["PUBLIC_URL"] = base
    return base


def add_authenticator(page: Page) -> tuple:
    """A virtual platform authenticator (a phone's lock) for this page; returns the CDP session
    and its id."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    made = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, made["authenticatorId"]


def password_step(page: Page, base: str, email: str) -> None:
    """The first step of a sign-in, through the form (what comes next is the test's)."""
    page.goto(base + "/sign-in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_out(page: Page, base: str) -> None:
    """Sign out as a person does on a phone: the button on Account."""
    page.goto(base + "/account")
    page.get_by_role("main").get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()


def test_a_participant_adds_a_passkey_and_signs_in_with_it(page, site, make_user, db):
    person = make_user("participant", name="Sam Lee")
    cdp, authenticator = add_authenticator(page)
    sign_in(page, site, person.email)
    expect(page.get_by_role("heading", level=1)).to_have_text(greeting("Sam"))

    page.goto(site + "/account")
    passkeys = page.get_by_role("region", name="Passkeys")
    expect(passkeys).to_contain_text("No passkeys yet.")
    passkeys.get_by_label("Name of this passkey").fill("My phone")
    passkeys.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status").filter(has_text="Passkey added: My phone")).to_be_visible()
    expect(passkeys).to_contain_text("My phone")
    expect(passkeys).to_contain_text("not used yet")
    assert_no_axe_violations(page)

    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    [credential] = stored["credentials"]
    assert credential["isResidentCredential"] and credential["rpId"] == "localhost"
    [row] = db.exec(select(Passkey)).all()
    assert row.user_id == person.id and row.name == "My phone" and row.last_used_at is None

    # Next time: no password, only the phone's lock.
    sign_out(page, site)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(site + "/today")
    expect(page.get_by_role("heading", level=1)).to_have_text(greeting("Sam"))
    assert db.exec(select(Passkey)).one().last_used_at is not None
    signs = db.exec(select(AuditEvent).where(AuditEvent.action == "sign_in")).all()
    assert [(e.actor_id, e.detail) for e in signs][-1] == (person.id, "passkey")

    # Account lists it with when it was last used; Remove takes it away.
    page.goto(site + "/account")
    expect(passkeys).to_contain_text("last used")
    passkeys.get_by_role("button", name="Remove My phone").click()
    expect(page.get_by_role("status").filter(has_text="Passkey removed: My phone")).to_be_visible()
    expect(passkeys).to_contain_text("No passkeys yet.")
    assert db.exec(select(Passkey)).all() == []
    removed = db.exec(select(AuditEvent).where(AuditEvent.action == "passkey_removed")).all()
    assert [e.actor_id for e in removed] == [person.id]

    # A passkey this site no longer knows is refused with words, not an error page.
    sign_out(page, site)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_text("This passkey is not known here")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_a_therapist_sets_up_the_app_then_signs_in_with_its_code(desktop_page, site, make_user, db):
    page = desktop_page
    therapist = make_user("therapist", name="Dana Reyes")
    for row in db.exec(select(TotpFactor).where(TotpFactor.user_id == therapist.id)).all():
        db.delete(row)
    db.commit()

    password_step(page, site, therapist.email)
    expect(
        page.get_by_role("heading", name="Set up your authenticator app", level=1)
    ).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    assert_no_axe_violations(page)
    key = page.get_by_text(re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{4})+$")).inner_text()
    app_on_phone = pyotp.TOTP(key.replace(" ", ""))

    page.get_by_label("Code from the app").fill("000000")
    page.get_by_role("button", name="Turn on the second factor").click()
    expect(page.get_by_text("That code didn't work")).to_be_visible()
    page.get_by_label("Code from the app").fill(app_on_phone.now())
    page.get_by_role("button", name="Turn on the second factor").click()
    expect(page.get_by_role("heading", name="Your recovery codes", level=1)).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(
        10
    )
    assert_no_axe_violations(page)
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page).to_have_url(site + "/dashboard")

    # Signing in again asks for the code after the password.
    page.context.clear_cookies()
    password_step(page, site, therapist.email)
    expect(page.get_by_role("heading", name="Second factor", level=1)).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_label("Code", exact=True).fill(app_on_phone.at(time.time() + 30))
    page.get_by_role("button", name="Continue", exact=True).click()
    expect(page).to_have_url(site + "/dashboard")

    page.goto(site + "/account/confirm")
    expect(page.get_by_role("heading", name="Confirm it's you", level=1)).to_be_visible()
    expect(page.get_by_label("Or a code from your authenticator app")).to_be_visible()
    assert_no_axe_violations(page)


def test_a_therapist_uses_a_passkey_as_the_second_factor(desktop_page, site, make_user, db):
    page = desktop_page
    therapist = make_user("therapist", name="Dana Reyes")
    add_authenticator(page)
    sign_in(page, site, therapist.email)  # the app's code, typed by the helper
    expect(page).to_have_url(site + "/dashboard")
    page.goto(site + "/account")
    passkeys = page.get_by_role("region", name="Passkeys")
    passkeys.get_by_label("Name of this passkey").fill("Office laptop")
    passkeys.get_by_role("button", name="Add a passkey").click()
    expect(passkeys).to_contain_text("Office laptop")

    page.context.clear_cookies()
    password_step(page, site, therapist.email)
    expect(page.get_by_role("heading", name="Second factor", level=1)).to_be_visible()
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(site + "/dashboard")
    signs = db.exec(select(AuditEvent).where(AuditEvent.action == "sign_in")).all()
    assert signs[-1].detail == "second factor: passkey"


def test_a_therapist_sets_up_a_passkey_instead_of_an_app(desktop_page, site, make_user, db):
    """The first sign-in offers a passkey as the second factor too: no app needed."""
    page = desktop_page
    therapist = make_user("therapist", name="Dana Reyes")
    for row in db.exec(select(TotpFactor).where(TotpFactor.user_id == therapist.id)).all():
        db.delete(row)
    db.commit()
    add_authenticator(page)

    password_step(page, site, therapist.email)
    choice = page.get_by_role("region", name="Or use a passkey")
    expect(choice).to_be_visible()
    assert_no_axe_violations(page)
    choice.get_by_label("Name of this passkey").fill("Office laptop")
    choice.get_by_role("button", name="Use a passkey instead").click()
    expect(page.get_by_role("heading", name="Your recovery codes", level=1)).to_be_visible()
    expect(page.get_by_role("list", name="Recovery codes").get_by_role("listitem")).to_have_count(
        10
    )
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page).to_have_url(site + "/dashboard")
    [passkey] = db.exec(select(Passkey).where(Passkey.user_id == therapist.id)).all()
    assert passkey.name == "Office laptop"
    assert db.exec(select(TotpFactor).where(TotpFactor.user_id == therapist.id)).all() == []
    # The codes were shown once: the page doesn't show them again.
    page.goto(site + "/sign-in/recovery-codes")
    expect(page).to_have_url(site + "/dashboard")

    # Next time the password is followed by the passkey.
    page.context.clear_cookies()
    password_step(page, site, therapist.email)
    expect(page.get_by_role("heading", name="Second factor", level=1)).to_be_visible()
    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(site + "/dashboard")
    set_up = db.exec(select(AuditEvent).where(AuditEvent.action == "second_factor_set_up")).all()
    assert [(e.actor_id, e.detail) for e in set_up] == [(therapist.id, "passkey")]


def test_adding_a_passkey_later_takes_the_current_second_factor_not_the_password(
    desktop_page, site, make_user, db
):
    """Someone holding a staff member's session and password, past the few minutes a sign-in
    counts as confirmation, cannot add their own passkey: "Confirm it's you" asks for the
    current second factor (the app's code), and the person is told of the new passkey."""
    from datetime import timedelta

    from iop_pwa.accounts.models import LoginSession
    from iop_pwa.notifications import Notification
    from tests.conftest import totp_code

    page = desktop_page
    therapist = make_user("therapist", name="Dana Reyes")
    add_authenticator(page)
    sign_in(page, site, therapist.email)
    expect(page).to_have_url(site + "/dashboard")
    # Ten minutes later (the sign-in no longer counts as "Confirm it's you").
    [login] = db.exec(select(LoginSession).where(LoginSession.user_id == therapist.id)).all()
    login.confirmed_at -= timedelta(minutes=10)
    login.factor_confirmed_at -= timedelta(minutes=10)
    db.add(login)
    db.commit()

    page.goto(site + "/account")
    passkeys = page.get_by_role("region", name="Passkeys")
    passkeys.get_by_label("Name of this passkey").fill("Not mine")
    passkeys.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("heading", name="Confirm it's you", level=1)).to_be_visible()
    expect(page.get_by_text("Your password alone is not enough")).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_count(0)
    assert_no_axe_violations(page)
    code = page.get_by_label("A code from your authenticator app, or a recovery code")
    code.fill("000000")
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("That code didn't work")
    assert db.exec(select(Passkey)).all() == []

    code.fill(totp_code(therapist.email))
    page.get_by_role("button", name="Confirm", exact=True).click()
    expect(page).to_have_url(site + "/account")
    passkeys.get_by_label("Name of this passkey").fill("Office laptop")
    passkeys.get_by_role("button", name="Add a passkey").click()
    expect(
        page.get_by_role("status").filter(has_text="Passkey added: Office laptop")
    ).to_be_visible()
    [told] = db.exec(select(Notification).where(Notification.user_id == therapist.id)).all()
    assert told.kind == "sign_in_changed" and "a passkey was added" in told.text
