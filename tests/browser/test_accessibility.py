"""axe-core (WCAG 2.x A/AA and best practices, as axe runs them by default) on the app's pages.

Each test opens a page the way its user reaches it and asserts that axe finds nothing; a failure
lists each rule id with the offending elements.
"""

from __future__ import annotations

import time

from playwright.sync_api import expect

from iop_pwa.db import session_scope
from iop_pwa.demo import DEMO_PASSWORD, THERAPIST_EMAIL, load_demo
from tests.browser.helpers import (
    assert_no_axe_violations,
    assert_page_sets_its_background,
    create_invitation_in_dashboard,
    greeting,
    make_invitation_token,
    sign_in,
)


def _load_demo(app) -> None:
    with app.app_context(), session_scope() as db:
        load_demo(db)


def test_axe_sign_in_page(page, live_server):
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    assert_no_axe_violations(page)


def test_axe_sign_in_page_with_an_error(page, live_server):
    page.goto(live_server + "/sign-in")
    page.get_by_label("Email", exact=True).fill("nobody@example.test")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("don't match an account")
    expect(page.get_by_role("alert")).to_be_focused()  # read out at once, not the page's top
    assert_no_axe_violations(page)


def test_axe_today_on_a_phone(page, live_server, make_user):
    therapist = make_user("therapist", group="Evening Group")
    participant = make_user(
        "participant", name="Robin Park", therapist=therapist, group="Evening Group"
    )
    sign_in(page, live_server, participant.email)
    expect(page.get_by_role("heading", level=1)).to_have_text(greeting("Robin"))
    assert_no_axe_violations(page)


def test_axe_invitation_acceptance_page(page, live_server, app, make_user):
    token = make_invitation_token(app, make_user("therapist"), "Jamie Fox")
    page.goto(f"{live_server}/join/{token}")
    expect(page.get_by_role("heading", name="Welcome, Jamie", level=1)).to_be_visible()
    assert_no_axe_violations(page)


def test_axe_invitation_acceptance_page_with_errors(page, live_server, app, make_user):
    token = make_invitation_token(app, make_user("therapist"), "Jamie Fox")
    page.goto(f"{live_server}/join/{token}")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_text("Please read the privacy notice and tick the box.")).to_be_visible()
    expect(page.get_by_label("Email", exact=True)).to_have_attribute("aria-invalid", "true")
    first_invalid = page.locator('main [aria-invalid="true"]').first
    expect(first_invalid).to_be_focused()  # the first field with an error, its error read with it
    assert_no_axe_violations(page)


def test_axe_therapist_dashboard(desktop_page, live_server, app):
    _load_demo(app)
    sign_in(desktop_page, live_server, THERAPIST_EMAIL, DEMO_PASSWORD)
    expect(desktop_page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(desktop_page.get_by_role("heading", name="Your caseload, by need")).to_be_visible()
    assert_no_axe_violations(desktop_page)


def test_axe_invitation_page_with_qr_code(desktop_page, live_server, make_user):
    therapist = make_user("therapist", group="Evening Group")
    sign_in(desktop_page, live_server, therapist.email)
    create_invitation_in_dashboard(desktop_page, name="Jamie Fox", group="Evening Group")
    expect(desktop_page.get_by_role("figure")).to_be_visible()
    assert_no_axe_violations(desktop_page)


def test_axe_account_page(page, live_server, make_user):
    participant = make_user("participant", name="Robin Park", group="Evening Group")
    sign_in(page, live_server, participant.email)
    page.get_by_role("banner").get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Signed-in devices")).to_be_visible()
    assert_no_axe_violations(page)


def test_axe_help_page(page, live_server):
    page.goto(live_server + "/")
    page.get_by_role("banner").get_by_role("link", name="Get help now").click()
    expect(page.get_by_role("heading", name="Get help now", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Call 988")).to_have_attribute("href", "tel:988")
    assert_no_axe_violations(page)


def test_dark_mode_has_enough_contrast_on_today(new_context, live_server, app):
    _load_demo(app)
    phone = new_context(phone=True, color_scheme="dark").new_page()
    sign_in(phone, live_server, "sam@demo.test", DEMO_PASSWORD)
    expect(phone.get_by_role("heading", level=1)).to_have_text(greeting("Sam"))
    assert phone.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert_page_sets_its_background(phone)
    assert_no_axe_violations(phone, rules=["color-contrast"])


def test_dark_mode_is_checked_once_the_stylesheet_has_arrived(new_context, live_server, app):
    """A slow stylesheet (a busy machine) must not make the contrast check measure an unstyled
    page: the helpers wait for it."""
    _load_demo(app)
    serve = app.wsgi_app

    def slow_stylesheet(environ, start_response):
        if environ.get("PATH_INFO", "").endswith("/app.css"):
            time.sleep(1.5)
        return serve(environ, start_response)

    app.wsgi_app = slow_stylesheet
    phone = new_context(phone=True, color_scheme="dark", service_workers="block").new_page()
    sign_in(phone, live_server, "sam@demo.test", DEMO_PASSWORD)
    expect(phone.get_by_role("heading", level=1)).to_have_text(greeting("Sam"))
    assert_page_sets_its_background(phone)
    assert_no_axe_violations(phone, rules=["color-contrast"])


def test_dark_mode_has_enough_contrast_on_the_dashboard(new_context, live_server, app):
    _load_demo(app)
    desktop = new_context(phone=False, color_scheme="dark").new_page()
    sign_in(desktop, live_server, THERAPIST_EMAIL, DEMO_PASSWORD)
    expect(desktop.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    assert desktop.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert_page_sets_its_background(desktop)
    assert_no_axe_violations(desktop, rules=["color-contrast"])


def test_axe_choose_a_new_password_page_with_an_error(page, live_server, make_user, db):
    from iop_pwa.accounts.models import User

    therapist = make_user("therapist")
    db.get(User, therapist.id).must_change_password = True  # as when an admin made the account
    db.commit()
    sign_in(page, live_server, therapist.email)
    expect(page.get_by_role("heading", name="Choose a new password", level=1)).to_be_visible()
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Repeat new password").fill("short")
    page.get_by_role("button", name="Save my new password").click()
    expect(page.get_by_text("Use at least 8 characters")).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_label("New password", exact=True).fill("a password of my own")
    page.get_by_label("Repeat new password").fill("a password of my own")
    page.get_by_role("button", name="Save my new password").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(
        page.get_by_role("status").filter(has_text="Your new password is saved.")
    ).to_be_visible()
