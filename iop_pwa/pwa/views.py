"""What makes the app installable and offline-first: the manifest, the service worker, the offline
page, and the small JSON endpoints the device's outbox uses."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from iop_pwa.features import registry
from iop_pwa.web import CORE_NAV, NavLink

bp = Blueprint("pwa", __name__)

ROOT = Path(__file__).resolve().parents[2]
SERVICE_WORKER = ROOT / "service_worker" / "sw.js"

# The shell every page needs, precached at install so the app opens without a connection.
SHELL = [
    "css/app.css",
    "vendor/htmx.min.js",
    "js/dates.js",
    "js/app.js",
    "js/outbox.js",
    "js/pwa.js",
    "js/copy.js",
    "js/live.js",
    "js/refresh.js",
    "js/push.js",
    "js/passkeys.js",
    "icons/nav.svg",
    "icons/icon.svg",
    "icons/icon-192.png",
]

# Public pages precached with the shell, so they open offline even if never visited: the crisis
# help ("Get help now" must work without a connection) and the offline page. The service worker
# fetches them without cookies and with SHELL_COPY_HEADER, so they are rendered for no one: no
# name, no CSRF token, nothing that says who is signed in (see `is_shell_copy`).
SHELL_PAGES = ("safety.crisis_help", "pwa.offline")
SHELL_COPY_HEADER = "X-Shell-Copy"

# Core's pages kept for the signed-in person to read offline (network first, cache as
# fallback); features add theirs when they register (`Feature.offline_pages`).
CORE_OFFLINE_PAGES = ("/today",)


def offline_pages() -> tuple[list[str], list[str]]:
    """Exact paths and path prefixes (ending in "/") of the pages kept for offline reading."""
    paths = [*CORE_OFFLINE_PAGES, *registry().offline_pages]
    return [p for p in paths if not p.endswith("/")], [p for p in paths if p.endswith("/")]


@bp.app_context_processor
def _shell_copy() -> dict:
    return {"shell_copy": is_shell_copy()}


def is_shell_copy() -> bool:
    """This request is the service worker precaching a public shell page (signed out, as it sends
    no cookies): render it for no one, so that opening it offline changes nothing on the device."""
    return request.headers.get(SHELL_COPY_HEADER) == "1" and not current_user.is_authenticated


@cache
def shell_version(static_folder: str, salt: str = "", pages: bytes = b"") -> str:
    """A short hash of the service worker, the shell files and the shell pages as rendered (`pages`,
    see `current_shell_version`): any change makes a new version, and the new service worker
    fetches the whole shell again. (`SW_VERSION_SALT` in the config forces a new version.)"""
    digest = hashlib.sha256(SERVICE_WORKER.read_bytes() + salt.encode() + pages)
    for name in SHELL:
        path = Path(static_folder) / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _render_shell_pages(app: Flask) -> bytes:
    """The shell pages exactly as the service worker will store them, so that a change of their
    text (a template, the crisis lines of `CRISIS_RESOURCES_FILE`) is a new shell version.
    Rendered in a fresh app context: nothing of the current request (its user) can leak in."""
    rendered = []
    with app.app_context():
        paths = []
        with app.test_request_context("/"):
            paths = [url_for(endpoint) for endpoint in SHELL_PAGES]
        for path in paths:
            with app.test_request_context(path, headers={SHELL_COPY_HEADER: "1"}):
                rendered.append(app.full_dispatch_request().get_data())
    return hashlib.sha256(b"\0".join(rendered)).digest()


def current_shell_version(app: Flask) -> str:
    """The version /sw.js announces now (tests compare caches against it)."""
    salt = app.config.get("SW_VERSION_SALT", "")
    return shell_version(app.static_folder, salt, _render_shell_pages(app))


@bp.get("/sw.js")
def service_worker():
    """The service worker, from the site root so its scope is the whole app; never cached long."""
    version = current_shell_version(current_app._get_current_object())
    exact, prefixes = offline_pages()
    pages = [url_for(endpoint) for endpoint in SHELL_PAGES]
    config = {
        "version": version,
        "shell": [url_for("static", filename=name) for name in SHELL] + pages,
        "shellPages": pages,
        "shellCopyHeader": SHELL_COPY_HEADER,
        "offlinePages": exact,
        "offlinePagePrefixes": prefixes,
        "signIn": url_for("accounts.sign_in"),
    }
    body = f"self.IOP_CONFIG = {_json(config)};\n" + SERVICE_WORKER.read_text(encoding="utf-8")
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


@bp.get("/manifest.webmanifest")
def manifest():
    data = {
        "id": "/",
        "name": "IOP Companion",
        "short_name": "Companion",
        "description": "Your program's practice, journal, messages and sessions.",
        "start_url": "/today?source=home-screen",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": "#2f5d50",
        "background_color": "#f6f4ef",
        "icons": [
            {
                "src": url_for("static", filename="icons/icon-192.png"),
                "sizes": "192x192",
                "type": "image/png",
                "purpose": "any",
            },
            {
                "src": url_for("static", filename="icons/icon-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "any",
            },
            {
                "src": url_for("static", filename="icons/maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
        "shortcuts": [
            {
                "name": "Journal",
                "short_name": "Journal",
                "url": "/journal",
                "icons": [
                    {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192"}
                ],
            },
            {
                "name": "Today",
                "short_name": "Today",
                "url": "/today",
                "icons": [
                    {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192"}
                ],
            },
        ],
    }
    response = Response(_json(data), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


def offline_nav() -> list[NavLink]:
    """The participant's bar on the offline page: the items whose page opens offline once
    visited (Today, Practice, Journal, Messages, Sessions), in the bar's order, without counts
    (the page is rendered for no one)."""
    exact, prefixes = offline_pages()
    items = [i for i in CORE_NAV if i.audience == "participant"] + registry().nav("participant")
    links = [
        NavLink(item.key, url_for(item.endpoint), item.label)
        for item in sorted(items, key=lambda i: (i.order, i.key))
    ]
    return [
        link
        for link in links
        if link.url in exact or any(link.url + "/" == prefix for prefix in prefixes)
    ]


@bp.get("/offline")
def offline():
    """Shown for a page that was never kept on this device; holds no personal data."""
    response = Response(render_template("pwa/offline.html", nav=offline_nav()))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/api/session")
@login_required
def session_info():
    """A fresh CSRF token for the outbox, and who is signed in (to keep people's items apart).

    Signed out, this answers 401 JSON (never a redirect that fetch would follow and misread).
    """
    return jsonify(user=current_user.id, csrf=generate_csrf())
