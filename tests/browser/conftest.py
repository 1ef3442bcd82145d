"""Real-browser tests: headless Debian Chromium driven by Playwright's sync API.

Every test here is marked `browser`. Without Chromium they are skipped with a reason, unless
REQUIRE_BROWSER=1 (CI), where a missing browser is an error: a skipped suite must never pass
silently. The app under test is the per-test `app` fixture served by a real Werkzeug server on a
random free port, against the same database that `make_user` and friends arrange data in.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    """Mark every test collected from this folder (and below) as a browser test."""
    for item in items:
        if HERE == item.path.parent or HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


def _require_chromium() -> None:
    if Path(CHROMIUM_PATH).exists():
        return
    reason = f"Chromium not installed: apt-get install chromium (looked for {CHROMIUM_PATH})"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_driver():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver):
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM_PATH, args=LAUNCH_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser) -> Iterator[Callable]:
    """Factory for extra browser contexts (a second person, a second device); all closed after.

    `new_context(phone=True, **playwright_options)`: phone-sized (390x844, touch) by default,
    desktop-sized (1280x800) with `phone=False`.
    """
    made = []

    def make(*, phone: bool = True, **options):
        if phone:
            defaults = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
        else:
            defaults = {"viewport": DESKTOP}
        context = browser.new_context(**{**defaults, **options})
        context.set_default_timeout(5_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def context(new_context):
    """A phone-sized browser context (participant tests)."""
    return new_context(phone=True)


@pytest.fixture
def page(context):
    """A page on a phone-sized viewport, 390x844."""
    return context.new_page()


@pytest.fixture
def desktop_page(new_context):
    """A page on a desktop-sized viewport, 1280x800 (therapist tests)."""
    return new_context(phone=False).new_page()


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The test's `app` served on 127.0.0.1 at a random free port; yields its base URL."""
    # One line per request (pages, scripts, styles) would drown a failure's report.
    request_log = logging.getLogger("werkzeug")
    level = request_log.level
    request_log.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        request_log.setLevel(level)
