"""The offline-first app in a real browser: manifest, service worker, pages kept for reading
offline, the IndexedDB outbox and its sync, an expired session, sign-out cleanup and updates.

`context.set_offline(True)` really cuts the page off, so every "offline" step here is offline.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

import pytest
from flask import url_for
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect
from sqlmodel import col, delete, select

from iop_pwa.accounts.models import LoginSession
from iop_pwa.journal.models import JournalEntry
from iop_pwa.pwa.views import SHELL, current_shell_version
from tests.browser.helpers import png_size, sign_in

PAGES_CACHE = "iop-pages-v1"
SCREENSHOTS = Path(tempfile.gettempdir()) / "iop-screenshots"
SCREENSHOTS.mkdir(exist_ok=True)
SHELL_CACHE = re.compile(r"^iop-shell-[0-9a-f]{12}$")


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_script_errors(page):
    """Any uncaught error or unhandled rejection on the page fails the test."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    yield
    assert errors == [], errors


def signed_in_participant(page: Page, live_server: str, make_user, **user) -> object:
    person = make_user("participant", **user)
    sign_in(page, live_server, person.email)
    expect(page).to_have_url(live_server + "/today")
    return person


def wait_until(page: Page, check: str, arg=None, timeout: float = 5.0) -> None:
    """Poll an async check in the page until it answers true.

    `page.wait_for_function` does not await a promise: an async check would pass at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if page.evaluate(check, arg):
                return
        except PlaywrightError:  # the page navigated meanwhile: ask the new one
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {check}")
        time.sleep(0.05)


FORGOTTEN_KEYS = """(() => {
    window.forgottenKeys = [];
    const removeItem = Storage.prototype.removeItem;
    Storage.prototype.removeItem = function (key) {
        window.forgottenKeys.push(key);
        return removeItem.call(this, key);
    };
})()"""


def wait_until_controlled(page: Page) -> None:
    """The service worker is active and this page is one of its clients."""
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def wait_until_kept(page: Page, *paths: str) -> None:
    """The service worker has put these pages into the pages cache (it does so after answering)."""
    wait_until(
        page,
        """async ([name, paths]) => {
            if (!(await caches.has(name))) return false;
            const cache = await caches.open(name);
            for (const path of paths) if (!(await cache.match(path))) return false;
            return true;
        }""",
        arg=[PAGES_CACHE, list(paths)],
    )


def visit_and_keep(page: Page, live_server: str, *paths: str) -> None:
    for path in paths:
        page.goto(live_server + path)
        expect(page).to_have_url(live_server + path)
    wait_until_kept(page, *paths)


def outbox_items(page: Page) -> list[dict]:
    return page.evaluate("() => IOPOutbox.all()")


def outbox_count(page: Page):
    return page.locator("#outbox-status")


def wait_until_outbox_empty(page: Page) -> None:
    """Every item reached the server (the status line starts hidden, so it proves nothing)."""
    wait_until(page, "async () => (await IOPOutbox.all()).length === 0")
    expect(outbox_count(page)).to_be_hidden()


def open_new_entry(page: Page) -> None:
    """The form waits behind "New entry" (a disclosure) once there are entries to read."""
    if page.get_by_label("Your entry", exact=True).is_hidden():
        page.get_by_text("New entry", exact=True).click()


def write_entry(page: Page, text: str, mood: str | None = None) -> None:
    open_new_entry(page)
    if mood:
        page.get_by_role("group", name="How is your mood?").get_by_label(mood, exact=True).check()
    page.get_by_label("Your entry", exact=True).fill(text)
    page.get_by_role("button", name="Save entry").click()
    # Queued: the form is cleared for the next entry.
    expect(page.get_by_label("Your entry", exact=True)).to_have_value("")


def write_offline_in_the_journal(page: Page, context, live_server: str, make_user, *texts: str):
    """A participant whose phone keeps the Journal goes offline and writes `texts` there; the
    participant (each entry waits in the outbox)."""
    person = signed_in_participant(page, live_server, make_user)
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/journal")
    context.set_offline(True)
    page.goto(live_server + "/journal")
    for text in texts:
        write_entry(page, text)
    return person


def check_in(page: Page, mood: str) -> None:
    page.get_by_role("group", name="How are you right now?").get_by_label(mood, exact=True).check()
    page.get_by_role("button", name="Save check-in").click()


def entries_of(db, user) -> list[JournalEntry]:
    return list(
        db.exec(
            select(JournalEntry)
            .where(JournalEntry.user_id == user.id)
            .order_by(col(JournalEntry.id))
        ).all()
    )


def assert_in_written_order(rows: list[JournalEntry]) -> None:
    received = [row.received_at for row in rows]
    assert received == sorted(received), f"received out of order: {received}"
    written = [row.written_at for row in rows]
    assert written == sorted(written), f"stored out of the order written: {written}"


# --- 1. manifest and icons ----------------------------------------------------------------------


def test_manifest_is_complete_and_its_icons_are_real_pngs(page, live_server, make_user):
    signed_in_participant(page, live_server, make_user)

    manifest_href = page.locator('link[rel="manifest"]').get_attribute("href")
    assert manifest_href == "/manifest.webmanifest"
    response = page.request.get(live_server + manifest_href)
    assert response.ok
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text())

    for key in ("id", "name", "short_name", "start_url", "scope"):
        assert isinstance(manifest.get(key), str) and manifest[key], key
    assert manifest["display"] == "standalone"
    assert manifest["scope"] == "/"
    assert manifest["start_url"].startswith("/")
    for key in ("theme_color", "background_color"):
        assert re.fullmatch(r"#[0-9a-fA-F]{6}", manifest[key]), key
    theme = page.locator('meta[name="theme-color"]').get_attribute("content")
    assert theme.lower() == manifest["theme_color"].lower()

    icons = manifest["icons"]
    sizes_any = {i["sizes"] for i in icons if "any" in i.get("purpose", "any").split()}
    assert {"192x192", "512x512"} <= sizes_any
    assert any("maskable" in i.get("purpose", "").split() for i in icons)

    shortcuts = {s["name"]: s["url"] for s in manifest["shortcuts"]}
    assert shortcuts == {"Journal": "/journal", "Today": "/today"}

    def check_png(url: str, sizes: str | None) -> None:
        got = page.request.get(live_server + url)
        assert got.ok, url
        assert got.headers["content-type"] == "image/png", url
        width, height = png_size(got.body())
        if sizes:
            assert f"{width}x{height}" == sizes, f"{url} is {width}x{height}, says {sizes}"

    for icon in icons + [i for s in manifest["shortcuts"] for i in s.get("icons", [])]:
        assert icon.get("type", "image/png") == "image/png"
        check_png(icon["src"], icon["sizes"])

    apple = page.locator('link[rel="apple-touch-icon"]').get_attribute("href")
    check_png(apple, "180x180")
    for path in ("/manifest.webmanifest", apple, shortcuts["Journal"], shortcuts["Today"]):
        assert page.request.get(live_server + path).ok, path


# --- 2. service worker --------------------------------------------------------------------------


def test_service_worker_controls_the_page_and_precaches_a_versioned_shell(
    page, live_server, make_user, app, new_context
):
    signed_in_participant(page, live_server, make_user)
    wait_until_controlled(page)
    state = page.evaluate(
        """async () => {
            const reg = await navigator.serviceWorker.getRegistration();
            return {scope: reg.scope, active: reg.active && reg.active.state,
                    controller: navigator.serviceWorker.controller.scriptURL,
                    caches: await caches.keys()};
        }"""
    )
    assert state["active"] == "activated"
    assert state["scope"] == live_server + "/"
    assert state["controller"] == live_server + "/sw.js"

    version = current_shell_version(app)
    shells = [name for name in state["caches"] if name.startswith("iop-shell-")]
    assert shells == [f"iop-shell-{version}"], state["caches"]
    assert SHELL_CACHE.match(shells[0])
    kept = page.evaluate(
        """async (name) => (await (await caches.open(name)).keys())
            .map((r) => new URL(r.url).pathname)""",
        shells[0],
    )
    # Static files under their content-hashed names (iop_pwa.static_assets), as pages ask for them.
    with app.test_request_context("/"):
        shell = {url_for("static", filename=name) for name in SHELL}
    assert all(re.fullmatch(r"/static/.+\.[0-9a-f]{10}\.\w+", path) for path in shell), shell
    assert set(kept) == shell | {"/offline", "/help"}

    # Never cached long, whoever asks: signed in (this context) and signed out.
    for who, request in (("signed in", page.request), ("signed out", new_context().request)):
        response = request.get(live_server + "/sw.js")
        assert response.ok
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers.get("cache-control") == "no-cache", (
            who,
            response.headers.get("cache-control"),
        )
        assert response.text().startswith("self.IOP_CONFIG = ")


# --- 3. pages offline ---------------------------------------------------------------------------


def test_offline_kept_pages_open_with_a_banner_and_others_show_the_offline_page(
    page, context, live_server, make_user
):
    signed_in_participant(page, live_server, make_user, name="Robin Park")
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/today", "/journal")

    context.set_offline(True)
    for path, heading in (("/today", re.compile(r"Robin$")), ("/journal", "Journal")):
        page.goto(live_server + path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        banner = page.get_by_role("status").filter(has_text="Offline: showing what you saw at")
        expect(banner).to_be_visible()
        expect(banner.locator("time")).to_have_text(re.compile(r"\d"))
        expect(banner.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))

    for path in ("/sessions", "/account"):
        page.goto(live_server + path)
        expect(page.get_by_role("heading", name="You're offline", level=1)).to_be_visible()
        expect(page.get_by_role("link", name="Go to Journal")).to_be_visible()

    # Back online, pages come from the network again, without the banner.
    context.set_offline(False)
    page.goto(live_server + "/journal")
    expect(page.get_by_role("heading", name="Journal", level=1)).to_be_visible()
    expect(page.locator("#offline-banner")).to_be_hidden()


def shell_copy_of(page: Page, path: str) -> str | None:
    """The text of `path` in the service worker's current shell cache (None if not there)."""
    return page.evaluate(
        """async (path) => {
            const names = (await caches.keys()).filter((n) => n.startsWith('iop-shell-'));
            for (const name of names) {
                const hit = await (await caches.open(name)).match(path);
                if (hit) return await hit.text();
            }
            return null;
        }""",
        path,
    )


