"""Sessions in real Chromium: a therapist schedules, and the participant's "Join session" appears
without a reload when the join window opens; guests' and participants' pages are axe-clean."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from playwright.sync_api import expect

from tests.browser.helpers import assert_no_axe_violations, main_nav, sign_in

# The server's clock (time_machine moves it for the live server thread too) and the browser's
# (Playwright's clock drives htmx's polling) are moved together.
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York


def test_therapist_schedules_and_join_becomes_available(app, live_server, make_user, new_context):
    therapist = make_user("therapist", name="Dr. Ada Park")
    make_user("participant", name="Robin Vale", therapist=therapist, email="robin@example.test")
    with time_machine.travel(START, tick=True) as clock:
        desk = new_context(phone=False).new_page()
        sign_in(desk, live_server, therapist.email)
        main_nav(desk).get_by_role("link", name="Sessions").click()
        desk.get_by_role("link", name="Schedule a session").click()
        starts = (START + timedelta(minutes=12)).astimezone(ZoneInfo("America/New_York"))
        desk.get_by_label("Title").fill("Weekly check-in")
        desk.get_by_label("Participant (individual and family sessions)").select_option(
            label="Robin Vale"
        )
        desk.get_by_label("Date").fill(starts.date().isoformat())
        desk.get_by_label("Start time (your time zone)").fill(starts.strftime("%H:%M"))
        desk.get_by_label("Video link (https)").fill("https://zoom.us/j/5550100")
        assert_no_axe_violations(desk)
        desk.get_by_role("button", name="Schedule").click()
        expect(desk.get_by_role("heading", name="Weekly check-in", level=1)).to_be_visible()
        expect(desk.get_by_text("Zoom").first).to_be_visible()
        assert_no_axe_violations(desk)

        context = new_context(phone=True)
        phone = context.new_page()
        phone.clock.install(time=START + timedelta(seconds=5))
        sign_in(phone, live_server, "robin@example.test")
        next_session = phone.get_by_role("region", name="Next session")
        expect(next_session).to_contain_text("Weekly check-in")
        expect(next_session).to_contain_text(re.compile(r"opens at \d{1,2}:\d\d\sAM"))
        expect(next_session.get_by_role("link", name="Join session")).to_have_count(0)
        assert_no_axe_violations(phone)

        clock.shift(timedelta(minutes=3))  # the server now says the window is open
        phone.clock.run_for(31_000)  # htmx polls the join area every 30 seconds
        join = next_session.get_by_role("link", name="Join session")
        expect(join).to_be_visible()
        expect(join).to_have_attribute("href", "https://zoom.us/j/5550100")

        main_nav(phone).get_by_role("link", name="Sessions").click()
        expect(phone.get_by_role("heading", name="Sessions", level=1)).to_be_visible()
        assert_no_axe_violations(phone)


def test_family_guest_page_is_axe_clean_and_shows_the_time(
    app, live_server, make_user, new_context
):
    from sqlmodel import select

    from iop_pwa.accounts.models import User
    from iop_pwa.db import session_scope
    from iop_pwa.therapy import services

    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    now = datetime.now(UTC)
    local = (now + timedelta(days=1)).astimezone(ZoneInfo(therapist.timezone))
    with app.app_context(), session_scope() as db:
        [family] = services.schedule(
            db,
            therapist=db.get(User, therapist.id),
            kind="family",
            title="Family session",
            day=local.date(),
            at=local.time().replace(second=0, microsecond=0),
            duration_minutes=60,
            video_url="https://doxy.me/room",
            participant=db.get(User, person.id),
            group_id=None,
        )
        _, token = services.add_guest(
            db, session=family, name="Elena Rivera", email=None, by=db.get(User, therapist.id)
        )
        assert db.exec(select(User)).first() is not None
    guest = new_context(phone=True, timezone_id="Europe/Madrid").new_page()
    guest.goto(f"{live_server}/guest/{token}")
    expect(guest.get_by_role("heading", name="Welcome, Elena")).to_be_visible()
    expect(guest.get_by_text("Europe/Madrid")).to_be_visible()
    expect(guest.get_by_role("link", name="Join session")).to_have_count(0)
    assert_no_axe_violations(guest)
