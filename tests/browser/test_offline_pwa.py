"""The installable, offline-first app in real Chromium: manifest and icons, the service worker,
pages read offline, writes queued offline and sent exactly once, expired sessions, sign-out
cleanup and the update banner."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from iop_pwa.accounts.models import LoginSession
from iop_pwa.journal.models import JournalEntry
from tests.browser.helpers import png_size, sign_in


def _ready(page):
    """Wait until the service worker controls the page."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("!!navigator.serviceWorker.controller"):
        page.reload()
    expect(page.locator("body")).to_be_visible()
    assert page.evaluate("!!navigator.serviceWorker.controller")


def _wait_for(check, timeout=8.0):
    """Poll the server's database until `check()` is true (bounded), for syncs that happen in
    the background with nothing on the page to wait on."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the sync to reach the server"
        time.sleep(0.1)


def _entries(db, user):
    return db.exec(
        select(JournalEntry).where(JournalEntry.user_id == user.id).order_by(JournalEntry.id)
    ).all()


@pytest.fixture
def participant(make_user):
    therapist = make_user("therapist")
    return make_user("participant", name="Robin Vale", therapist=therapist)


def test_manifest_and_icons(page, live_server, participant):
    sign_in(page, live_server, participant.email)
    href = page.locator('link[rel="manifest"]').get_attribute("href")
    response = page.request.get(live_server + href)
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.body())
    for key in (
        "id",
        "name",
        "short_name",
        "start_url",
        "scope",
        "theme_color",
        "background_color",
    ):
        assert manifest[key], key
    assert manifest["display"] == "standalone"
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        image = page.request.get(live_server + icon["src"])
        assert image.headers["content-type"] == "image/png"
        width, height = png_size(image.body())
        assert f"{width}x{height}" == icon["sizes"]
    assert {s["name"] for s in manifest["shortcuts"]} == {"Journal", "Today"}
    touch = page.locator('link[rel="apple-touch-icon"]').get_attribute("href")
    assert png_size(page.request.get(live_server + touch).body()) == (180, 180)


def test_service_worker_controls_the_page_and_is_never_cached_long(page, live_server, participant):
    sign_in(page, live_server, participant.email)
    _ready(page)
    worker = page.request.get(live_server + "/sw.js")
    assert worker.headers["cache-control"] == "no-cache"
    names = page.evaluate("caches.keys()")
    assert any(re.fullmatch(r"iop-shell-[0-9a-f]{12}", n) for n in names), names


def test_key_pages_open_offline_with_a_banner_and_others_show_the_offline_page(
    page, live_server, participant
):
    sign_in(page, live_server, participant.email)
    _ready(page)
    page.goto(live_server + "/today")
    page.goto(live_server + "/journal")
    page.context.set_offline(True)
    for path, heading in (("/today", re.compile("^Good")), ("/journal", "Journal")):
        page.goto(live_server + path)
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        expect(page.get_by_text(re.compile(r"Offline: showing what you saw at \d"))).to_be_visible()
    page.goto(live_server + "/account")
    expect(page.get_by_role("heading", name="You're offline")).to_be_visible()


def test_writes_made_offline_survive_a_reload_and_arrive_once_in_order(
    page, live_server, participant, db
):
    sign_in(page, live_server, participant.email)
    _ready(page)
    page.goto(live_server + "/journal")
    page.context.set_offline(True)
    for text in ("First offline note", "Second offline note", "Third offline note"):
        page.get_by_label("Your entry").fill(text)
        page.get_by_role("button", name="Save entry").click()
        expect(page.get_by_text(text)).to_be_visible()
    page.goto(live_server + "/today")
    page.get_by_role("region", name="Mood check-in").get_by_label("2 · Low").check()
    page.get_by_role("button", name="Save check-in").click()
    expect(page.get_by_text("4 waiting to sync")).to_be_visible()
    page.reload()
    expect(page.get_by_text("4 waiting to sync")).to_be_visible()
    page.goto(live_server + "/journal")
    pending = page.get_by_role("region", name="Kept on this phone")
    expect(pending.get_by_text("Waiting to sync")).to_have_count(3)
    assert _entries(db, participant) == []

    page.context.set_offline(False)  # the app syncs by itself when the connection returns
    expect(page.locator("#outbox-status")).to_be_hidden()
    rows = _entries(db, participant)
    assert [(r.kind, r.body) for r in rows] == [
        ("entry", "First offline note"),
        ("entry", "Second offline note"),
        ("entry", "Third offline note"),
        ("checkin", ""),
    ]
    assert rows[3].mood == 2
    assert all(r.written_at <= r.received_at for r in rows)
    page.reload()
    assert len(_entries(db, participant)) == 4


def test_an_expired_session_loses_nothing(page, live_server, participant, db):
    sign_in(page, live_server, participant.email)
    _ready(page)
    page.goto(live_server + "/journal")
    page.context.set_offline(True)
    for text in ("Written on the bus", "Written at home"):
        page.get_by_label("Your entry").fill(text)
        page.get_by_role("button", name="Save entry").click()
        expect(page.get_by_text(text)).to_be_visible()
    for row in db.exec(select(LoginSession)).all():  # the session ends on the server
        db.delete(row)
    db.commit()
    page.context.set_offline(False)
    expect(page.get_by_text("Your session ended")).to_be_visible()
    page.get_by_role("button", name="Sync now").click()  # trying again changes nothing
    expect(page.get_by_text("Your session ended")).to_be_visible()
    expect(page.get_by_text("2 waiting to sync")).to_be_visible()
    assert _entries(db, participant) == []

    page.get_by_role("link", name="Sign in again").click()
    page.get_by_label("Email", exact=True).fill(participant.email)
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Sign in", exact=True).click()
    _wait_for(lambda: len(_entries(db, participant)) == 2)
    assert [r.body for r in _entries(db, participant)] == ["Written on the bus", "Written at home"]
    expect(page.locator("#outbox-status")).to_be_hidden()


def test_a_replayed_request_creates_one_row(page, live_server, participant, db):
    sign_in(page, live_server, participant.email)
    client_id = str(uuid.uuid4())
    answers = page.evaluate(
        """async (id) => {
            const json = {Accept: 'application/json'};
            const who = await (await fetch('/api/session', {headers: json})).json();
            const send = async () => {
                const body = new FormData();
                body.set('client_id', id);
                body.set('body', 'Sent twice');
                body.set('csrf_token', who.csrf);
                const r = await fetch('/journal', {method: 'POST', body,
                    headers: {...json, 'X-Outbox': '1', 'X-CSRFToken': who.csrf}});
                return [r.status, (await r.json()).id];
            };
            return [await send(), await send()];
        }""",
        client_id,
    )
    assert answers == [[200, client_id], [200, client_id]]
    assert [r.body for r in _entries(db, participant)] == ["Sent twice"]


def test_a_refused_item_is_kept_with_the_reason_until_discarded(page, live_server, participant, db):
    sign_in(page, live_server, participant.email)
    _ready(page)
    page.goto(live_server + "/journal")
    page.get_by_label("Your entry").evaluate(
        "(el) => { el.removeAttribute('maxlength'); el.value = 'x'.repeat(20001); }"
    )
    page.get_by_role("button", name="Save entry").click()
    pending = page.get_by_role("region", name="Kept on this phone")
    expect(pending.get_by_text("Not sent")).to_be_visible()
    expect(pending.get_by_text(re.compile("up to 20,000 characters"))).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    pending.get_by_role("button", name="Discard").click()
    expect(pending).to_be_hidden()
    assert _entries(db, participant) == []


def test_sign_out_clears_this_phone_for_the_next_person(
    page, live_server, make_user, participant, db
):
    other = make_user("participant", name="Kim Other")
    sign_in(page, live_server, participant.email)
    _ready(page)
    page.goto(live_server + "/journal")
    page.context.set_offline(True)
    page.get_by_label("Your entry").fill("Robin's unsent words")
    page.get_by_role("button", name="Save entry").click()
    expect(page.get_by_text("1 waiting to sync")).to_be_visible()
    for row in db.exec(select(LoginSession)).all():  # it can't be sent: the session ended
        db.delete(row)
    db.commit()
    page.context.set_offline(False)
    expect(page.get_by_text("Your session ended")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    dialog = page.get_by_role("dialog", name="Some writing is not sent yet")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Sign out and discard 1 unsent item").click()
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()

    sign_in(page, live_server, other.email)
    _ready(page)
    leftovers = page.evaluate(
        """async () => {
            const names = await caches.keys();
            const pages = [];
            for (const name of names.filter(n => n.startsWith('iop-pages-'))) {
                const cache = await caches.open(name);
                for (const request of await cache.keys()) {
                    pages.push(await (await cache.match(request)).text());
                }
            }
            const items = await window.IOPOutbox.all();
            return {robinPages: pages.filter(t => t.includes('Robin')).length,
                    items: items.length,
                    history: localStorage.getItem('htmx-history-cache')};
        }"""
    )
    assert leftovers == {"robinPages": 0, "items": 0, "history": None}


def test_a_new_service_worker_shows_the_update_banner(app, page, live_server, participant):
    sign_in(page, live_server, participant.email)
    _ready(page)
    first = page.evaluate("caches.keys()")
    app.config["SW_VERSION_SALT"] = "a new version"
    page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    banner = page.get_by_text("A new version is ready.")
    expect(banner).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Reload").click()
    _ready(page)
    expect(banner).to_be_hidden()
    after = page.evaluate("caches.keys()")
    shells = [n for n in after if n.startswith("iop-shell-")]
    assert len(shells) == 1 and shells[0] not in first  # the old shell cache is gone


def test_writing_again_after_an_offline_reload_keeps_both_items(page, live_server, participant, db):
    """A page opened from the device carries the client id it was saved with; each page view
    must use fresh ids, or a second write would replace the first in the outbox."""
    sign_in(page, live_server, participant.email)
    _ready(page)
    page.goto(live_server + "/journal")
    page.context.set_offline(True)
    page.reload()
    page.get_by_label("Your entry").fill("Before the reload")
    page.get_by_role("button", name="Save entry").click()
    expect(page.get_by_text("1 waiting to sync")).to_be_visible()
    page.reload()
    page.get_by_label("Your entry").fill("After the reload")
    page.get_by_role("button", name="Save entry").click()
    expect(page.get_by_text("2 waiting to sync")).to_be_visible()
    page.context.set_offline(False)
    _wait_for(lambda: len(_entries(db, participant)) == 2)
    assert [r.body for r in _entries(db, participant)] == ["Before the reload", "After the reload"]
