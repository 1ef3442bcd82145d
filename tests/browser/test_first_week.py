"""A first week in real Chromium (issue 11): the therapist sees mood check-ins on a participant's
page, as the privacy notice a newcomer reads says."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from iop_pwa.accounts.models import User
from iop_pwa.db import session_scope
from iop_pwa.journal import services as journal
from tests.browser.helpers import (
    assert_no_axe_violations,
    main_nav,
    make_invitation_token,
    sign_in,
)


def _participant_page(desk, name: str) -> None:
    main_nav(desk).get_by_role("link", name="Participants").click()
    desk.get_by_role("link", name=name).click()
    expect(desk.get_by_role("heading", name=name, level=1)).to_be_visible()


def test_the_therapist_sees_mood_check_ins_as_the_notice_says(
    app, live_server, make_user, new_context
):
    therapist = make_user("therapist", name="Dr. Ada Park")
    robin = make_user("participant", name="Robin Vale", therapist=therapist)
    with app.app_context(), session_scope() as db:
        journal.save_entry(
            db,
            user=db.get(User, robin.id),
            client_id="0f6c1f4e-1d4b-4d8e-9a55-3a9e5b6c7d01",
            mood=5,
            body="A private high.",
            written_at=datetime.now(UTC) - timedelta(days=2),
        )

    # The notice a newcomer reads before joining says what the care team sees.
    invitation = new_context(phone=True).new_page()
    invitation.goto(f"{live_server}/join/{make_invitation_token(app, therapist, 'Kim')}")
    expect(
        invitation.get_by_text(re.compile("the mood you choose in each mood check-in"))
    ).to_be_visible()

    phone = new_context(phone=True).new_page()
    sign_in(phone, live_server, robin.email)
    checkin = phone.get_by_role("region", name="Mood check-in")
    expect(checkin.get_by_text("Your care team sees the mood you choose here.")).to_be_visible()
    checkin.get_by_label("2 · Low").check()
    checkin.get_by_label("A word for it (optional)").fill("heavy")
    checkin.get_by_role("button", name="Save check-in").click()
    expect(phone.get_by_role("status").filter(has_text="Check-in saved: Low.")).to_be_visible()

    desk = new_context(phone=False).new_page()
    sign_in(desk, live_server, therapist.email)
    _participant_page(desk, "Robin Vale")
    mood = desk.get_by_role("region", name="Mood check-ins")
    expect(mood).to_contain_text("Robin checked in on 1 of the last 30 days.")
    expect(mood.get_by_role("img", name=re.compile("Mood over the last 30 days"))).to_be_visible()
    mood.get_by_text("The same data as a table").click()
    table = mood.get_by_role("table")
    expect(table.get_by_role("cell", name="2 (Low)")).to_be_visible()
    expect(table).not_to_contain_text("Very good")  # the private entry's mood
    expect(desk.get_by_text("heavy")).to_have_count(0)
    expect(desk.get_by_text("A private high.")).to_have_count(0)
    assert_no_axe_violations(desk)
