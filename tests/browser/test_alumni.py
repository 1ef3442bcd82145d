"""A therapist discharges a participant to alumni from their page (with a date and a step that
says what will happen), then re-admits them; an admin's new pages (crisis resources, the audit
log, groups) are axe-clean and fit a 320 px phone."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from iop_pwa.accounts.models import Group, GroupKind
from iop_pwa.db import session_scope
from tests.browser.helpers import assert_no_axe_violations, main_nav, sign_in


def _no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"], f"{page.url} scrolls sideways: {widths}"


def test_a_therapist_discharges_a_participant_to_alumni_and_re_admits_them(
    desktop_page, live_server, make_user, app
):
    therapist = make_user("therapist", name="Dana Reyes", group="Evening")
    make_user("participant", name="Sam Lee", therapist=therapist, group="Evening")
    with app.app_context(), session_scope() as db:
        db.add(Group(name="Alumni Circle", kind=GroupKind.alumni))
    today = datetime.now(ZoneInfo("America/New_York")).date()

    page = desktop_page
    sign_in(page, live_server, therapist.email)
    main_nav(page).get_by_role("link", name="Participants", exact=True).click()
    page.get_by_role("link", name="Sam Lee").click()
    expect(page.get_by_role("heading", name="Sam Lee", level=1)).to_be_visible()
    page.get_by_role("link", name="Discharge to alumni").click()

    # The confirmation step: what will happen, and the date (today by default).
    expect(page.get_by_role("heading", name="Discharge Sam Lee to alumni", level=1)).to_be_visible()
    happens = page.get_by_role("region", name="What happens")
    expect(happens).to_contain_text("They leave Evening")
    expect(happens).to_contain_text("They join Alumni Circle.")
    expect(happens).to_contain_text("They keep their journal")
    day = page.get_by_label("Discharge date")
    expect(day).to_have_value(today.isoformat())
    assert_no_axe_violations(page)

    # A day in the future is refused, in words, next to the field.
    day.fill((today + timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Discharge to alumni").click()
    expect(day).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text(re.compile("can't be in the future"))).to_be_visible()
    assert_no_axe_violations(page)

    day.fill(today.isoformat())
    page.get_by_role("button", name="Discharge to alumni").click()
    expect(page.get_by_role("heading", name="Sam Lee", level=1)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Sam Lee is now alumni")).to_be_visible()
    place = page.get_by_role("region", name="Place in the program")
    expect(place).to_contain_text("Alumni since")
    expect(page.get_by_role("link", name="Discharge to alumni")).to_have_count(0)
    assert_no_axe_violations(page)

    # Re-admit, into a group the therapist chooses.
    place.get_by_role("link", name="Re-admit to the program").click()
    expect(page.get_by_role("heading", name="Re-admit Sam Lee to the program")).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_label("Group they join").select_option(label="Evening")
    page.get_by_role("button", name="Re-admit to the program").click()
    expect(
        page.get_by_role("status").filter(has_text="Sam Lee is back in the program, in Evening")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Discharge to alumni")).to_be_visible()


def test_the_admin_pages_are_axe_clean_and_fit_a_small_phone(new_context, live_server, make_user):
    admin = make_user("admin", name="Ada Admin")
    make_user("therapist", name="Theo Rapist", group="Evening")
    for round_, width in enumerate((1280, 320)):
        context = new_context(phone=width < 400, viewport={"width": width, "height": 800})
        page = context.new_page()
        sign_in(page, live_server, admin.email)
        main_nav(page).get_by_role("link", name="Crisis resources").click()
        expect(page.get_by_role("heading", name="Crisis resources", level=1)).to_be_visible()
        lines = page.get_by_role("region", name="The lines, in order").get_by_role("listitem")
        expect(lines).to_have_count(3)
        page.get_by_label("Name", exact=True).fill("Riverside warm line")
        page.get_by_label("What it is and when to use it").fill("Evenings and weekends.")
        page.get_by_label("Number to call (optional)").fill("(555) 010-0123")
        page.get_by_role("button", name="Add line").click()
        expect(page.get_by_role("status").filter(has_text="Added")).to_be_visible()
        page.get_by_role("button", name="Move Riverside warm line up").click()
        expect(lines.nth(2)).to_contain_text("Riverside warm line")
        assert_no_axe_violations(page)
        _no_sideways_scroll(page)
        page.get_by_role("link", name="Edit Riverside warm line").click()
        expect(page.get_by_role("heading", name="Edit Riverside warm line")).to_be_visible()
        page.get_by_label("Number to call (optional)").fill("")
        page.get_by_role("button", name="Save line").click()  # no way to reach it: refused
        expect(
            page.get_by_text("Give a phone number, a number to text or a web address.")
        ).to_be_visible()
        assert_no_axe_violations(page)
        _no_sideways_scroll(page)
        page.get_by_label("Number to call (optional)").fill("(555) 010-0123")
        page.get_by_role("button", name="Save line").click()
        expect(
            page.get_by_role("status").filter(has_text="Saved Riverside warm line")
        ).to_be_visible()

        main_nav(page).get_by_role("link", name="Therapists").click()
        page.get_by_role("link", name="Edit Theo Rapist").click()
        expect(page.get_by_role("heading", name="Edit Theo Rapist", level=1)).to_be_visible()
        assert_no_axe_violations(page)
        _no_sideways_scroll(page)

        main_nav(page).get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
        page.get_by_label("What", exact=True).select_option(label="Crisis resource added")
        page.get_by_role("button", name="Show").click()
        table = page.get_by_role("region", name="Audit events")
        expect(table.get_by_role("row")).to_have_count(2 + round_)  # the header and the adds
        expect(table).to_contain_text("Ada Admin")
        assert_no_axe_violations(page)
        _no_sideways_scroll(page)

        main_nav(page).get_by_role("link", name="All groups").click()
        page.get_by_text("Rename or change the kind of Evening").click()
        page.get_by_label("Kind of group").select_option(label="An alumni group (after discharge)")
        page.get_by_role("button", name="Save group").click()
        expect(page.get_by_role("status").filter(has_text="Saved Evening")).to_be_visible()
        assert_no_axe_violations(page)
        _no_sideways_scroll(page)

        # Get help now shows the admin's list, to anyone.
        help_page = new_context(phone=True).new_page()
        help_page.goto(live_server + "/help")
        expect(help_page.get_by_role("link", name="Call (555) 010-0123")).to_be_visible()
        # The second round starts from the same list.
        page.goto(live_server + "/admin/crisis-resources")
        page.get_by_role("button", name="Remove Riverside warm line").click()
        page.goto(live_server + "/admin/groups")
        page.get_by_text("Rename or change the kind of Evening").click()
        page.get_by_label("Kind of group").select_option(label="A group of the program (a cohort)")
        page.get_by_role("button", name="Save group").click()
