"""The help page in real Chromium: an admin sets the program's contact; on a phone, with no one
signed in, it shows beside the crisis lines as a number to tap."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import assert_no_axe_violations, main_nav, sign_in


def test_admin_sets_the_program_contact_and_a_phone_can_call_it(
    live_server, make_user, desktop_page, page
):
    admin = make_user("admin", email="admin@example.test")
    desk = desktop_page
    sign_in(desk, live_server, admin.email)
    main_nav(desk).get_by_role("link", name="Program").click()
    expect(desk.get_by_role("heading", name="Program contact", level=1)).to_be_visible()
    desk.get_by_label("Program name").fill("Riverside Evening IOP")
    desk.get_by_label("Phone").fill("phone us")
    desk.get_by_role("button", name="Save").click()
    expect(desk.get_by_label("Phone")).to_have_accessible_description(
        "Enter a phone number with digits, spaces, brackets or dashes, like (555) 010-0199."
    )
    desk.get_by_label("Phone").fill("(555) 010-0199")
    desk.get_by_label("Hours (optional)").fill("Monday to Friday, 9 am to 5 pm Eastern")
    desk.get_by_role("button", name="Save").click()
    expect(
        desk.get_by_role("status").filter(has_text="The help page shows it to everyone")
    ).to_be_visible()
    expect(desk.get_by_label("Phone")).to_have_value("(555) 010-0199")
    assert_no_axe_violations(desk)

    page.goto(live_server + "/")
    page.get_by_role("link", name="Get help now").click()
    expect(page.get_by_role("heading", name="Get help now", level=1)).to_be_visible()
    program = page.get_by_role("region", name="Your program")
    expect(program).to_contain_text("Riverside Evening IOP")
    expect(program).to_contain_text("Monday to Friday, 9 am to 5 pm Eastern")
    call = program.get_by_role("link", name="Call (555) 010-0199")
    expect(call).to_have_attribute("href", "tel:5550100199")
    expect(page.get_by_role("main")).to_contain_text("are not a crisis line")
    expect(page.get_by_role("link", name="Call 988")).to_be_visible()
    assert_no_axe_violations(page)
