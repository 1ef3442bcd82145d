"""Times written by the page's scripts follow the page's language and the person's 12/24-hour
preference (static/js/dates.js), as the server's do (iop_pwa/dates.py).

The browser's clock is fixed with Playwright's `clock` (never the wall clock), so the time a
script writes is known in advance.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from playwright.sync_api import expect

from iop_pwa.therapy.models import SessionKind, TherapySession
from tests.browser.helpers import assert_no_axe_violations, sign_in
from tests.browser.test_offline import visit_and_keep, wait_until_controlled, write_entry

# Monday 2 March 2026, 09:05 in New York (14:05 UTC).
MONDAY_MORNING = datetime(2026, 3, 2, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("locale", "choice", "clock", "written"),
    [
        ("en-US", "24-hour (20:45)", "24", r"^Mon, Mar 2, 09:05$"),
        ("en-US", "As usual for my language", "", r"^Mon, Mar 2, 9:05\sAM$"),
        ("en-GB", "12-hour (8:45 PM)", "12", r"^Mon 2 Mar, 9:05\sam$"),
    ],
)
def test_a_time_written_by_a_script_follows_the_language_and_the_clock(
    browser, live_server, make_user, locale, choice, clock, written
):
    context = browser.new_context(
        locale=locale,
        timezone_id="America/New_York",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    # The browser's clock and the server's agree on the moment.
    traveller = time_machine.travel(MONDAY_MORNING, tick=True)
    traveller.start()
    try:
        context.clock.set_fixed_time(MONDAY_MORNING)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        person = make_user("participant", name="Robin Park")
        sign_in(page, live_server, person.email)
        expect(page).to_have_url(live_server + "/today")

        # The choice is made on Account, next to the time zone, with a form like any other.
        page.goto(live_server + "/account")
        page.get_by_role("combobox", name="Clock").select_option(label=choice)
        page.get_by_role("button", name="Save clock").click()
        expect(page.get_by_text("Your clock is saved.")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("data-clock", clock)
        expect(page.locator("html")).to_have_attribute("lang", locale)
        assert_no_axe_violations(page)

        # An entry written offline waits on the phone with the time the outbox script wrote.
        wait_until_controlled(page)
        visit_and_keep(page, live_server, "/journal")
        context.set_offline(True)
        page.goto(live_server + "/journal")
        write_entry(page, "Written on the bus.")
        kept = page.get_by_role("region", name="Kept on this phone")
        expect(kept.locator(".entry-date")).to_have_text(re.compile(written))

        # The offline banner's "saved at" is written by a script too, in the same clock.
        banner_time = page.locator("#offline-banner time")
        expect(banner_time).to_be_visible()
        hours = r"\d{2}:\d{2}" if clock == "24" or (clock == "" and locale == "en-GB") else None
        expect(banner_time).to_have_text(re.compile(hours or r"^\d{1,2}:\d{2}\s(AM|PM|am|pm)$"))
        context.set_offline(False)
        assert errors == [], errors
    finally:
        context.close()
        traveller.stop()


def test_the_session_countdown_speaks_the_pages_language(browser, live_server, make_user, db):
    """Today's "(in 3 hours)" beside the next session comes from Intl.RelativeTimeFormat."""
    three_hours_before = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    context = browser.new_context(locale="en-GB", timezone_id="America/New_York")
    try:
        with time_machine.travel(three_hours_before, tick=True):
            therapist = make_user("therapist")
            person = make_user("participant", therapist=therapist)
            db.add(
                TherapySession(
                    kind=SessionKind.individual,
                    title="Check-in",
                    therapist_id=therapist.id,
                    participant_id=person.id,
                    starts_at=datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
                    duration_minutes=50,
                    video_url="https://zoom.us/j/1",
                )
            )
            db.commit()
            # The browser's clock and the server's agree on the moment.
            context.clock.set_fixed_time(three_hours_before)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            sign_in(page, live_server, person.email)
            expect(page.locator("html")).to_have_attribute("lang", "en-GB")
            expect(page.get_by_text("Tuesday 1 December, 12:00")).to_be_visible()  # the server
            expect(page.locator("[data-countdown]")).to_have_text("(in 3 hours)")  # the script
            assert errors == [], errors
    finally:
        context.close()
