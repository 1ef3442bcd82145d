"""What a person sees on a small screen, measured in Chromium: touch targets (WCAG 2.2 target
size), the bottom bar's labels at 320 px, and a therapist's tables on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from iop_pwa.db import session_scope
from iop_pwa.demo import DEMO_PASSWORD, THERAPIST_EMAIL, load_demo
from tests.browser.helpers import main_nav, sign_in

MIN_TARGET = 24  # CSS px, WCAG 2.2 success criterion 2.5.8 (Target Size, Minimum)


def _load_demo(app) -> None:
    with app.app_context(), session_scope() as db:
        load_demo(db)


def _no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"], f"{page.url} scrolls sideways: {widths}"


def _assert_target_size(locator, what: str) -> None:
    box = locator.bounding_box()
    assert box, what
    assert box["width"] >= MIN_TARGET and box["height"] >= MIN_TARGET, f"{what}: {box}"


@pytest.mark.parametrize("width", [320, 390])
def test_links_that_act_as_buttons_are_big_enough_to_tap(new_context, live_server, app, width):
    _load_demo(app)
    page = new_context(viewport={"width": width, "height": 740}).new_page()
    sign_in(page, live_server, "sam@demo.test", DEMO_PASSWORD)
    next_session = page.get_by_role("region", name="Next session")
    session_link = next_session.get_by_role("link").first
    expect(session_link).to_be_visible()
    _assert_target_size(session_link, f"the next session's name on Today at {width} px")

    session_link.click()
    add = page.get_by_role("link", name="Add to calendar")
    expect(add).to_be_visible()
    _assert_target_size(add, f"Add to calendar at {width} px")
    _no_sideways_scroll(page)


@pytest.mark.parametrize("width", [320, 390])
def test_bottom_bar_labels_are_14px_and_never_touch(new_context, live_server, make_user, width):
    page = new_context(viewport={"width": width, "height": 640}).new_page()
    sign_in(page, live_server, make_user("participant").email)
    expect(page).to_have_url(live_server + "/today")
    links = main_nav(page).get_by_role("link")
    expect(links).to_have_count(5)
    labels = []
    for i in range(5):
        label = links.nth(i).locator("span")
        size = label.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)")
        assert size >= 14, f"{label.text_content()} is {size} px at {width} px"
        _assert_target_size(links.nth(i), f"{label.text_content()} at {width} px")
        labels.append((label.text_content(), label.bounding_box()))
    for (name, box), (next_name, next_box) in zip(labels, labels[1:], strict=False):
        gap = next_box["x"] - (box["x"] + box["width"])
        assert gap >= 4, f"{name} and {next_name} are {gap:.1f} px apart at {width} px"
    assert labels[0][1]["x"] >= 0 and labels[-1][1]["x"] + labels[-1][1]["width"] <= width
    _no_sideways_scroll(page)


# Each table in the scroll region that holds it: scrolled to its end, the first column stays in
# place at the region's left edge and the last column ends inside the region; no cell's text
# overflows its cell.
TABLES = """() => [...document.querySelectorAll('main table')].map((table) => {
    const region = table.closest('[role=region]');
    if (!region) return {region: null};
    const style = getComputedStyle(region);
    region.scrollLeft = region.scrollWidth;
    const box = region.getBoundingClientRect();
    const rows = [...table.rows].map((row) => {
        const first = row.cells[0].getBoundingClientRect();
        const last = row.cells[row.cells.length - 1].getBoundingClientRect();
        return {first: [first.left, first.right], last: [last.left, last.right]};
    });
    const overflowing = [...table.querySelectorAll('th, td')]
        .filter((cell) => cell.scrollWidth > cell.clientWidth + 1)
        .map((cell) => cell.textContent.trim().slice(0, 40));
    const result = {
        region: region.getAttribute('aria-label') || region.getAttribute('aria-labelledby'),
        focusable: region.tabIndex === 0, overflowX: style.overflowX,
        left: box.left, right: box.right, scrolls: region.scrollWidth > region.clientWidth,
        rows, overflowing,
    };
    region.scrollLeft = 0;
    return result;
})"""


def test_a_therapists_tables_do_not_clip_on_a_phone(new_context, live_server, app):
    _load_demo(app)
    page = new_context(viewport={"width": 360, "height": 740}).new_page()
    sign_in(page, live_server, THERAPIST_EMAIL, DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    paths = ["/dashboard", "/dashboard/participants", "/dashboard/sessions", "/library"]
    page.goto(live_server + "/dashboard/participants")
    paths += page.evaluate(
        """() => [...document.querySelectorAll('main a[href^="/dashboard/participants/"]')]
            .map((a) => a.getAttribute('href'))"""
    )
    scrolled = 0
    for path in paths:
        page.goto(live_server + path)
        _no_sideways_scroll(page)
        for table in page.evaluate(TABLES):
            where = f"{path}: {table.get('region')}"
            assert table["region"], f"{path}: a table outside a labelled region"
            assert table["focusable"] and table["overflowX"] == "auto", where
            assert table["overflowing"] == [], where
            for row in table["rows"]:
                assert abs(row["first"][0] - table["left"]) <= 1.5, f"{where}: first column {row}"
                assert row["last"][1] <= table["right"] + 1, f"{where}: last column {row}"
            scrolled += table["scrolls"]
    assert scrolled, "no table needed to scroll at 360 px: the test proves nothing"
