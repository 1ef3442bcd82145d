"""What the browser tests do the way a person (or a screen reader) would: sign in, run axe."""

from __future__ import annotations

import re
import struct
from datetime import timedelta

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from iop_pwa.accounts import services
from iop_pwa.accounts.models import User
from iop_pwa.db import session_scope
from iop_pwa.demo import DEMO_TOTP_SECRET
from tests.conftest import PASSWORD, STAFF_TOTP_SECRET, totp_code

AXE = Axe()
GREETING = re.compile(r"^Good (morning|afternoon|evening), ")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Open the site's start page and sign in through the form, by its labels."""
    page.goto(base_url + "/")
    expect(page.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    if "/sign-in/second-factor" in page.url:
        # Staff: the code of the authenticator app `make_user` (or the demo) gave them, as a
        # person types it.
        email = email.strip().lower()
        secret = DEMO_TOTP_SECRET if email.endswith("@demo.test") else STAFF_TOTP_SECRET
        page.get_by_label("Code", exact=True).fill(totp_code(email, secret))
        with page.expect_navigation():
            page.get_by_role("button", name="Continue", exact=True).click()


def greeting(first_name: str) -> re.Pattern:
    return re.compile(GREETING.pattern + re.escape(first_name) + "$")


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def _describe(violations: list[dict]) -> str:
    lines = [f"{len(violations)} axe violation(s) on {{url}}:"]
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v.get('help')} <{v.get('helpUrl')}>")
        for node in v["nodes"]:
            target = " ".join(str(t) for t in node.get("target", []))
            lines.append(f"    at {target}: {node.get('html', '')[:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"      {summary[:300]}")
    return "\n".join(lines)


def wait_until_styled(page: Page) -> None:
    """The page has its stylesheet and fonts. A heading is "visible" as soon as it is parsed, while
    app.css may still be on its way (a busy machine, a slow revalidation): measured then, colours
    are the browser's defaults, which in dark mode fail contrast. This made the dark-mode checks
    fail now and then."""
    page.wait_for_load_state("load")
    page.evaluate("() => document.fonts.ready.then(() => true)")


def assert_no_axe_violations(page: Page, *, rules: list[str] | None = None) -> None:
    """Run axe-core (bundled, offline) on the page as it is now, once it is styled; fail with
    readable findings."""
    wait_until_styled(page)
    options: dict = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    violations = AXE.run(page, options=options).response["violations"]
    assert not violations, _describe(violations).replace("{url}", page.url)


def assert_page_sets_its_background(page: Page) -> None:
    """The page paints its own background (on <html> or <body>) in the current colour scheme.

    axe-core measures contrast against white when no element sets a background colour, even where
    the browser paints a dark canvas for `color-scheme: dark` (axe-core issues #3605, #4608): a
    dark theme that leaves the canvas to the browser cannot be checked, so it must set one.
    """
    wait_until_styled(page)
    backgrounds = page.evaluate(
        """() => [document.documentElement, document.body].map(
            (el) => getComputedStyle(el).backgroundColor)"""
    )
    transparent = {"transparent", "rgba(0, 0, 0, 0)"}
    assert any(bg not in transparent for bg in backgrounds), (
        f"neither <html> nor <body> sets a background-color on {page.url} "
        f"(computed: {backgrounds}); axe would measure contrast against white"
    )


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, after checking that it is one."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def make_invitation_token(app, therapist: User, name: str) -> str:
    """Arrange an open invitation directly (as the service does) and return its raw token."""
    with app.app_context(), session_scope() as db:
        _, token = services.create_invitation(
            db,
            therapist=db.get(User, therapist.id),
            name=name,
            email=None,
            group=None,
            valid_for=timedelta(days=7),
        )
    return token


def create_invitation_in_dashboard(page: Page, *, name: str, group: str) -> None:
    """As a signed-in therapist: Dashboard → Invite a participant → fill → Create invitation."""
    main_nav(page).get_by_role("link", name="Dashboard", exact=True).click()
    page.get_by_role("link", name="Invite a participant").click()
    expect(page.get_by_role("heading", name="Invite a participant", level=1)).to_be_visible()
    page.get_by_label("Participant's name").fill(name)
    page.get_by_label("Group", exact=True).select_option(label=group)
    page.get_by_role("button", name="Create invitation").click()
    expect(page.get_by_role("heading", name=f"Invitation for {name}", level=1)).to_be_visible()
