"""Error pages in the app's look, and htmx as the pages configure it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import assert_no_axe_violations, greeting, main_nav, sign_in

NOT_FOUND = "We couldn't find that page"


def test_error_pages_and_htmx(page, live_server, make_user):
    response = page.goto(live_server + "/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name=NOT_FOUND, level=1)).to_be_visible()
    expect(page).to_have_title(f"{NOT_FOUND} · IOP Companion")
    back = page.get_by_role("link", name="Go to the start page")
    expect(back).to_be_visible()
    expect(page.get_by_role("banner").get_by_role("link", name="Get help now")).to_be_visible()
    assert_no_axe_violations(page)
    back.click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()

    # Signed in, htmx is loaded with the safe settings from the page's <meta name="htmx-config">.
    participant = make_user("participant", name="Robin Park")
    sign_in(page, live_server, participant.email)
    expect(page.get_by_role("heading", level=1)).to_have_text(greeting("Robin"))
    config = page.evaluate(
        """() => ({
            historyCacheSize: htmx.config.historyCacheSize,
            allowEval: htmx.config.allowEval,
            allowScriptTags: htmx.config.allowScriptTags,
            selfRequestsOnly: htmx.config.selfRequestsOnly,
        })"""
    )
    assert config == {
        "historyCacheSize": 0,
        "allowEval": False,
        "allowScriptTags": False,
        "selfRequestsOnly": True,
    }

    # An htmx request for a missing page swaps in only the error message, not a second copy of
    # the whole page (header, navigation) inside <main>.
    page.evaluate("() => htmx.ajax('GET', '/no-such-page', {target: '#main', swap: 'innerHTML'})")
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name=NOT_FOUND, level=1)).to_be_visible()
    expect(main.get_by_role("link", name="Go to the start page")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.get_by_role("banner")).to_have_count(1)
    expect(main_nav(page)).to_have_count(1)
    expect(page.get_by_role("link", name="Get help now")).to_have_count(1)
    # Health details never linger in localStorage as htmx history snapshots.
    assert page.evaluate("() => localStorage.getItem('htmx-history-cache')") in (None, "[]")
