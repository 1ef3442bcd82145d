"""What makes the app installable and offline-first: the manifest, the service worker, the offline
page, and the small JSON endpoints the device's outbox uses."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from iop_pwa.features import registry

bp = Blueprint("pwa", __name__)

ROOT = Path(__file__).resolve().parents[2]
SERVICE_WORKER = ROOT / "service_worker" / "sw.js"

# The shell every page needs, precached at install so the app opens without a connection.
SHELL = [
    "css/app.css",
    "vendor/htmx.min.js",
    "js/app.js",
    "js/outbox.js",
    "js/pwa.js",
    "js/copy.js",
    "icons/nav.svg",
    "icons/icon.svg",
    "icons/icon-192.png",
]

# Core's pages kept for the signed-in person to read offline (network first, cache as
# fallback); features add theirs when they register (`Feature.offline_pages`).
CORE_OFFLINE_PAGES = ("/today",)


def offline_pages() -> tuple[list[str], list[str]]:
    """Exact paths and path prefixes (ending in "/") of the pages kept for offline reading."""
    paths = [*CORE_OFFLINE_PAGES, *registry().offline_pages]
    return [p for p in paths if not p.endswith("/")], [p for p in paths if p.endswith("/")]


@cache
def shell_version(static_folder: str, salt: str = "") -> str:
    """A short hash of the service worker and the shell: any change makes a new version.
    (`SW_VERSION_SALT` in the config forces a new version without changing a file.)"""
    digest = hashlib.sha256(SERVICE_WORKER.read_bytes() + salt.encode())
    for name in SHELL:
        path = Path(static_folder) / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@bp.get("/sw.js")
def service_worker():
    """The service worker, from the site root so its scope is the whole app; never cached long."""
    salt = current_app.config.get("SW_VERSION_SALT", "")
    version = shell_version(current_app.static_folder, salt)
    exact, prefixes = offline_pages()
    config = {
        "version": version,
        "shell": [url_for("static", filename=name) for name in SHELL] + [url_for("pwa.offline")],
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


@bp.get("/offline")
def offline():
    """Shown for a page that was never kept on this device; holds no personal data."""
    response = Response(render_template("pwa/offline.html"))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/api/session")
@login_required
def session_info():
    """A fresh CSRF token for the outbox, and who is signed in (to keep people's items apart).

    Signed out, this answers 401 JSON (never a redirect that fetch would follow and misread).
    """
    return jsonify(user=current_user.id, csrf=generate_csrf())
