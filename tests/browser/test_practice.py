"""The practice loop in real Chromium: a therapist assigns, a participant does it on a phone and
reflects, the therapist gives feedback, the participant sees it; the breathing timer offline."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlmodel import select

from iop_pwa.accounts.models import Group, User
from iop_pwa.db import session_scope
from iop_pwa.practice import services
from iop_pwa.practice.library import sync_builtin_exercises
from iop_pwa.practice.models import Exercise
from iop_pwa.web import local_today
from tests.browser.helpers import assert_no_axe_violations, main_nav, sign_in
from tests.browser.test_offline import (
    outbox_items,
    visit_and_keep,
    wait_until_controlled,
    wait_until_outbox_empty,
)


def _library(app):
    with app.app_context(), session_scope() as db:
        sync_builtin_exercises(db)


def test_assign_do_reflect_and_get_feedback(app, live_server, make_user, new_context):
    _library(app)
    therapist = make_user("therapist", name="Dr. Ada Park")
    make_user("participant", name="Robin Vale", therapist=therapist, email="robin@example.test")

    desk = new_context(phone=False).new_page()
    sign_in(desk, live_server, therapist.email)
    main_nav(desk).get_by_role("link", name="Library").click()
    desk.get_by_label("Skill").select_option(label="Assertiveness")
    desk.get_by_role("button", name="Search").click()
    desk.get_by_role("link", name="Turn a complaint into an I-statement").click()
    assert_no_axe_violations(desk)
    desk.get_by_role("link", name="Assign").click()
    desk.get_by_label("Participant").select_option(label="Robin Vale")
    desk.get_by_label("Every day").check()
    desk.get_by_label("A personal note (optional)").fill("Try it with someone you trust.")
    assert_no_axe_violations(desk)
    desk.get_by_role("button", name="Assign").click()
    expect(desk.get_by_role("heading", name="Robin Vale", level=1)).to_be_visible()
    expect(desk.get_by_role("cell", name="Turn a complaint into an I-statement")).to_be_visible()

    phone = new_context(phone=True).new_page()
    sign_in(phone, live_server, "robin@example.test")
    expect(phone.get_by_role("link", name="Notifications, 1 new")).to_be_visible()
    today = phone.get_by_role("region", name="Today's practice")
    today.get_by_role("link", name="Turn a complaint into an I-statement").click()
    expect(phone.get_by_text("Try it with someone you trust.")).to_be_visible()
    expect(phone.get_by_role("heading", name="Steps")).to_be_visible()
    phone.get_by_label("What I-statement did you write or say?").fill(
        "I feel left out when plans change without me."
    )
    phone.get_by_label("4 · Quite").check()
    phone.get_by_label("2 · Easy").check()
    assert_no_axe_violations(phone)
    phone.get_by_role("button", name="Mark done").click()
    expect(phone.get_by_role("status").filter(has_text="Marked done")).to_be_visible()
    expect(phone.get_by_text("Done today").first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    desk.reload()
    said = desk.get_by_role("listitem").filter(has_text="I feel left out when plans change")
    # On the timeline, in the participant's words (not the stored JSON) ...
    practised = said.filter(has_text="Practised")
    expect(practised).to_be_visible()
    assert '"question"' not in practised.inner_text()
    # ... and in the practice section, where the feedback is left.
    completion = said.filter(has_text="Leave feedback")
    expect(completion).to_be_visible()
    completion.get_by_text("Leave feedback").click()
    completion.get_by_label("Feedback on this practice").fill("Clear and kind. Well done.")
    completion.get_by_role("button", name="Send feedback").click()
    expect(desk.get_by_role("status").filter(has_text="Feedback sent")).to_be_visible()

    phone.reload()
    expect(phone.get_by_text("Clear and kind. Well done.")).to_be_visible()
    phone.get_by_role("link", name=re.compile(r"Notifications, \d+ new")).click()
    expect(
        phone.get_by_role("link", name=re.compile("left feedback on your practice"))
    ).to_be_visible()
    assert_no_axe_violations(phone)
    main_nav(phone).get_by_role("link", name="Practice").click()
    expect(phone.get_by_role("heading", name="Practice", level=1)).to_be_visible()
    assert_no_axe_violations(phone)


def _assign_box_breathing_daily(app, therapist, *, person=None, group: str | None = None) -> int:
    """Arrange a daily Box breathing for a person or a group from today, as the service does."""
    with app.app_context(), session_scope() as db:
        breathing = db.exec(select(Exercise).where(Exercise.timer == "box-breathing")).one()
        assignment = services.assign(
            db,
            therapist=db.get(User, therapist.id),
            exercise=breathing,
            participant=db.get(User, person.id) if person else None,
            group=db.exec(select(Group).where(Group.name == group)).one() if group else None,
            schedule="daily",
            weekdays=[],
            start_date=local_today((person or therapist).timezone),
            end_date=None,
            note="",
            reminder_time=None,
        )
        return assignment.id


def test_breathing_timer_runs_offline(app, live_server, make_user, page):
    _library(app)
    therapist = make_user("therapist", group="Evening")  # its facilitator
    person = make_user("participant", therapist=therapist, group="Evening")
    _assign_box_breathing_daily(app, therapist, group="Evening")
    sign_in(page, live_server, person.email)
    page.get_by_role("link", name="Box breathing").click()
    expect(page.get_by_role("heading", name="Breathing timer")).to_be_visible()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now kept for offline reading by the service worker
    page.context.set_offline(True)
    page.reload()
    expect(page.get_by_text(re.compile("Offline: showing what you saw at"))).to_be_visible()
    page.get_by_role("button", name="Start breathing").click()
    phase = page.locator(".breathing-phase")
    expect(phase).to_have_text("Breathe in")
    expect(phase).to_have_text("Hold", timeout=6000)
    page.get_by_role("button", name="Stop").click()
    expect(phase).to_contain_text("Stopped")


def test_marked_done_offline_shows_as_done_waiting_to_sync_until_the_server_has_it(
    app, live_server, make_user, page
):
    _library(app)
    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    assignment_id = _assign_box_breathing_daily(app, therapist, person=person)
    exercise_page = f"/practice/{assignment_id}"
    sign_in(page, live_server, person.email)
    expect(page).to_have_url(live_server + "/today")
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/today", exercise_page)

    page.context.set_offline(True)
    page.get_by_role("button", name="Mark done").click()

    # The button says it is done and can't be pressed twice; the line saying so is in view,
    # clear of the bottom bar, and has the keyboard focus.
    done = page.get_by_role("button", name="Done · waiting to sync")
    expect(done).to_be_disabled()
    note = page.get_by_text(re.compile("It is sent when you are back online"))
    expect(note).to_be_visible()
    expect(note).to_be_focused()
    expect(note).to_be_in_viewport()
    bar = main_nav(page).bounding_box()
    line = note.bounding_box()
    assert line["y"] >= 0 and line["y"] + line["height"] <= bar["y"], (line, bar)
    assert [item["pending"] for item in outbox_items(page)] == [
        f"practice-{assignment_id}-{local_today(person.timezone).isoformat()}"
    ]
    assert_no_axe_violations(page)

    # Today, opened from the phone, shows it as done, waiting to sync.
    page.goto(live_server + "/today")
    row = page.get_by_role("region", name="Today's practice").get_by_role("listitem")
    expect(row.filter(has_text="Box breathing")).to_contain_text("Done · waiting to sync")
    expect(row.get_by_text("Done · waiting to sync")).to_be_visible()
    assert_no_axe_violations(page)

    # Back online, the item is sent and Today shows what the server has: done, nothing waiting.
    page.context.set_offline(False)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    wait_until_outbox_empty(page)
    expect(row.filter(has_text="Box breathing").get_by_text("Done", exact=True)).to_be_visible()
    expect(page.get_by_text("Done · waiting to sync")).to_have_count(0)
    page.goto(live_server + exercise_page)
    expect(page.get_by_text("Done today")).to_be_visible()
    expect(page.get_by_role("button", name="Done · waiting to sync")).to_have_count(0)


def test_assign_form_says_what_is_wrong_beside_the_field_it_is_about(
    app, live_server, make_user, desktop_page
):
    _library(app)
    therapist = make_user("therapist", group="Evening")
    make_user("participant", name="Robin Vale", therapist=therapist, group="Evening")
    desk = desktop_page
    sign_in(desk, live_server, therapist.email)
    main_nav(desk).get_by_role("link", name="Library").click()
    desk.get_by_role("link", name="Turn a complaint into an I-statement").click()
    desk.get_by_role("link", name="Assign").click()

    # Nobody chosen: the message is on the Participant field, not under "How often".
    desk.get_by_role("button", name="Assign").click()
    participant = desk.get_by_label("Participant", exact=True)
    expect(participant).to_have_accessible_description(
        re.compile("Choose a participant or a group")
    )
    expect(participant).to_have_attribute("aria-invalid", "true")
    expect(desk.get_by_role("group", name="How often")).not_to_contain_text("Choose")

    # Both chosen: the message is on the group, the second choice.
    participant.select_option(label="Robin Vale")
    desk.get_by_label("Or a whole group").select_option(label="Evening")
    desk.get_by_role("button", name="Assign").click()
    expect(desk.get_by_label("Or a whole group")).to_have_accessible_description(
        re.compile("not both")
    )
    expect(desk.get_by_label("Participant", exact=True)).not_to_have_attribute(
        "aria-invalid", "true"
    )

    # An end date before the start: on the end date.
    desk.get_by_label("Or a whole group").select_option(label="No group")
    desk.get_by_label("Start date").fill("2026-03-10")
    desk.get_by_label("End date (optional)").fill("2026-03-01")
    desk.get_by_role("button", name="Assign").click()
    expect(desk.get_by_label("End date (optional)")).to_have_accessible_description(
        re.compile("before the start date")
    )
    expect(desk.get_by_role("group", name="How often")).not_to_contain_text("before")
    assert_no_axe_violations(desk)


def test_own_exercise_offers_edit_but_not_a_copy_of_itself(
    app, live_server, make_user, desktop_page
):
    _library(app)
    therapist = make_user("therapist")
    desk = desktop_page
    sign_in(desk, live_server, therapist.email)
    main_nav(desk).get_by_role("link", name="Library").click()
    desk.get_by_role("link", name="Turn a complaint into an I-statement").click()
    copy = desk.get_by_role("button", name="Copy to my library")
    expect(copy).to_be_visible()  # a built-in exercise can be copied
    expect(desk.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    copy.click()

    # The copy opens for editing; saved, it is the therapist's own: Edit, and no copy of a copy.
    desk.get_by_role("button", name=re.compile("Save")).click()
    expect(desk.get_by_text("Your exercise")).to_be_visible()
    expect(desk.get_by_role("link", name="Edit", exact=True)).to_be_visible()
    expect(desk.get_by_role("button", name="Copy to my library")).to_have_count(0)
    expect(desk.get_by_role("link", name="Assign")).to_be_visible()
