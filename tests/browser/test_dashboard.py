"""A therapist's morning in a real browser: sign in, see the flagged participant first with the
reason, watch a new flag arrive without a reload (and nothing asked while the tab is hidden),
open the participant, mark the flag seen on the timeline, and find it gone from the dashboard.
The dashboard and the participant page are axe-clean, on a laptop and on a 320 px phone."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from iop_pwa.accounts.models import User
from iop_pwa.db import session_scope, utcnow
from iop_pwa.demo import DEMO_PASSWORD, THERAPIST_EMAIL, load_demo
from iop_pwa.push.models import PushSubscription
from iop_pwa.safety import CareFlag
from tests.browser.helpers import assert_no_axe_violations, main_nav, sign_in

CASELOAD = "Your caseload, by need"


def _arrange(app, make_user):
    therapist = make_user("therapist", name="Dr. Maya Lopez")
    jordan = make_user("participant", name="Jordan Lee", therapist=therapist)
    sam = make_user("participant", name="Sam Rivera", therapist=therapist)
    alex = make_user("participant", name="Alex Chen", therapist=therapist)
    now = utcnow()
    with app.app_context(), session_scope() as db:
        for person in (jordan, sam, alex):
            db.get(User, person.id).last_seen_at = now - timedelta(hours=2)
            db.add(
                PushSubscription(
                    user_id=person.id,
                    endpoint=f"https://push.example.test/{person.id}",
                    p256dh="k",
                    auth="a",
                    last_success_at=now - timedelta(hours=3),
                )
            )
        db.get(User, alex.id).last_seen_at = now - timedelta(days=4, hours=1)
        db.add(
            CareFlag(
                participant_id=jordan.id,
                reason="crisis_language",
                source_type="journal_entry",
                raised_at=now - timedelta(hours=9),
            )
        )
    return therapist, jordan, sam


def _raise_flag(app, person) -> None:
    with app.app_context(), session_scope() as db:
        db.add(CareFlag(participant_id=person.id, reason="crisis_language", source_type="message"))


def _rows(page):
    return page.get_by_role("region", name=CASELOAD).locator("li.caseload-row")


def _hide(page, hidden: bool) -> None:
    """What the browser does when the tab goes to the background (or comes back)."""
    state = "hidden" if hidden else "visible"
    page.evaluate(
        """(state) => {
            const define = (name, value) =>
                Object.defineProperty(document, name, {get: () => value, configurable: true});
            define("visibilityState", state);
            define("hidden", state === "hidden");
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def _round_trip(page) -> None:
    """A request of the page's own, answered: Playwright reports a page's requests in order,
    so any request the page started before this one has been seen by now."""
    status = page.evaluate("() => fetch('/healthz', {cache: 'no-store'}).then(r => r.status)")
    assert status == 200


def _settled(page) -> None:
    """htmx has finished swapping the list in (it listens for the next refresh only then)."""
    expect(page.locator("#caseload")).not_to_have_class(re.compile(r"htmx-(added|settling)"))


def test_a_therapists_morning(desktop_page, live_server, app, make_user):
    page = desktop_page
    therapist, jordan, sam = _arrange(app, make_user)
    page.clock.install()
    sign_in(page, live_server, therapist.email)
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    # The flagged participant comes first, with the reason in words; then no activity.
    rows = _rows(page)
    expect(rows).to_have_count(3)
    expect(rows.nth(0).get_by_role("heading", level=3)).to_have_text("Jordan Lee")
    expect(rows.nth(0).get_by_role("list", name="Why Jordan is here")).to_have_text(
        "Crisis language in a shared journal entry"
    )
    expect(rows.nth(1).get_by_role("heading", level=3)).to_have_text("Alex Chen")
    expect(rows.nth(1)).to_contain_text("No activity for 4 days")
    expect(rows.nth(2).get_by_role("heading", level=3)).to_have_text("Sam Rivera")
    assert_no_axe_violations(page)

    # While the tab is hidden nothing is asked; seen again, the list is fresh without a reload.
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/dashboard/caseload" in r.url else None)
    page.evaluate("() => { window.notReloaded = true; }")
    _hide(page, True)
    _raise_flag(app, sam)
    page.clock.fast_forward("02:05")  # the page's timers that fell due have run
    _round_trip(page)
    assert asked == []
    expect(page.get_by_text("Crisis language in a message")).to_have_count(0)
    _hide(page, False)
    expect(rows.nth(1).get_by_role("heading", level=3)).to_have_text("Sam Rivera")
    expect(rows.nth(1)).to_contain_text("Crisis language in a message")
    assert len(asked) == 1
    _settled(page)

    # And every minute while it is seen.
    _raise_flag(app, jordan)
    page.clock.fast_forward("01:01")
    expect(rows.nth(0)).to_contain_text("(2 open)")
    assert page.evaluate("() => window.notReloaded === true")

    # Open Jordan: quick actions at the top, the timeline first, "Mark seen" there.
    page.get_by_role("link", name="Jordan Lee").click()
    expect(page.get_by_role("heading", name="Jordan Lee", level=1)).to_be_visible()
    actions = page.get_by_role("navigation", name="Quick actions")
    for label in ("Assign practice", "Schedule a session", "Send a message", "Send a sign-in link"):
        expect(actions.get_by_role("link", name=label)).to_be_visible()
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.get_by_text("Safety flag: crisis language in a message")).to_be_visible()
    assert_no_axe_violations(page)
    timeline.get_by_role("button", name="Mark seen").first.click()
    expect(page.get_by_role("status").filter(has_text="Marked as seen.")).to_be_visible()
    timeline.get_by_role("button", name="Mark seen").first.click()
    expect(page.get_by_role("status").filter(has_text="Marked as seen.")).to_be_visible()
    expect(timeline.get_by_role("button", name="Mark seen")).to_have_count(0)

    # Back on the dashboard, Jordan's flag is gone.
    main_nav(page).get_by_role("link", name="Dashboard", exact=True).click()
    expect(rows.nth(0).get_by_role("heading", level=3)).to_have_text("Sam Rivera")
    jordan_row = rows.filter(has=page.get_by_role("heading", name="Jordan Lee"))
    expect(jordan_row).not_to_contain_text("Crisis language")


def test_show_older_pages_the_timeline(desktop_page, live_server, app):
    with app.app_context(), session_scope() as db:
        load_demo(db)
    page = desktop_page
    sign_in(page, live_server, THERAPIST_EMAIL, DEMO_PASSWORD)
    page.get_by_role("link", name="Sam Rivera").click()
    timeline = page.get_by_role("region", name="Timeline")
    entries = timeline.locator("li.timeline-entry")
    expect(entries).to_have_count(20)
    timeline.get_by_role("button", name="Show older").click()
    expect(entries).not_to_have_count(20)
    assert entries.count() > 20
    expect(entries.nth(20)).to_be_focused()  # reading goes on from the first older entry
    assert_no_axe_violations(page)


def test_the_dashboard_and_participant_page_on_a_320_px_phone(new_context, live_server, app):
    with app.app_context(), session_scope() as db:
        load_demo(db)
    page = new_context(phone=True, viewport={"width": 320, "height": 640}).new_page()
    sign_in(page, live_server, THERAPIST_EMAIL, DEMO_PASSWORD)
    expect(page.get_by_role("heading", name=CASELOAD)).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320
    assert_no_axe_violations(page)
    page.get_by_role("link", name="Jordan Lee").click()
    expect(page.get_by_role("heading", name="Jordan Lee", level=1)).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 320
    assert_no_axe_violations(page)