def test_get_help_now_opens_offline_though_never_visited_and_leaves_kept_pages_alone(
    page, context, live_server, make_user
):
    robin = signed_in_participant(page, live_server, make_user, name="Robin Park")
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/today")

    # Precached with the shell, rendered for no one: nothing of Robin's, no session token.
    copy = shell_copy_of(page, "/help")
    assert copy is not None, "/help is not in the shell cache"
    for personal in ("Robin", robin.email, "X-CSRFToken", "data-user", "data-signed-out"):
        assert personal not in copy, personal

    # Every clean-up of kept pages starts by forgetting htmx's history key, at once: the page
    # records each key its scripts remove.
    context.add_init_script(FORGOTTEN_KEYS)
    context.set_offline(True)
    page.get_by_role("banner").get_by_role("link", name="Get help now").click()
    expect(page.get_by_role("heading", name="Get help now", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Call 988")).to_have_attribute("href", "tel:988")
    expect(page.get_by_role("heading", name="You're offline")).to_have_count(0)

    # Opening it changed nothing on the phone: Today is still kept and opens offline.
    page.wait_for_load_state("domcontentloaded")  # the page's scripts have all run
    assert "htmx-history-cache" not in page.evaluate("() => window.forgottenKeys"), (
        "opening the shell copy started a clean-up of the kept pages"
    )
    wait_until_kept(page, "/today")
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Robin$"))

    # Online, the same link shows the page as the signed-in person sees it.
    context.set_offline(False)
    page.goto(live_server + "/help")
    expect(page.get_by_role("heading", name="Get help now", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def test_the_offline_page_has_get_help_now_the_crisis_numbers_and_the_pages_that_open_offline(
    page, context, live_server, make_user
):
    """A page never visited, opened offline: the person still has "Get help now" where every
    page has it, the numbers to call, and the bar of the pages that open offline."""
    signed_in_participant(page, live_server, make_user, name="Robin Park")
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/today", "/journal")

    context.set_offline(True)
    page.goto(live_server + "/account")
    expect(page.get_by_role("heading", name="You're offline", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Call 988")).to_have_count(0)  # (the help page's)
    expect(page.get_by_role("link", name="988", exact=True)).to_have_attribute("href", "tel:988")
    expect(page.get_by_role("link", name="911", exact=True)).to_have_attribute("href", "tel:911")
    bar = page.get_by_role("navigation", name="Main")
    expect(bar.get_by_role("link")).to_have_text(
        ["Today", "Practice", "Journal", "Messages", "Sessions"]
    )
    page.screenshot(path=str(SCREENSHOTS / "offline-page.png"))

    bar.get_by_role("link", name="Journal").click()  # kept: opens from the phone
    expect(page.get_by_role("heading", name="Journal", level=1)).to_be_visible()
    page.goto(live_server + "/account")
    page.get_by_role("banner").get_by_role("link", name="Get help now").click()
    expect(page.get_by_role("heading", name="Get help now", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Call 988")).to_have_attribute("href", "tel:988")


def test_new_crisis_lines_make_a_new_shell_version_that_stores_them(
    page, live_server, make_user, app
):
    signed_in_participant(page, live_server, make_user)
    wait_until_controlled(page)
    old = current_shell_version(app)
    assert "Program line" not in shell_copy_of(page, "/help")

    app.config["CRISIS_RESOURCES"] = [
        *app.config["CRISIS_RESOURCES"],
        {
            "name": "Program line",
            "detail": "Our program's own number, answered day and night.",
            "href": "tel:+15555550100",
            "action": "Call the program",
        },
    ]
    new = current_shell_version(app)
    assert new != old
    page.evaluate("() => navigator.serviceWorker.getRegistration().then(r => r.update())")
    expect(page.get_by_role("status").filter(has_text="A new version is ready")).to_be_visible()
    stored = page.evaluate(
        """async (name) => {
            const hit = await (await caches.open(name)).match('/help');
            return hit ? await hit.text() : null;
        }""",
        f"iop-shell-{new}",
    )
    assert stored is not None and "Program line" in stored


# --- 4. writing offline, syncing later ----------------------------------------------------------


def test_writes_made_offline_wait_survive_a_reload_and_sync_once_in_order(
    page, context, live_server, make_user, db
):
    person = signed_in_participant(page, live_server, make_user)
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/today", "/journal")

    context.set_offline(True)
    page.goto(live_server + "/journal")
    write_entry(page, "First, written on the bus.", mood="3 · Okay")
    expect(outbox_count(page)).to_contain_text("1 waiting to sync")
    write_entry(page, "Second: the breathing exercise helped.")
    expect(outbox_count(page)).to_contain_text("2 waiting to sync")

    page.goto(live_server + "/today")
    check_in(page, "4 · Good")
    expect(outbox_count(page)).to_contain_text("3 waiting to sync")
    pending = page.locator('[data-outbox-list="mood-checkin"]')
    expect(pending.get_by_text("Waiting to sync")).to_have_count(1)
    expect(pending).to_contain_text("Mood: 4 · Good")

    # The journal page opens again from the device: a new entry must not replace an older one.
    page.goto(live_server + "/journal")
    write_entry(page, "Third, after group.")
    expect(outbox_count(page)).to_contain_text("4 waiting to sync")

    page.reload()
    expect(page.get_by_role("heading", name="Journal", level=1)).to_be_visible()
    expect(outbox_count(page)).to_contain_text("4 waiting to sync")
    kept = page.get_by_role("region", name="Kept on this phone")
    expect(kept.get_by_text("Waiting to sync")).to_have_count(3)
    for text in ("First, written on the bus.", "Second:", "Third, after group."):
        expect(kept).to_contain_text(text)
    # "Sync now" while offline sends nothing and loses nothing.
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_role("button", name="Sync now")).to_be_enabled()
    expect(outbox_count(page)).to_contain_text("4 waiting to sync")
    assert len(outbox_items(page)) == 4
    assert entries_of(db, person) == []

    # Back online: the `online` event alone sends everything (no tap needed).
    context.set_offline(False)
    wait_until_outbox_empty(page)
    expect(kept).to_be_hidden()

    rows = entries_of(db, person)
    assert [(r.kind, r.body, r.mood) for r in rows] == [
        ("entry", "First, written on the bus.", 3),
        ("entry", "Second: the breathing exercise helped.", None),
        ("checkin", "", 4),
        ("entry", "Third, after group.", None),
    ]
    assert len({r.client_id for r in rows}) == 4
    assert_in_written_order(rows)

    # Syncing again sends nothing twice.
    page.evaluate("() => IOPOutbox.flush()")
    assert len(entries_of(db, person)) == 4


# --- 5. an expired session ----------------------------------------------------------------------


def test_items_survive_an_expired_session_and_arrive_once_after_signing_in_again(
    page, context, live_server, make_user, db
):
    person = write_offline_in_the_journal(
        page, context, live_server, make_user, "Written before the session ended.", "And one more."
    )
    expect(outbox_count(page)).to_contain_text("2 waiting to sync")

    db.exec(delete(LoginSession).where(col(LoginSession.user_id) == person.id))
    db.commit()

    context.set_offline(False)  # the `online` event tries at once: refused, signed out
    expect(page.get_by_text("Your session ended.")).to_be_visible()
    # The 401 told the app the session is gone: the kept pages go, the waiting items stay.
    wait_until(page, NO_KEPT_PAGES)
    assert page.evaluate(DEVICE_STATE)["pages"] == {}
    assert len(outbox_items(page)) == 2
    page.get_by_role("button", name="Sync now").click()  # and again, by hand
    expect(page.get_by_role("button", name="Sync now")).to_be_enabled()
    expect(page.get_by_text("Your session ended.")).to_be_visible()
    expect(outbox_count(page)).to_contain_text("2 waiting to sync")
    expect(
        page.get_by_role("region", name="Kept on this phone").get_by_text("Waiting to sync")
    ).to_have_count(2)
    assert entries_of(db, person) == []

    page.get_by_role("link", name="Sign in again").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.get_by_label("Email", exact=True).fill(person.email)
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(live_server + "/journal")
    wait_until_outbox_empty(page)
    expect(page.get_by_text("Your session ended.")).to_be_hidden()

    rows = entries_of(db, person)
    assert [r.body for r in rows] == ["Written before the session ended.", "And one more."]
    assert_in_written_order(rows)
    expect(page.locator("#journal-entries")).to_contain_text("2 entries")


# --- 5a. the server can't reach its database -----------------------------------------------------


def test_a_write_answered_503_stays_on_the_phone_and_is_sent_when_the_server_is_back(
    page, context, live_server, make_user, db
):
    """While the database is down the server answers 503 with Retry-After (tests/test_faults.py
    proves it against a real PostgreSQL stopped under load). Here the browser gets that answer:
    the outbox keeps the item waiting, not refused, and sends it once the server answers again."""
    person = write_offline_in_the_journal(
        page, context, live_server, make_user, "Written while the records were down."
    )
    expect(outbox_count(page)).to_contain_text("1 waiting to sync")

    refused: list[str] = []

    def unavailable(route):
        if route.request.method != "POST":
            return route.continue_()
        refused.append(route.request.url)
        return route.fulfill(
            status=503,
            headers={"Retry-After": "10", "Cache-Control": "no-store"},
            content_type="application/json",
            body=json.dumps({"error": "unavailable", "title": "We can't reach our records"}),
        )

    context.route(re.compile(r".*/journal$"), unavailable)
    context.set_offline(False)  # the `online` event sends it: answered 503
    deadline = time.monotonic() + 10
    while not refused and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert refused, "the outbox did not try to send"
    expect(page.get_by_role("button", name="Sync now")).to_be_enabled()
    items = outbox_items(page)
    assert [item["status"] for item in items] == ["waiting"]
    expect(outbox_count(page)).to_contain_text("1 waiting to sync")
    assert entries_of(db, person) == []

    context.unroute(re.compile(r".*/journal$"))
    page.get_by_role("button", name="Sync now").click()
    wait_until_outbox_empty(page)
    assert [r.body for r in entries_of(db, person)] == ["Written while the records were down."]


# --- 5b. a session ended elsewhere --------------------------------------------------------------

NO_KEPT_PAGES = "async () => !(await caches.keys()).some((name) => name.startsWith('iop-pages-'))"


def test_a_session_ended_elsewhere_leaves_no_kept_pages_but_keeps_unsent_items(
    page, context, live_server, make_user, db, new_context
):
    """Signed out from another device, the phone forgets its kept pages as soon as it is sent to
    sign-in: offline, the journal no longer opens. What was waiting is sent after signing in."""
    person = signed_in_participant(page, live_server, make_user)
    wait_until_controlled(page)
    page.goto(live_server + "/journal")
    write_entry(page, "A private thought about my sister.")
    wait_until_outbox_empty(page)
    page.goto(live_server + "/journal")
    wait_until(
        page,
        """async ([name, text]) => {
            const kept = await (await caches.open(name)).match('/journal');
            return !!kept && (await kept.text()).includes(text);
        }""",
        arg=[PAGES_CACHE, "A private thought about my sister."],
    )

    context.set_offline(True)
    page.goto(live_server + "/journal")
    write_entry(page, "Written on the train, not sent yet.")
    expect(outbox_count(page)).to_contain_text("1 waiting to sync")
    page.goto("about:blank")  # no page of the app is open to notice anything by itself

    laptop = new_context(phone=False).new_page()
    sign_in(laptop, live_server, person.email)
    expect(laptop).to_have_url(live_server + "/today")
    laptop.goto(live_server + "/account")
    laptop.get_by_role("button", name="Sign out other devices").click()
    expect(laptop.get_by_text("Signed out of your other devices.")).to_be_visible()

    context.set_offline(False)
    page.goto(live_server + "/today")
    expect(page).to_have_url(re.compile(re.escape(live_server) + r"/sign-in\b"))
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.get_by_text("Written on the train")).to_have_count(0)
    wait_until(page, NO_KEPT_PAGES)
    state = page.evaluate(DEVICE_STATE)
    assert state["pages"] == {} and state["history"] is None, state
    assert [(i["userId"], i["summary"]) for i in state["items"]] == [
        (str(person.id), "Written on the train, not sent yet.")
    ]

    context.set_offline(True)
    page.goto(live_server + "/journal")
    expect(page.get_by_role("heading", name="You're offline", level=1)).to_be_visible()
    expect(page.get_by_text("A private thought")).to_have_count(0)

    context.set_offline(False)
    page.goto(live_server + "/journal")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.get_by_label("Email", exact=True).fill(person.email)
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(live_server + "/journal")
    wait_until_outbox_empty(page)
    assert [r.body for r in entries_of(db, person)] == [
        "A private thought about my sister.",
        "Written on the train, not sent yet.",
    ]


# --- 6. a replayed request ----------------------------------------------------------------------

REPLAY = """async ([clientId, times, together]) => {
    const who = await (await fetch('/api/session', {headers: {Accept: 'application/json'}})).json();
    const post = async () => {
        const body = new FormData();
        body.append('client_id', clientId);
        body.append('body', 'Sent twice by a flaky connection.');
        body.append('csrf_token', who.csrf);
        const r = await fetch('/journal', {method: 'POST', body, redirect: 'manual', headers: {
            Accept: 'application/json', 'X-Outbox': '1', 'X-CSRFToken': who.csrf}});
        return {status: r.status, type: r.headers.get('Content-Type'), data: await r.json()};
    };
    if (together) return Promise.all(Array.from({length: times}, post));
    const answers = [];
    for (let i = 0; i < times; i++) answers.push(await post());
    return answers;
}"""


def test_a_replayed_write_is_stored_once_and_both_answers_echo_its_id(
    page, live_server, make_user, db, new_context
):
    person = signed_in_participant(page, live_server, make_user)
    one, two = "6f1c3c9e-1111-4c1a-9a55-3e6b1f7a0a01", "6f1c3c9e-2222-4c1a-9a55-3e6b1f7a0a02"

    for client_id, together in ((one, False), (two, True)):
        answers = page.evaluate(REPLAY, [client_id, 2, together])
        for answer in answers:
            assert answer["status"] == 200, answer
            assert answer["type"].startswith("application/json")
            assert answer["data"]["id"] == client_id
            assert answer["data"]["status"] == "saved"

    rows = entries_of(db, person)
    assert [r.client_id for r in rows] == [one, two]

    # Signed out, the session endpoint answers 401 JSON, never a redirect to the sign-in page.
    stranger = new_context().request.get(live_server + "/api/session", max_redirects=0)
    assert stranger.status == 401
    assert stranger.json()["error"] == "signed_out"


# --- 7. a refused item --------------------------------------------------------------------------

TOO_LONG = "x" * 20_001


def queue_too_long(page: Page) -> None:
    open_new_entry(page)
    page.get_by_label("Your entry", exact=True).evaluate(
        "(el, text) => { el.value = text; }", TOO_LONG
    )
    page.get_by_role("button", name="Save entry").click()


def test_a_refused_item_says_why_and_can_be_fixed_or_discarded(page, live_server, make_user, db):
    person = signed_in_participant(page, live_server, make_user)
    page.goto(live_server + "/journal")

    queue_too_long(page)
    kept = page.get_by_role("region", name="Kept on this phone")
    expect(kept.get_by_text("Not sent", exact=True)).to_be_visible()
    expect(kept).to_contain_text("Entries can be up to 20,000 characters.")
    expect(kept.get_by_text("Waiting to sync")).to_have_count(0)
    # Refused is not "waiting": it will not go until it is fixed.
    expect(page.locator("#outbox-count")).to_have_text("1 not sent")

    # Fix it: the text goes back into the form, shortened it is stored under the same id.
    client_id = outbox_items(page)[0]["id"]
    kept.get_by_role("button", name="Fix and send again").click()
    body = page.get_by_label("Your entry", exact=True)
    expect(body).to_have_value(TOO_LONG)
    expect(kept).to_be_hidden()
    body.fill("Shorter now.")
    page.get_by_role("button", name="Save entry").click()
    expect(page.get_by_role("status").filter(has_text="Your entry is saved.")).to_be_visible()
    rows = entries_of(db, person)
    assert [(r.client_id, r.body) for r in rows] == [(client_id, "Shorter now.")]

    # Discard another one, after confirming.
    queue_too_long(page)
    expect(kept.get_by_text("Not sent", exact=True)).to_be_visible()
    dialogs = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    kept.get_by_role("button", name="Discard").click()
    expect(kept).to_be_hidden()
    expect(outbox_count(page)).to_be_hidden()
    assert dialogs and "Discard" in dialogs[0]
    assert outbox_items(page) == []
    assert len(entries_of(db, person)) == 1

    # With an entry to read, the page opens with the form closed behind "New entry":
    # "Fix and send again" opens it.
    queue_too_long(page)
    page.reload()
    expect(page.get_by_label("Your entry", exact=True)).to_be_hidden()
    kept.get_by_role("button", name="Fix and send again").click()
    expect(page.get_by_label("Your entry", exact=True)).to_be_visible()
    expect(page.get_by_label("Your entry", exact=True)).to_have_value(TOO_LONG)


# --- 8. sign-out cleanup ------------------------------------------------------------------------

DEVICE_STATE = """async () => {
    const pages = {};
    for (const name of await caches.keys()) {
        if (!name.startsWith('iop-pages-')) continue;
        const cache = await caches.open(name);
        for (const request of await cache.keys()) {
            const key = name + ' ' + new URL(request.url).pathname;
            pages[key] = await (await cache.match(request)).text();
        }
    }
    const items = await new Promise((resolve, reject) => {
        let missing = false;
        const open = indexedDB.open('iop-outbox');
        // No database: create none (the app makes it with its own schema).
        open.onupgradeneeded = () => { missing = true; open.transaction.abort(); };
        open.onsuccess = () => {
            const db = open.result;
            const tx = db.transaction('items', 'readonly');
            const all = tx.objectStore('items').getAll();
            all.onsuccess = () => { db.close(); resolve(all.result); };
            all.onerror = () => reject(all.error);
        };
        open.onerror = () => (missing ? resolve([]) : reject(open.error));
    });
    return {pages, items, history: localStorage.getItem('htmx-history-cache')};
}"""


def test_sign_out_asks_about_unsent_items_and_leaves_nothing_of_the_person_behind(
    page, live_server, make_user
):
    robin = signed_in_participant(page, live_server, make_user, name="Robin Park")
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/today", "/journal")
    page.evaluate("() => localStorage.setItem('htmx-history-cache', '[{\"url\": \"/journal\"}]')")
    queue_too_long(page)  # refused by the server, so it stays on the phone
    expect(outbox_count(page)).to_contain_text("1 not sent")
    before = page.evaluate(DEVICE_STATE)
    assert any("Robin" in html for html in before["pages"].values())
    assert [item["userId"] for item in before["items"]] == [str(robin.id)]

    # On a phone, Sign out is on the Account page.
    page.get_by_role("banner").get_by_role("link", name="Account", exact=True).click()
    sign_out = page.get_by_role("main").get_by_role("button", name="Sign out", exact=True)
    sign_out.click()
    dialog = page.get_by_role("dialog", name="Some writing is not sent yet")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("You wrote 1 item on this phone that the server does not have")
    dialog.get_by_role("button", name="Stay signed in").click()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(live_server + "/account")

    sign_out.click()
    dialog.get_by_role("button", name="Sign out and discard 1 unsent item").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    signed_out = page.evaluate(DEVICE_STATE)
    assert signed_out == {"pages": {}, "items": [], "history": None}, signed_out

    sam = make_user("participant", name="Sam Lee")
    sign_in(page, live_server, sam.email)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Sam$"))
    after = page.evaluate(DEVICE_STATE)
    leftovers = [key for key, html in after["pages"].items() if "Robin" in html]
    assert leftovers == [], f"Robin's pages still on the phone: {leftovers}"
    assert not any(key.endswith(" /journal") for key in after["pages"]), after["pages"].keys()
    assert [item for item in after["items"] if item.get("userId") == str(robin.id)] == []
    assert after["history"] is None


# --- 9. updates ---------------------------------------------------------------------------------


def test_a_new_service_worker_waits_for_the_person_to_tap_reload(page, live_server, make_user, app):
    signed_in_participant(page, live_server, make_user)
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/today")
    old = current_shell_version(app)
    expect(page.locator("#update-banner")).to_be_hidden()

    app.config["SW_VERSION_SALT"] = "v2"
    new = current_shell_version(app)
    assert new != old
    page.evaluate("() => navigator.serviceWorker.getRegistration().then(r => r.update())")

    banner = page.get_by_role("status").filter(has_text="A new version is ready")
    expect(banner).to_be_visible()
    # Waiting, not in charge yet: the old shell still serves this page.
    assert page.evaluate("async () => !!(await navigator.serviceWorker.getRegistration()).waiting")
    page.evaluate("() => { window.beforeUpdate = true; }")

    with page.expect_navigation():
        banner.get_by_role("button", name="Reload").click()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    assert page.evaluate("() => window.beforeUpdate === undefined"), "the page did not reload"
    state = page.evaluate(
        """async () => {
            const reg = await navigator.serviceWorker.getRegistration();
            return {waiting: !!reg.waiting, active: reg.active.state,
                    controlled: navigator.serviceWorker.controller === reg.active,
                    caches: await caches.keys()};
        }"""
    )
    assert state["waiting"] is False
    assert state["active"] == "activated"
    assert state["controlled"] is True
    shells = sorted(name for name in state["caches"] if name.startswith("iop-shell-"))
    assert shells == [f"iop-shell-{new}"], state["caches"]
    assert PAGES_CACHE in state["caches"]  # an update keeps the pages saved for offline
    expect(page.locator("#update-banner")).to_be_hidden()


def test_signing_out_offline_changes_nothing_and_says_why(page, live_server, make_user):
    """Signing out ends the session on the server; offline it must not wipe the phone and leave
    the session alive, so the app explains and keeps everything. (A tablet: there Sign out is
    in the top bar of every page; a phone has it only on the Account page, not kept offline.)"""
    page.set_viewport_size({"width": 800, "height": 1000})
    signed_in_participant(page, live_server, make_user)
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/today", "/journal")
    page.context.set_offline(True)
    write_entry(page, "Kept while offline")
    messages: list[str] = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Journal", level=1)).to_be_visible()
    assert messages and "needs a connection" in messages[0]
    assert len(outbox_items(page)) == 1  # nothing was wiped
    page.context.set_offline(False)
    wait_until_outbox_empty(page)
    page.goto(live_server + "/today")
    expect(page).to_have_url(live_server + "/today")  # still signed in


# --- 4b. one flush at a time --------------------------------------------------------------------


class OutboxTraffic:
    """WSGI middleware on the live server: how many of the outbox's requests (its session
    check and its posts) were being answered at once, at most. Each is answered `slow` seconds
    late (a phone's network), so that two flushes running side by side would overlap here."""

    def __init__(self, wsgi_app, slow: float = 0.4):
        import threading

        self.wsgi_app, self.slow = wsgi_app, slow
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.log: list[str] = []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        ours = path == "/api/session" or environ.get("HTTP_X_OUTBOX") == "1"
        if not ours:
            return self.wsgi_app(environ, start_response)
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.log.append(f"{environ['REQUEST_METHOD']} {path}")
        try:
            time.sleep(self.slow)
            return list(self.wsgi_app(environ, start_response))
        finally:
            with self.lock:
                self.now -= 1


def test_going_back_online_flushes_the_outbox_once_at_a_time(
    page, context, live_server, make_user, db, app
):
    """Back online, the page (its `online` event), the service worker (Background Sync) and a
    tap on "Sync now" each start a flush: they run one after another, never side by side, and a
    flush asked for while one runs is run once after it, not once per request."""
    traffic = OutboxTraffic(app.wsgi_app)
    app.wsgi_app = traffic
    person = write_offline_in_the_journal(
        page, context, live_server, make_user, "First, on the bus.", "Second, still offline."
    )
    expect(outbox_count(page)).to_contain_text("2 waiting to sync")

    context.set_offline(False)  # the `online` event and Background Sync both flush
    for _ in range(3):
        page.get_by_role("button", name="Sync now").dispatch_event("click")
    wait_until_outbox_empty(page)
    rows = entries_of(db, person)
    assert [r.body for r in rows] == ["First, on the bus.", "Second, still offline."]
    assert traffic.most == 1, traffic.log
    assert traffic.log.count("POST /journal") == 2, traffic.log  # each sent once


def test_taps_on_sync_now_during_a_flush_make_one_more_flush_not_one_each(
    page, context, live_server, make_user, db, app
):
    """The session ended meanwhile, so every flush asks the server and keeps the items: three
    taps while one flush runs give that flush and one more, run after it."""
    person = write_offline_in_the_journal(
        page, context, live_server, make_user, "Waiting for a signal."
    )
    db.exec(delete(LoginSession).where(col(LoginSession.user_id) == person.id))
    db.commit()
    traffic = OutboxTraffic(app.wsgi_app)
    app.wsgi_app = traffic
    context.set_offline(False)
    expect(page.get_by_text("Your session ended.")).to_be_visible()
    wait_until(page, "() => !document.querySelector('#sync-now').disabled")
    before = len(traffic.log)
    page.evaluate(
        """() => Promise.all([IOPOutbox.flush(), IOPOutbox.flush(), IOPOutbox.flush(),
                              IOPOutbox.flush()])"""
    )
    assert traffic.log[before:] == ["GET /api/session", "GET /api/session"], traffic.log
    assert len(outbox_items(page)) == 1


# --- 3b. a slow network -------------------------------------------------------------------------

SLOWER_THAN_THE_WORKER_WAITS = 6.0  # seconds; sw.js gives the network 4 before using a copy


class SlowPages:
    """WSGI middleware on the live server: a page in `paths` is answered late, as over a slow
    mobile network (the real service worker waits for it, as it would for the phone's radio)."""

    def __init__(self, wsgi_app, *paths: str, delay: float = SLOWER_THAN_THE_WORKER_WAITS):
        self.wsgi_app, self.paths, self.delay = wsgi_app, set(paths), delay
        self.answered: list[str] = []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in self.paths and environ["REQUEST_METHOD"] == "GET":
            time.sleep(self.delay)
            self.answered.append(path)
        return self.wsgi_app(environ, start_response)


def test_on_a_slow_network_a_page_never_kept_goes_on_loading_and_says_so(
    page, context, live_server, make_user, app
):
    signed_in_participant(page, live_server, make_user)
    wait_until_controlled(page)
    note = page.get_by_role("status").filter(has_text="Still loading on a slow connection")
    expect(note).to_be_hidden()
    # While a navigation is pending, Chromium answers DevTools questions about the page only
    # after it (Playwright's locators too): what the person sees is read from the screen, where
    # the note must look exactly as it does when shown.
    screen = context.new_cdp_session(page)
    page.locator("#slow-banner").evaluate("(el) => { el.hidden = false; }")
    box = page.locator("#slow-banner").bounding_box()
    clip = {**box, "scale": 1}
    shown = screen.send("Page.captureScreenshot", {"clip": clip})["data"]
    page.locator("#slow-banner").evaluate("(el) => { el.hidden = true; }")
    assert screen.send("Page.captureScreenshot", {"clip": clip})["data"] != shown
    app.wsgi_app = slow = SlowPages(app.wsgi_app, "/account")

    page.get_by_role("link", name="Account", exact=True).click(no_wait_after=True)
    deadline = time.monotonic() + SLOWER_THAN_THE_WORKER_WAITS - 1
    while screen.send("Page.captureScreenshot", {"clip": clip})["data"] != shown:
        assert time.monotonic() < deadline, "no word that the page is still loading"
        time.sleep(0.1)
    assert slow.answered == []  # said while the answer was still on its way
    # Not "You're offline" once the worker's 4 seconds are up: the page itself, when it comes.
    account = page.get_by_role("heading", name="Account", level=1)
    expect(account).to_be_visible(timeout=SLOWER_THAN_THE_WORKER_WAITS * 1000 + 5_000)
    expect(page).to_have_url(live_server + "/account")
    expect(page.get_by_role("heading", name="You're offline")).to_have_count(0)
    expect(note).to_be_hidden()
    assert slow.answered == ["/account"]


def test_on_a_slow_network_a_kept_page_opens_from_the_phone_and_is_kept_afresh(
    page, live_server, make_user, app
):
    signed_in_participant(page, live_server, make_user)
    wait_until_controlled(page)
    visit_and_keep(page, live_server, "/journal")
    saved_at = page.evaluate(KEPT_AT, [PAGES_CACHE, "/journal"])
    page.goto(live_server + "/today")
    app.wsgi_app = slow = SlowPages(app.wsgi_app, "/journal")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Journal").click(
        no_wait_after=True
    )
    expect(page.get_by_role("heading", name="Journal", level=1)).to_be_visible(timeout=8_000)
    banner = page.get_by_role("status").filter(has_text="showing what you saw at")
    expect(banner).to_be_visible()
    # The late answer still arrives, and is what the phone keeps for next time.
    deadline = time.monotonic() + SLOWER_THAN_THE_WORKER_WAITS + 5
    while not slow.answered and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert slow.answered == ["/journal"]
    wait_until(page, KEPT_AFTER, [PAGES_CACHE, "/journal", saved_at])


KEPT_AT = """async ([name, path]) => {
    const hit = await (await caches.open(name)).match(path);
    return hit && (await hit.text()).match(/data-offline-saved-at="([^"]+)"/)[1];
}"""

KEPT_AFTER = """async ([name, path, before]) => {
    const hit = await (await caches.open(name)).match(path);
    const at = hit && (await hit.text()).match(/data-offline-saved-at="([^"]+)"/)[1];
    return !!at && at > before;
}"""
