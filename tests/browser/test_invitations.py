"""A therapist invites someone on a desktop; the person joins from their phone with the link."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.helpers import (
    assert_no_axe_violations,
    greeting,
    main_nav,
    make_invitation_token,
    sign_in,
)
from tests.browser.test_offline import DEVICE_STATE, visit_and_keep, wait_until_controlled


def test_therapist_invites_a_participant_who_joins_from_a_phone(
    desktop_page, new_context, live_server, make_user
):
    therapist = make_user("therapist", name="Dana Reyes", group="Evening Group")
    page = desktop_page

    sign_in(page, live_server, therapist.email)
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    main_nav(page).get_by_role("link", name="Participants", exact=True).click()
    expect(page.get_by_role("heading", name="Participants", level=1)).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("No participants yet")

    page.get_by_role("link", name="Invite a participant").click()
    expect(page.get_by_role("heading", name="Invite a participant", level=1)).to_be_visible()
    page.get_by_label("Participant's name").fill("Jamie Fox")
    page.get_by_label("Group", exact=True).select_option(label="Evening Group")
    page.get_by_role("button", name="Create invitation").click()

    expect(page.get_by_role("heading", name="Invitation for Jamie Fox", level=1)).to_be_visible()
    qr = page.get_by_role("figure").filter(has=page.locator("svg"))
    expect(qr).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("QR code", re.I))).to_be_visible()
    link_box = page.get_by_role("textbox", name="Invitation link")
    expect(link_box).to_be_visible()
    expect(link_box).not_to_be_editable()
    link = link_box.input_value()
    assert re.fullmatch(re.escape(live_server) + r"/join/[A-Za-z0-9_-]{20,}", link), link

    # The invited person opens the link on their own phone, in Chicago.
    phone = new_context(phone=True, timezone_id="America/Chicago").new_page()
    phone.goto(link)
    expect(phone.get_by_role("heading", name="Welcome, Jamie", level=1)).to_be_visible()
    expect(phone.get_by_label("Your name")).to_have_value("Jamie Fox")
    time_zone = phone.get_by_role("combobox", name="Time zone")
    expect(time_zone).to_have_value("America/Chicago")  # pre-filled from the phone
    phone.get_by_label("Email", exact=True).fill("jamie@example.test")
    phone.get_by_label("Choose a password").fill("a calm walk by the river")
    time_zone.select_option("America/Chicago")
    privacy = phone.get_by_label("I have read how my information is kept private")
    expect(privacy).not_to_be_checked()
    privacy.check()
    phone.get_by_role("button", name="Create my account").click()

    expect(phone).to_have_url(live_server + "/today")
    expect(phone.get_by_role("status").filter(has_text="Welcome")).to_contain_text("Welcome, Jamie")
    expect(phone.get_by_role("heading", level=1)).to_have_text(greeting("Jamie"))
    expect(phone.get_by_role("main")).to_contain_text("Evening Group")

    # Their account keeps the time zone they chose.
    phone.get_by_role("banner").get_by_role("link", name="Account", exact=True).click()
    expect(phone.get_by_role("heading", name="Account", level=1)).to_be_visible()
    expect(phone.get_by_role("combobox", name="Time zone")).to_have_value("America/Chicago")

    # Back on the therapist's screen, Jamie is on the caseload, in the group.
    main_nav(page).get_by_role("link", name="Participants", exact=True).click()
    caseload = page.get_by_role("table", name="Your caseload")
    row = caseload.get_by_role("row").filter(has=page.get_by_role("link", name="Jamie Fox"))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Evening Group")
    expect(row).to_contain_text("Active")

    # The link worked once; opened again (on another device), it says so plainly.
    stranger = new_context(phone=True).new_page()
    response = stranger.goto(link)
    assert response is not None and response.status == 404
    expect(
        stranger.get_by_role("heading", name="This invitation link doesn't work any more")
    ).to_be_visible()
    expect(stranger.get_by_label("Choose a password")).to_have_count(0)
    expect(stranger.get_by_role("link", name="sign in")).to_be_visible()


def test_a_link_opened_on_a_phone_someone_is_signed_in_on_asks_first(
    page, live_server, make_user, app
):
    therapist = make_user("therapist")
    make_user("participant", name="Robin Park", email="robin@example.test", therapist=therapist)
    token = make_invitation_token(app, therapist, "Casey Morgan")
    sign_in(page, live_server, "robin@example.test")
    expect(page).to_have_url(live_server + "/today")
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/today", "/journal")

    page.goto(f"{live_server}/join/{token}")
    main = page.get_by_role("main")
    expect(main).to_contain_text(
        "You are signed in as Robin. This invitation is for a new account."
    )
    expect(page.get_by_label("Choose a password")).to_have_count(0)
    assert_no_axe_violations(page)
    main.get_by_role("link", name="Back to my home page").click()
    expect(page).to_have_url(live_server + "/today")  # still signed in: nothing was ended

    page.goto(f"{live_server}/join/{token}")
    page.get_by_role("button", name="Sign out and continue").click()
    expect(page.get_by_role("heading", name="Welcome, Casey", level=1)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="You are signed out.")).to_be_visible()
    # As with Sign out, nothing of Robin's stays on the phone for the new person.
    assert page.evaluate(DEVICE_STATE) == {"pages": {}, "items": [], "history": None}
