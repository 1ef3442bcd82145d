"""A participant on a phone: signing in, the Today page and its navigation, signing out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import GREETING, assert_no_axe_violations, greeting, main_nav, sign_in

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
    # On a phone, Sign out is at the end of the Account page (the top bar is one row).
    expect(banner.get_by_role("button", name="Sign out")).to_be_hidden()

    # The smallest phones still in use are 320 CSS px wide: nothing may scroll sideways.
    page.set_viewport_size({"width": 320, "height": 640})
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["inner"] == 320, widths
    assert widths["scroll"] <= widths["inner"], f"horizontal scroll at 320 px: {widths}"

    banner.get_by_role("link", name="Account", exact=True).click()
    page.get_by_role("main").get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="You are signed out.")).to_be_visible()
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


def _boxes(page, *locators) -> list[dict]:
    boxes = [locator.bounding_box() for locator in locators]
    assert all(boxes), boxes
    return boxes


@pytest.mark.parametrize("width", [320, 390])
def test_the_phone_header_is_one_row_with_help_the_bell_and_account(
    new_context, live_server, make_user, width
):
    page = new_context(viewport={"width": width, "height": 700}).new_page()
    sign_in(page, live_server, make_user("participant", name="Robin Park").email)
    expect(page.get_by_role("heading", level=1)).to_have_text(greeting("Robin"))

    banner = page.get_by_role("banner")
    brand = banner.get_by_role("link", name="IOP Companion")
    help_link = banner.get_by_role("link", name="Get help now")
    bell = banner.get_by_role("link", name="Notifications")
    account = banner.get_by_role("link", name="Account", exact=True)
    for item in (brand, help_link, bell, account):
        expect(item).to_be_visible()
        expect(item).to_be_in_viewport()
    header = banner.bounding_box()
    assert header["height"] <= 64, f"the header is {header['height']} px tall at {width} px"
    boxes = _boxes(page, brand, help_link, bell, account)
    middles = [box["y"] + box["height"] / 2 for box in boxes]
    assert max(middles) - min(middles) < 2, f"not one row at {width} px: {boxes}"
    lefts = [box["x"] for box in boxes]
    assert lefts == sorted(lefts), boxes
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left["x"] + left["width"] <= right["x"], f"overlap at {width} px: {left} {right}"
    assert boxes[-1]["x"] + boxes[-1]["width"] <= width

    # Sign out is reachable from Account, at the end of the page.
    account.click()
    expect(
        page.get_by_role("main").get_by_role("button", name="Sign out", exact=True)
    ).to_be_visible()


def test_a_laptop_keeps_sign_out_in_the_top_bar(desktop_page, live_server, make_user):
    sign_in(desktop_page, live_server, make_user("participant").email)
    banner = desktop_page.get_by_role("banner")
    expect(banner.get_by_role("link", name="IOP Companion")).to_have_text("IOP Companion")
    expect(banner.get_by_role("button", name="Sign out")).to_be_visible()
    banner.get_by_role("link", name="Account", exact=True).click()
    expect(desktop_page.get_by_role("button", name="Sign out", exact=True)).to_have_count(1)


# Dispatched only once the page's deferred scripts have run (DOMContentLoaded): before that,
# pwa.js is not listening yet and the event would be lost (a race the heading can't rule out).
OFFER_INSTALL = """() => {
    const event = new Event("beforeinstallprompt", {cancelable: true});
    event.prompt = () => { window.prompted = true; };
    event.userChoice = Promise.resolve({outcome: "dismissed"});
    window.dispatchEvent(event);
    return event.defaultPrevented;  // pwa.js heard it (its listener keeps the prompt for later)
}"""


def test_install_is_offered_below_the_content_and_not_now_is_remembered(
    page, live_server, make_user
):
    sign_in(page, live_server, make_user("participant").email)
    expect(page.get_by_role("heading", level=1)).to_have_text(GREETING)
    offer = page.get_by_role("region", name="Install the app")
    expect(offer).to_be_hidden()  # only when the browser can install it

    page.wait_for_load_state("domcontentloaded")
    assert page.evaluate(OFFER_INSTALL), "pwa.js was listening"
    expect(offer).to_be_visible()
    expect(offer.get_by_role("button", name="Install app")).to_be_visible()
    # After everything on the page, crisis help included; never above it.
    hard_moment = page.get_by_role("region", name="Having a hard moment?")
    help_box, offer_box = _boxes(page, hard_moment, offer)
    assert offer_box["y"] >= help_box["y"] + help_box["height"], (help_box, offer_box)
    main_children = page.evaluate(
        "() => [...document.querySelector('main').children].filter(e => !e.hidden).map(e => e.id)"
    )
    assert main_children[-1] == "install-card", main_children
    assert_no_axe_violations(page)

    offer.get_by_role("button", name="Not now").click()
    expect(offer).to_be_hidden()
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(GREETING)
    page.wait_for_load_state("domcontentloaded")
    # The app hears the browser's offer (listeners run within dispatchEvent) and keeps quiet.
    assert page.evaluate(OFFER_INSTALL), "pwa.js was listening"
    expect(offer).to_be_hidden()


def test_an_iphone_gets_the_steps_to_install_below_the_content_until_not_now(
    new_context, live_server, make_user
):
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
    )
    page = new_context(user_agent=iphone).new_page()
    sign_in(page, live_server, make_user("participant").email)
    offer = page.get_by_role("region", name="Install the app")
    expect(offer).to_contain_text("Add to Home Screen")
    expect(offer.get_by_role("button", name="Install app")).to_be_hidden()
    offer.get_by_role("button", name="Not now").click()
    expect(offer).to_be_hidden()
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(GREETING)
    expect(offer).to_be_hidden()
