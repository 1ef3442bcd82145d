"""A browser keeps the app's static files: a second visit fetches none of them.

The service worker is blocked here so that what is measured is the browser's own HTTP cache, as
for a first visit before the worker is installed, or a browser without one."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import sign_in

STATIC_FETCHES = """() => performance.getEntriesByType("resource")
    .filter((e) => new URL(e.name).pathname.startsWith("/static/"))
    .map((e) => ({ url: new URL(e.name).pathname, bytes: e.transferSize, encoded: e.encodedBodySize,
                   decoded: e.decodedBodySize }))"""


def test_a_second_visit_fetches_no_static_file_and_the_first_gets_them_compressed(
    new_context, live_server, make_user
):
    person = make_user("participant", name="Sam Rivera")
    page = new_context(service_workers="block").new_page()
    sign_in(page, live_server, person.email)
    expect(page).to_have_url(live_server + "/today")
    page.wait_for_load_state("load")
    first = page.evaluate(STATIC_FETCHES)
    scripts = [f for f in first if f["url"].endswith(".js")]
    assert any(f["url"].startswith("/static/vendor/htmx.min.") for f in scripts), first
    # Compressed on the wire: htmx arrives as well under half its size.
    htmx = next(f for f in scripts if f["url"].startswith("/static/vendor/htmx.min."))
    assert 0 < htmx["encoded"] < htmx["decoded"] / 2, htmx

    page.goto(live_server + "/journal")
    page.wait_for_load_state("load")
    page.goto(live_server + "/today")
    page.wait_for_load_state("load")
    again = page.evaluate(STATIC_FETCHES)
    assert again, "the page named no static files"
    fetched = [f for f in again if f["bytes"] > 0]
    assert fetched == [], f"fetched again: {fetched}"
