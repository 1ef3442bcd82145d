"""The journal on a phone, in real Chromium: write, find, check in, read the mood chart."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from iop_pwa.db import session_scope
from iop_pwa.journal.models import JournalEntry
from iop_pwa.web import local_today
from tests.browser.helpers import assert_no_axe_violations, main_nav, sign_in


def _participant(make_user):
    therapist = make_user("therapist")
    return make_user("participant", name="Robin Vale", therapist=therapist)


def test_participant_writes_an_entry_on_a_phone_and_sees_it_in_the_list(
    page, live_server, make_user
):
    person = _participant(make_user)
    sign_in(page, live_server, person.email)
    main_nav(page).get_by_role("link", name="Journal").click()
    expect(page.get_by_role("heading", name="Journal", level=1)).to_be_visible()
    expect(page.get_by_text("Today's prompt")).to_be_visible()

    page.get_by_label("4 · Good").check()
    page.get_by_label("Hopeful").check()
    page.get_by_label("Your entry").fill("Told my brother how I felt, using an I-statement.")
    expect(page.get_by_label("Share with my care team")).not_to_be_checked()
    page.get_by_role("button", name="Save entry").click()

    expect(page.get_by_role("status").filter(has_text="Your entry is saved")).to_be_visible()
    entry = page.get_by_role("listitem").filter(has_text="Told my brother how I felt")
    expect(entry).to_be_visible()
    expect(entry).to_contain_text("Mood: 4 · Good")
    expect(entry).not_to_contain_text("Shared with care team")

    page.get_by_label("Search your journal").fill("brother")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("1 matching entry")).to_be_visible()
    page.get_by_label("Search your journal").fill("nothing like this")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No entries match")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_check_in_from_today_and_read_the_mood_chart(page, live_server, make_user):
    person = _participant(make_user)
    sign_in(page, live_server, person.email)
    checkin = page.get_by_role("region", name="Mood check-in")
    checkin.get_by_label("3 · Okay").check()
    checkin.get_by_label("A word for it (optional)").fill("steady")
    checkin.get_by_role("button", name="Save check-in").click()
    expect(page.get_by_text(re.compile(r"You checked in today at .*3 · Okay"))).to_be_visible()

    main_nav(page).get_by_role("link", name="Journal").click()
    page.get_by_role("link", name="Mood over time").click()
    expect(page.get_by_role("img", name=re.compile("Mood over the last 30 days"))).to_be_visible()
    page.get_by_text("The same data as a table").click()
    expect(page.get_by_role("table")).to_contain_text("3.0 (Okay)")
    assert_no_axe_violations(page)


def test_crisis_words_bring_help_at_once(page, live_server, make_user):
    person = _participant(make_user)
    sign_in(page, live_server, person.email)
    page.goto(live_server + "/journal")
    page.get_by_label("Your entry").fill("Tonight I feel like I can't go on.")
    page.get_by_role("button", name="Save entry").click()
    panel = page.get_by_role("alert").filter(has_text="You don't have to carry this alone")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("link", name="Call 988")).to_have_attribute("href", "tel:988")
    expect(panel).to_contain_text("no one was alerted")
    assert_no_axe_violations(page)


def test_journal_pages_have_no_axe_violations(page, live_server, make_user):
    person = _participant(make_user)
    sign_in(page, live_server, person.email)
    page.goto(live_server + "/journal")
    page.get_by_label("Your entry").fill("An entry to look at.")
    page.get_by_label("Share with my care team").check()
    page.get_by_role("button", name="Save entry").click()
    expect(page.get_by_role("status").filter(has_text="Your entry is saved")).to_be_visible()
    assert_no_axe_violations(page)

    page.get_by_role("link", name=re.compile("Shared with care team")).first.click()
    expect(page.get_by_role("heading", level=1, name=re.compile("Journal entry"))).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_role("link", name="Edit entry").click()
    expect(page.get_by_role("heading", name="Edit entry")).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_role("link", name="Back to the entry").click()
    page.get_by_role("link", name="Delete entry").click()
    expect(page.get_by_role("heading", name="Delete this entry?")).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_role("button", name="Delete entry").click()
    expect(page.get_by_role("status").filter(has_text="The entry is deleted")).to_be_visible()
    expect(page.get_by_text("An entry to look at.")).to_have_count(0)


def _check_ins(app, person, days_ago: list[int]) -> None:
    """Arrange mood check-ins on these days before the participant's today."""
    today = local_today(person.timezone)
    with app.app_context(), session_scope() as db:
        for n in days_ago:
            db.add(
                JournalEntry(
                    user_id=person.id,
                    client_id=str(uuid.uuid4()),
                    kind="checkin",
                    mood=1 + n % 5,
                    local_date=today - timedelta(days=n),
                    written_at=datetime.now(UTC) - timedelta(days=n),
                )
            )


