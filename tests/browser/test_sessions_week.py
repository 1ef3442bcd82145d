"""The first week of a therapist and a participant, in real Chromium: a weekly series is one
notification said in words ("just now"), a time that has passed or falls in a clock change is
explained, the week view is columns on a laptop and a list on a phone, "Mark all present", and
Copy buttons beside links meant to be shared. The browsers here read British English
(`locale="en-GB"`: "Monday 2 March", a 24-hour clock); tests/test_dates.py covers en-US."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import time_machine
from playwright.sync_api import expect

from tests.browser.helpers import (
    assert_no_axe_violations,
    create_invitation_in_dashboard,
    main_nav,
    sign_in,
)

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 2 March, 09:00 in New York
JOINED = datetime(2026, 2, 2, 14, 0, tzinfo=UTC)  # members joined the month before


def _schedule(app, therapist, **fields):
    """Arrange sessions through the service, as the form would."""
    from iop_pwa.accounts.models import User
    from iop_pwa.db import session_scope
    from iop_pwa.therapy import services

    with app.app_context(), session_scope() as db:
        person = fields.pop("participant", None)
        made = services.schedule(
            db,
            therapist=db.get(User, therapist.id),
            duration_minutes=fields.pop("duration_minutes", 50),
            video_url="https://zoom.us/j/5550100",
            participant=db.get(User, person.id) if person else None,
            group_id=fields.pop("group_id", None),
            **fields,
        )
        return [s.id for s in made]


def _group_id(app, name):
    from sqlmodel import select

    from iop_pwa.accounts.models import Group
    from iop_pwa.db import session_scope

    with app.app_context(), session_scope() as db:
        return db.exec(select(Group).where(Group.name == name)).one().id


def test_a_series_is_one_notification_in_the_bell_said_in_words(
    app, live_server, make_user, new_context
):
    with time_machine.travel(JOINED, tick=False):  # a member before the series starts
        therapist = make_user("therapist", group="Weekend group")
        make_user(
            "participant",
            name="Robin Vale",
            therapist=therapist,
            group="Weekend group",
            email="robin@example.test",
        )
    # The server's clock stands still at 09:00: "just now" and the title's 09:00 hold however
    # long a loaded machine takes to get there (with a ticking clock, a slow minute made them
    # "1 minute ago" and 09:01).
    with time_machine.travel(START, tick=False):
        desk = new_context(phone=False, locale="en-GB").new_page()
        sign_in(desk, live_server, therapist.email)
        desk.goto(f"{live_server}/dashboard/sessions/new")
        desk.get_by_label("Kind of session").select_option(label="Group session")
        desk.get_by_label("Title").fill("Weekend skills group")
        desk.get_by_label("Group (group sessions)").select_option(label="Weekend group")
        desk.get_by_label("Date").fill("2026-03-07")
        desk.get_by_label("Start time (your time zone)").fill("10:00")
        desk.get_by_label("Video link (https)").fill("https://zoom.us/j/5550100")
        desk.get_by_label("Repeat weekly for how many weeks").fill("12")
        # Twelve sessions and their notices are one request: on a loaded machine it can take
        # longer than a click's usual wait, so wait for its answer, not for a time.
        with desk.expect_navigation(url="**/dashboard/sessions**", timeout=30_000):
            desk.get_by_role("button", name="Schedule").click(no_wait_after=True)
        expect(desk.get_by_text("Scheduled 12 sessions")).to_be_visible()

        phone = new_context(phone=True, locale="en-GB").new_page()
        sign_in(phone, live_server, "robin@example.test")
        phone.get_by_role("link", name="Notifications, 1 new").click()
        expect(phone.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
        items = phone.get_by_role("listitem").filter(has_text="Weekend skills group")
        expect(items).to_have_count(1)
        expect(items).to_contain_text("Saturdays 10:00 from 7 Mar, 12 weeks")
        when = items.locator("time")
        expect(when).to_have_text("just now")
        expect(when).to_have_attribute("title", "Monday, 2 March 2026, 09:00")
        assert_no_axe_violations(phone)


def test_a_past_time_is_refused_or_recorded_and_a_clock_change_is_explained(
    app, live_server, make_user, new_context
):
    therapist = make_user("therapist")
    make_user("participant", name="Robin Vale", therapist=therapist)
    with time_machine.travel(START, tick=True):
        desk = new_context(phone=False, locale="en-GB").new_page()
        sign_in(desk, live_server, therapist.email)

        def fill(day: str, at: str) -> None:
            desk.goto(f"{live_server}/dashboard/sessions/new")
            desk.get_by_label("Title").fill("Check-in")
            desk.get_by_label("Participant (individual and family sessions)").select_option(
                label="Robin Vale"
            )
            desk.get_by_label("Date").fill(day)
            desk.get_by_label("Start time (your time zone)").fill(at)
            desk.get_by_label("Video link (https)").fill("https://zoom.us/j/5550100")

        fill("2026-02-27", "16:00")
        desk.get_by_role("button", name="Schedule").click()
        expect(desk.get_by_label("Date")).to_have_accessible_description(
            re.compile("Friday 27 February, 16:00 has already passed")
        )
        assert_no_axe_violations(desk)
        desk.get_by_label("Record a session that already happened").check()
        desk.get_by_role("button", name="Schedule").click()
        expect(
            desk.get_by_text("Recorded 1 session that already happened; nobody was notified.")
        ).to_be_visible()
        expect(desk.get_by_role("heading", name="Attendance")).to_be_visible()

        fill("2026-03-08", "02:30")
        desk.get_by_role("button", name="Schedule").click()
        expect(
            desk.get_by_text(
                "Sunday 8 March: 02:30 doesn't exist in New York (clocks go forward); "
                "it will be at 03:30."
            )
        ).to_be_visible()
        expect(desk.get_by_role("heading", name="Check-in", level=1).locator("..")).to_contain_text(
            "03:30"
        )


def test_the_week_is_columns_on_a_laptop_and_a_list_on_a_phone(
    app, live_server, make_user, new_context
):
    therapist = make_user("therapist", name="Dr. Ada Park", group="Evening")
    robin = make_user("participant", name="Robin Vale", therapist=therapist, group="Evening")
    with time_machine.travel(START, tick=True):
        _schedule(
            app,
            therapist,
            kind="individual",
            title="Robin's check-in",
            day=date(2026, 3, 2),
            at=time(14, 0),
            participant=robin,
        )
        _schedule(
            app,
            therapist,
            kind="group",
            title="Evening group",
            day=date(2026, 3, 3),
            at=time(20, 0),
            group_id=_group_id(app, "Evening"),
            repeat_weeks=2,
        )
        desk = new_context(phone=False, locale="en-GB").new_page()
        sign_in(desk, live_server, therapist.email)
        main_nav(desk).get_by_role("link", name="Sessions").click()
        desk.get_by_role("link", name="Week", exact=True).click()
        expect(desk.get_by_role("heading", name="Week of Monday, 2 March 2026")).to_be_visible()

        def day(page, name):
            return page.get_by_role("listitem").filter(
                has=page.get_by_role("heading", name=re.compile("^" + name))
            )

        monday, tuesday = day(desk, "Monday 2 March"), day(desk, "Tuesday 3 March")
        expect(monday).to_contain_text("14:00–14:50")
        expect(monday.get_by_role("link", name="Robin's check-in")).to_be_visible()
        expect(monday).to_contain_text("Robin Vale")
        expect(monday).to_contain_text("Today")
        # 20:00 on Tuesday in New York is Wednesday in UTC: it stays on Tuesday.
        expect(tuesday.get_by_role("link", name="Evening group")).to_be_visible()
        expect(day(desk, "Wednesday 4 March")).to_contain_text("Nothing scheduled")
        m, t = monday.bounding_box(), tuesday.bounding_box()
        assert abs(m["y"] - t["y"]) < 1 and t["x"] > m["x"] + m["width"] - 1  # side by side
        assert_no_axe_violations(desk)

        desk.get_by_role("link", name="Next week").click()
        expect(desk.get_by_role("heading", name="Week of Monday, 9 March 2026")).to_be_visible()
        expect(
            day(desk, "Tuesday 10 March").get_by_role("link", name="Evening group")
        ).to_be_visible()
        expect(desk.get_by_role("link", name="Robin's check-in")).to_have_count(0)
        desk.get_by_role("link", name="This week").click()
        expect(desk.get_by_role("heading", name="Week of Monday, 2 March 2026")).to_be_visible()

        phone = new_context(phone=True, locale="en-GB").new_page()
        sign_in(phone, live_server, therapist.email)
        phone.goto(f"{live_server}/dashboard/sessions?view=week")
        monday, tuesday = day(phone, "Monday 2 March"), day(phone, "Tuesday 3 March")
        m, t = monday.bounding_box(), tuesday.bounding_box()
        assert t["y"] >= m["y"] + m["height"] - 1  # one under the other
        viewport = phone.viewport_size["width"]
        assert m["x"] + m["width"] <= viewport  # nothing runs off the screen
        assert_no_axe_violations(phone)


def test_mark_all_present(app, live_server, make_user, new_context):
    with time_machine.travel(JOINED, tick=False):  # members before the group meets
        therapist = make_user("therapist", group="Evening")
        for name in ("Robin Vale", "Kai Moreno"):
            make_user("participant", name=name, therapist=therapist, group="Evening")
    with time_machine.travel(START, tick=True) as clock:
        _schedule(
            app,
            therapist,
            kind="group",
            title="Evening group",
            day=date(2026, 3, 2),
            at=time(10, 0),
            group_id=_group_id(app, "Evening"),
        )
        clock.move_to(START + timedelta(hours=2))  # the group has met
        desk = new_context(phone=False).new_page()
        sign_in(desk, live_server, therapist.email)
        desk.goto(f"{live_server}/dashboard/sessions")
        desk.get_by_role("link", name="Evening group").click()
        expect(desk.get_by_label("Robin Vale")).to_have_value("")
        desk.get_by_role("button", name="Mark all present").click()
        expect(desk.get_by_text("Everyone is marked present.")).to_be_visible()
        for name in ("Robin Vale", "Kai Moreno"):
            expect(desk.get_by_label(name)).to_have_value("attended")
        assert_no_axe_violations(desk)


def test_copy_buttons_copy_the_link_and_say_so(app, live_server, make_user, new_context):
    therapist = make_user("therapist", group="Evening")
    desk_context = new_context(phone=False)
    desk_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    desk = desk_context.new_page()
    sign_in(desk, live_server, therapist.email)
    create_invitation_in_dashboard(desk, name="Robin Vale", group="Evening")
    link = desk.get_by_label("Invitation link").input_value()
    copy = desk.get_by_role("button", name="Copy invitation link")
    copy.click()
    expect(desk.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert desk.evaluate("navigator.clipboard.readText()") == link
    assert_no_axe_violations(desk)

    # Without the Clipboard API (an old browser, a page that may not use it) the link is
    # selected and the browser's own copy command tried.
    old = new_context(phone=False)
    old.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    page = old.new_page()
    sign_in(page, live_server, therapist.email)
    page.goto(desk.url)
    page.get_by_role("button", name="Make a new link").click()
    page.get_by_role("button", name="Copy invitation link").click()
    expect(
        page.get_by_role("status").filter(has_text=re.compile("Copied|selected"))
    ).to_be_visible()
    field = page.get_by_label("Invitation link")
    selected = field.evaluate("el => el.value.slice(el.selectionStart, el.selectionEnd)")
    assert selected == field.input_value()

    # Without scripts the button would do nothing, so it isn't shown.
    plain = new_context(phone=False, java_script_enabled=False).new_page()
    sign_in(plain, live_server, therapist.email)
    plain.goto(page.url)
    plain.get_by_role("button", name="Make a new link").click()
    expect(plain.get_by_label("Invitation link")).to_be_visible()
    expect(plain.get_by_role("button", name="Copy invitation link")).to_have_count(0)


def test_the_calendar_feed_and_guest_links_have_copy_buttons(
    app, live_server, make_user, new_context
):
    therapist = make_user("therapist")
    robin = make_user("participant", therapist=therapist, email="robin@example.test")
    with time_machine.travel(START, tick=True):
        [family] = _schedule(
            app,
            therapist,
            kind="family",
            title="Family session",
            day=date(2026, 3, 4),
            at=time(17, 0),
            participant=robin,
        )
        phone = new_context(phone=True).new_page()
        sign_in(phone, live_server, "robin@example.test")
        phone.goto(f"{live_server}/account")
        phone.get_by_role("button", name="Get a calendar link").click()
        expect(phone.get_by_role("button", name="Copy calendar link")).to_be_visible()
        assert_no_axe_violations(phone)

        desk = new_context(phone=False).new_page()
        sign_in(desk, live_server, therapist.email)
        desk.goto(f"{live_server}/dashboard/sessions/{family}")
        desk.get_by_label("Guest's name").fill("Elena Rivera")
        desk.get_by_role("button", name="Add guest").click()
        expect(desk.get_by_role("button", name="Copy link for Elena Rivera")).to_be_visible()
        assert_no_axe_violations(desk)
