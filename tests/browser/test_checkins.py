"""Check-ins in a real browser: a PHQ-9 answered offline waits in the outbox and arrives once
when the phone is back online (and its item-9 answer still raises the flag); crisis help shows
the moment item 9 is above "Not at all"; the pages are axe-clean for both roles."""

from __future__ import annotations

from datetime import date

from playwright.sync_api import Page, expect
from sqlmodel import select

from iop_pwa.accounts.models import User
from iop_pwa.checkins import services
from iop_pwa.checkins.models import CheckinAnswer
from iop_pwa.db import session_scope
from iop_pwa.safety import CareFlag
from tests.browser.helpers import assert_no_axe_violations, sign_in
from tests.browser.test_offline import (
    outbox_count,
    visit_and_keep,
    wait_until,
    wait_until_controlled,
    wait_until_outbox_empty,
)


def scheduled(app, make_user):
    therapist = make_user("therapist", group="Evening")
    person = make_user("participant", therapist=therapist, group="Evening")
    with app.app_context(), session_scope() as db:
        phq9 = services.builtins(db)["phq9"]
        services.schedule(
            db,
            therapist=db.get(User, therapist.id),
            questionnaire=phq9,
            participant=db.get(User, person.id),
            group=None,
            every_weeks=1,
            start_date=date(2026, 1, 1),
        )
        return therapist, person, phq9.id


def answer_all(page: Page, choices: list[str]) -> None:
    for i, choice in enumerate(choices):
        group = page.get_by_role("group", name=f"{i + 1}. ")
        group.get_by_label(choice, exact=True).check()


def test_a_phq9_answered_offline_arrives_once_back_online_and_flags(
    page, context, live_server, app, make_user, db
):
    therapist, person, phq9 = scheduled(app, make_user)
    sign_in(page, live_server, person.email)
    expect(page).to_have_url(live_server + "/today")
    wait_until_controlled(page)
    expect(page.get_by_role("link", name="Check-in due: PHQ-9")).to_be_visible()
    visit_and_keep(page, live_server, "/today", "/checkins", f"/checkins/{phq9}")

    context.set_offline(True)
    page.goto(live_server + "/today")
    page.get_by_role("link", name="Check-in due: PHQ-9").click()
    expect(page.get_by_role("heading", name="PHQ-9", level=1)).to_be_visible()
    crisis = page.get_by_role("heading", name="You don't have to carry this alone")
    answer_all(page, ["Several days"] * 2 + ["Not at all"] * 7)
    expect(crisis).to_be_hidden()
    item9 = page.get_by_role("group", name="9. Thoughts that you would be better off dead")
    item9.get_by_label("Several days", exact=True).check()
    expect(crisis).to_be_visible()  # at once, offline, before anything is sent
    page.get_by_role("button", name="Save answers").click()
    expect(outbox_count(page)).to_contain_text("1 waiting to sync")
    kept = page.get_by_role("region", name="Kept on this phone")
    expect(kept).to_contain_text("PHQ-9 answers")
    assert db.exec(select(CheckinAnswer)).all() == []

    context.set_offline(False)
    wait_until_outbox_empty(page)
    [row] = db.exec(select(CheckinAnswer)).all()
    assert (row.participant_id, row.score, row.band) == (person.id, 3, "minimal")
    [flag] = db.exec(select(CareFlag)).all()
    assert (flag.participant_id, flag.source_type, flag.source_id) == (
        person.id,
        "checkin_answer",
        row.id,
    )
    page.evaluate("() => IOPOutbox.flush()")
    wait_until(page, "async () => (await IOPOutbox.all()).length === 0")
    assert len(db.exec(select(CheckinAnswer)).all()) == 1

    page.goto(live_server + "/checkins")
    expect(page.get_by_text("Your PHQ-9 score is 3 out of 27")).to_be_visible()
    expect(page.get_by_role("img", name="PHQ-9 scores from")).to_be_visible()
    assert_no_axe_violations(page)


def test_check_in_pages_are_axe_clean(page, desktop_page, live_server, app, make_user):
    therapist, person, phq9 = scheduled(app, make_user)
    sign_in(page, live_server, person.email)
    expect(page).to_have_url(live_server + "/today")
    assert_no_axe_violations(page)
    page.goto(live_server + f"/checkins/{phq9}")
    expect(page.get_by_role("group", name="1. Little interest or pleasure in doing things"))
    page.get_by_role("button", name="Save answers").click()  # nothing chosen: errors shown
    expect(page.get_by_text("Choose an answer for question 1.")).to_be_visible()
    assert_no_axe_violations(page)

    sign_in(desktop_page, live_server, therapist.email)
    desktop_page.goto(live_server + f"/dashboard/participants/{person.id}")
    section = desktop_page.get_by_role("region", name="Check-ins")
    expect(section.get_by_text("PHQ-9: every week from")).to_be_visible()
    section.get_by_text("Schedule a check-in").click()
    section.get_by_label("Check-in", exact=True).select_option(label="GAD-7")
    section.get_by_label("Every 2 weeks").check()
    section.get_by_role("button", name="Schedule check-in").click()
    expect(desktop_page.get_by_text("GAD-7 scheduled for")).to_be_visible()
    assert_no_axe_violations(desktop_page)
    desktop_page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Check-ins"
    ).click()
    desktop_page.get_by_role("link", name="Check-ins for Evening").click()
    expect(desktop_page.get_by_role("heading", name="Check-ins for Evening")).to_be_visible()
    assert_no_axe_violations(desktop_page)


def test_check_ins_fit_a_320_px_phone(new_context, live_server, app):
    """Sam (demo) answers the PHQ-9 due on Today on a 320 px phone: nothing scrolls sideways,
    every answer is a big enough target, and the chart and its table fit."""
    from iop_pwa.demo import DEMO_PASSWORD, load_demo

    with app.app_context(), session_scope() as db:
        load_demo(db)
    page = new_context(viewport={"width": 320, "height": 640}).new_page()
    sign_in(page, live_server, "sam@demo.test", DEMO_PASSWORD)
    page.get_by_role("link", name="Check-in due: PHQ-9").click()
    expect(page.get_by_role("heading", name="PHQ-9", level=1)).to_be_visible()
    widths = "() => [document.documentElement.scrollWidth, window.innerWidth]"
    scroll, inner = page.evaluate(widths)
    assert scroll <= inner, (scroll, inner)
    for i in range(9):
        label = page.get_by_role("group", name=f"{i + 1}. ").get_by_text("Nearly every day")
        box = label.bounding_box()
        assert box and box["height"] >= 24 and box["width"] >= 24, box
    answer_all(page, ["Not at all"] * 9)
    page.get_by_role("button", name="Save answers").click()
    expect(page.get_by_text("Your PHQ-9 score is 0 out of 27")).to_be_visible()
    expect(page.get_by_role("img", name="PHQ-9 scores from")).to_be_visible()
    page.get_by_text("The same numbers as a table").first.click()
    scroll, inner = page.evaluate(widths)
    assert scroll <= inner, (scroll, inner)
    assert_no_axe_violations(page)
