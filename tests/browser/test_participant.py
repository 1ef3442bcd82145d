"""A participant on a phone: signing in, the Today page and its navigation, signing out."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.helpers import greeting, main_nav, sign_in

NAV_LINKS = ["Today", "Practice", "Journal", "Messages", "Sessions"]


def test_participant_signs_in_on_a_phone_and_sees_today(page, live_server, make_user):
    therapist = make_user("therapist", name="Dana Reyes", group="Evening Group")
    participant = make_user(
        "participant", name="Robin Park", therapist=therapist, group="Evening Group"
    )

    sign_in(page, live_server, participant.email)

    expect(page).to_have_url(live_server + "/today")
    expect(page.get_by_role("heading", level=1)).to_have_text(greeting("Robin"))
    expect(page.get_by_role("heading", name="Your group")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("Evening Group")

    nav = main_nav(page)
    for label in NAV_LINKS:
        link = nav.get_by_role("link", name=label, exact=True)
        expect(link).to_be_visible()
        # A bottom bar is reachable with the thumb without scrolling.
        expect(link).to_be_in_viewport()
    expect(nav.get_by_role("link")).to_have_count(len(NAV_LINKS))
    expect(nav.get_by_role("link", name="Today", exact=True)).to_have_attribute(
        "aria-current", "page"
    )

    banner = page.get_by_role("banner")
    expect(banner.get_by_role("link", name="Get help now")).to_be_visible()
    expect(banner.get_by_role("link", name="Account", exact=True)).to_be_visible()
    expect(banner.get_by_role("button", name="Sign out")).to_be_visible()

    # The smallest phones still in use are 320 CSS px wide: nothing may scroll sideways.
    page.set_viewport_size({"width": 320, "height": 640})
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["inner"] == 320, widths
    assert widths["scroll"] <= widths["inner"], f"horizontal scroll at 320 px: {widths}"

    banner.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)

    # The session really ended on the server: the browser's Back button and typing the address
    # both end on the sign-in page, never on the participant's Today.
    page.go_back()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=greeting("Robin"))).to_have_count(0)

    page.goto(live_server + "/today")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=(/|%2F)today$"))
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name=greeting("Robin"))).to_have_count(0)
    expect(main_nav(page)).to_have_count(0)
