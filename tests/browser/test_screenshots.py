"""The README's screenshots, taken from the real demo program.

They are written to docs/screenshots/ only with UPDATE_SCREENSHOTS=1, so ordinary runs leave the
work tree alone; every run still checks that the screenshots come out as PNGs of the right size.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect

from iop_pwa.db import session_scope
from iop_pwa.demo import DEMO_PASSWORD, THERAPIST_EMAIL, load_demo
from tests.browser.helpers import greeting, png_size, sign_in, wait_until_styled

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _save(name: str, data: bytes) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / name).write_bytes(data)


def test_readme_screenshots(page, desktop_page, live_server, app):
    with app.app_context(), session_scope() as db:
        load_demo(db)

    sign_in(page, live_server, "sam@demo.test", DEMO_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text(greeting("Sam"))
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    wait_until_styled(page)
    today = page.screenshot(animations="disabled", caret="hide")
    assert png_size(today) == (390, 844)
    _save("today-phone.png", today)

    page.goto(live_server + "/journal")
    expect(page.get_by_role("heading", name="Journal", level=1)).to_be_visible()
    wait_until_styled(page)
    journal = page.screenshot(animations="disabled", caret="hide")
    assert png_size(journal) == (390, 844)
    _save("journal-phone.png", journal)

    sign_in(desktop_page, live_server, THERAPIST_EMAIL, DEMO_PASSWORD)
    expect(desktop_page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    attention = desktop_page.get_by_role("region", name="Your caseload, by need")
    expect(attention.get_by_role("link", name="Alex Chen")).to_be_visible()
    expect(attention.get_by_role("link", name="Jordan Lee")).to_be_visible()
    wait_until_styled(desktop_page)
    dashboard = desktop_page.screenshot(animations="disabled", caret="hide")
    assert png_size(dashboard) == (1280, 800)
    _save("dashboard.png", dashboard)

    desktop_page.goto(live_server + "/dashboard/sessions?view=week")
    expect(desktop_page.get_by_role("heading", level=1)).to_be_visible()
    wait_until_styled(desktop_page)
    week = desktop_page.screenshot(animations="disabled", caret="hide")
    assert png_size(week) == (1280, 800)
    _save("sessions-week.png", week)
