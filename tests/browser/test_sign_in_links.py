"""A participant forgot their password: the therapist gives a sign-in link from their page, the
participant opens it on a phone, chooses a new password and is back on Today; the phone they
were signed in on before is signed out."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.helpers import assert_no_axe_violations, greeting, main_nav, sign_in

NEW_PASSWORD = "a quiet walk by the lake"


def test_a_sign_in_link_brings_a_participant_back_and_ends_the_older_session(
    desktop_page, new_context, live_server, make_user
):
    therapist = make_user("therapist", name="Dana Reyes")
    make_user("participant", name="Sam Lee", email="sam@example.test", therapist=therapist)

    # Sam is still signed in on an older phone.
    old_phone = new_context(phone=True).new_page()
    sign_in(old_phone, live_server, "sam@example.test")
    expect(old_phone).to_have_url(live_server + "/today")

    page = desktop_page
    sign_in(page, live_server, therapist.email)
    main_nav(page).get_by_role("link", name="Participants", exact=True).click()
    page.get_by_role("link", name="Sam Lee").click()
    expect(page.get_by_role("heading", name="Sam Lee", level=1)).to_be_visible()
    page.get_by_role("button", name="Send a sign-in link").click()

    expect(page.get_by_role("heading", name="Sign-in link for Sam Lee", level=1)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("QR code of the sign-in link"))).to_be_visible()
    link_box = page.get_by_role("textbox", name="Sign-in link")
    expect(link_box).not_to_be_editable()
    link = link_box.input_value()
    assert re.fullmatch(re.escape(live_server) + r"/sign-in/link/[A-Za-z0-9_-]{20,}", link), link
    # Like every link meant to be shared, it has a Copy button.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page.get_by_role("button", name="Copy sign-in link").click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert_no_axe_violations(page)

    # Sam opens it on the phone they have now.
    phone = new_context(phone=True).new_page()
    phone.goto(link)
    expect(phone.get_by_role("heading", name="Choose a new password", level=1)).to_be_visible()
    expect(phone.get_by_role("main")).to_contain_text("Hello, Sam.")
    assert_no_axe_violations(phone)
    phone.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    phone.get_by_label("Repeat new password").fill(NEW_PASSWORD)
    phone.get_by_role("button", name="Save and sign in").click()

    expect(phone).to_have_url(live_server + "/today")
    expect(phone.get_by_role("heading", level=1)).to_have_text(greeting("Sam"))
    expect(phone.get_by_role("status").filter(has_text="new password is saved")).to_be_visible()

    # The older phone's session is over: the next page it asks for is the sign-in page.
    old_phone.reload()
    expect(old_phone.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(old_phone).to_have_url(re.compile(r"/sign-in"))

    # The link worked once.
    again = new_context(phone=True).new_page()
    response = again.goto(link)
    assert response is not None and response.status == 404
    expect(
        again.get_by_role("heading", name="This sign-in link doesn't work any more")
    ).to_be_visible()