# The boxes of every label in the chart, as the browser lays them out.
LABEL_BOXES = """() => [...document.querySelectorAll('.mood-chart text')].map((t) => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom};
})"""


def _overlapping(boxes: list[dict]) -> list[tuple[str, str]]:
    return [
        (a["text"], b["text"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    ]


@pytest.mark.parametrize("days", [30, 90])
def test_mood_chart_labels_do_not_overlap_on_a_small_phone(
    app, live_server, make_user, new_context, days
):
    person = _participant(make_user)
    _check_ins(app, person, list(range(0, days, 2)))
    page = new_context(viewport={"width": 320, "height": 640}).new_page()
    sign_in(page, live_server, person.email)
    page.goto(f"{live_server}/journal/mood?days={days}")
    expect(
        page.get_by_role("img", name=re.compile(f"Mood over the last {days} days"))
    ).to_be_visible()

    boxes = page.evaluate(LABEL_BOXES)
    dates = [b for b in boxes if re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", b["text"])]
    assert _overlapping(boxes) == []
    assert 4 <= len(dates) <= 6, [b["text"] for b in dates]  # every week or three, not more
    assert all(b["left"] >= 0 and b["right"] <= 320 for b in boxes), boxes
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_one_check_in_shows_its_dot_and_says_so(app, live_server, make_user, page):
    person = _participant(make_user)
    sign_in(page, live_server, person.email)
    page.goto(live_server + "/journal/mood")
    # Nothing yet: no empty chart, and a plain word about what will show.
    expect(page.get_by_role("img", name=re.compile("Mood over the last"))).to_have_count(0)
    expect(page.get_by_text("No mood check-ins in the last 30 days yet")).to_be_visible()

    _check_ins(app, person, [3])
    page.reload()
    expect(page.get_by_role("img", name=re.compile("Mood over the last 30 days"))).to_be_visible()
    expect(page.locator(".mood-chart .point")).to_have_count(1)
    card = page.locator("section.card").filter(has=page.locator(".mood-chart"))
    expect(card).to_contain_text("You checked in on 1 of the last 30 days")
    expect(card).not_to_contain_text("will appear")
    assert_no_axe_violations(page)


def _entries(app, person, bodies: list[str]) -> None:
    """Arrange journal entries, oldest first, one a day until yesterday."""
    today = local_today(person.timezone)
    with app.app_context(), session_scope() as db:
        for n, body in zip(range(len(bodies), 0, -1), bodies, strict=True):
            db.add(
                JournalEntry(
                    user_id=person.id,
                    client_id=str(uuid.uuid4()),
                    body=body,
                    mood=3,
                    local_date=today - timedelta(days=n),
                    written_at=datetime.now(UTC) - timedelta(days=n),
                )
            )


def _within_first_screen(page, locator) -> bool:
    box = locator.bounding_box()
    return (
        box is not None
        and box["y"] >= 0
        and box["y"] + box["height"] <= page.viewport_size["height"]
    )


def test_past_entries_come_first_and_new_entry_opens_the_form(app, live_server, make_user, page):
    person = _participant(make_user)
    _entries(app, person, ["The oldest thought.", "A middle thought.", "The newest thought."])
    sign_in(page, live_server, person.email)
    main_nav(page).get_by_role("link", name="Journal").click()

    entries = page.locator("#journal-entries").get_by_role("listitem")
    expect(entries).to_have_count(3)
    expect(entries.first).to_contain_text("The newest thought.")
    assert _within_first_screen(page, entries.first)  # no scrolling past a form to find it
    expect(page.get_by_label("Your entry", exact=True)).to_be_hidden()

    new_entry = page.get_by_text("New entry", exact=True)  # a <summary>: a disclosure
    assert new_entry.bounding_box()["y"] < entries.first.bounding_box()["y"]
    new_entry.click()
    page.get_by_label("Your entry", exact=True).fill("Written just now, after group.")
    page.get_by_role("button", name="Save entry").click()

    expect(page.get_by_role("status").filter(has_text="Your entry is saved")).to_be_visible()
    expect(entries).to_have_count(4)
    expect(entries.first).to_contain_text("Written just now, after group.")
    assert _within_first_screen(page, entries.first)
    assert_no_axe_violations(page)
