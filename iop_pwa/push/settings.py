"""Push settings: the VAPID key pair, its subject, the push services we may post to, and how
sending behaves. Read once when the feature registers (`configure`); tests change
`app.config` directly (e.g. to allow a fake push service on loopback)."""

from __future__ import annotations

import base64
import logging
import os
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from flask import Flask, current_app
from py_vapid import Vapid

from iop_pwa.config import ConfigError, private_instance

log = logging.getLogger(__name__)

# The https endpoints of the push services browsers use: Google (Chrome, Edge on Android,
# Samsung), Apple (Safari, iOS home-screen apps), Mozilla (Firefox) and Microsoft (Edge on
# Windows). A "*." host allows that domain's subdomains.
DEFAULT_ALLOWED_ENDPOINTS = (
    "https://fcm.googleapis.com/",
    "https://web.push.apple.com/",
    "https://updates.push.services.mozilla.com/",
    "https://*.notify.windows.com/",
)
KEY_FILE = "vapid_private_key.pem"


def _env_list(name: str) -> tuple[str, ...] | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _subject(app: Flask) -> str | None:
    """VAPID_SUBJECT, or the program's https address or mail sender; a placeholder only in
    development and tests. Push services reject a `localhost` subject."""
    subject = os.environ.get("VAPID_SUBJECT", "").strip()
    if not subject:
        public = app.config.get("PUBLIC_URL") or ""
        sender = parseaddr(app.config.get("MAIL_FROM") or "")[1]
        if public.startswith("https://"):
            subject = public
        elif sender:
            subject = f"mailto:{sender}"
        elif app.config.get("APP_ENV") != "production":
            subject = "mailto:push@example.org"
        else:
            return None
    if not (subject.startswith("mailto:") or subject.startswith("https://")):
        raise ConfigError("VAPID_SUBJECT must be a mailto: or https: address.")
    if "localhost" in subject:
        raise ConfigError("VAPID_SUBJECT must not name localhost (push services refuse it).")
    return subject


def _private_key(instance_path: Path) -> Vapid:
    """The one long-lived VAPID key: VAPID_PRIVATE_KEY (PEM, or base64url DER or raw), or one
    generated on first start into instance/ (owner-only). Every subscription is bound to it:
    changing it makes every device subscribe again."""
    value = os.environ.get("VAPID_PRIVATE_KEY", "").strip()
    if value:
        try:
            if "BEGIN" in value:
                return Vapid.from_pem(value.replace("\\n", "\n").encode())
            return Vapid.from_string(value)
        except Exception as exc:
            raise ConfigError("VAPID_PRIVATE_KEY is not a P-256 private key.") from exc
    private_instance(instance_path)
    path = instance_path / KEY_FILE
    if not path.exists():
        key = Vapid()
        key.generate_keys()
        pem = key.private_pem()
        # Created owner-only before anything is written to it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    path.chmod(0o600)
    return Vapid.from_pem(path.read_bytes())


def configure(app: Flask) -> None:
    """Read the push settings into `app.config` (anything a test set first is kept)."""
    app.config.setdefault(
        "PUSH_ALLOWED_ENDPOINTS",
        _env_list("PUSH_ALLOWED_ENDPOINTS") or DEFAULT_ALLOWED_ENDPOINTS,
    )
    app.config.setdefault("VAPID_SUBJECT", _subject(app))
    app.config.setdefault("PUSH_TIMEOUT_SECONDS", float(os.environ.get("PUSH_TIMEOUT_SECONDS", 10)))
    app.config.setdefault("PUSH_CONCURRENCY", int(os.environ.get("PUSH_CONCURRENCY", 8)))
    app.config.setdefault("PUSH_TTL_SECONDS", int(os.environ.get("PUSH_TTL_SECONDS", 4 * 3600)))
    app.config.setdefault("PUSH_LEASE_SECONDS", int(os.environ.get("PUSH_LEASE_SECONDS", 120)))
    if "VAPID_KEY" not in app.extensions:
        app.extensions["VAPID_KEY"] = _private_key(Path(app.instance_path))
    if app.config["VAPID_SUBJECT"] is None:
        log.warning("push: VAPID_SUBJECT is not set; no push will be sent")


def vapid_key() -> Vapid:
    return current_app.extensions["VAPID_KEY"]


def public_key() -> str:
    """The application server key a browser subscribes with: the uncompressed P-256 point,
    base64url without padding."""
    raw = vapid_key().public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


PLACEHOLDER_DOMAIN = ".invalid"


def is_placeholder(endpoint: str) -> bool:
    """An endpoint on the reserved `.invalid` domain (RFC 2606: it never resolves) stands for a
    device that is not real, such as the demo's phone: the worker never sends to it and records
    nothing for it, so its history stays as it was made, and no worker retries an address that
    cannot answer."""
    try:
        host = urlsplit(endpoint).hostname or ""
    except ValueError:
        return False
    return host == PLACEHOLDER_DOMAIN[1:] or host.endswith(PLACEHOLDER_DOMAIN)


def endpoint_allowed(endpoint: str, allowed: tuple[str, ...] | None = None) -> bool:
    """Whether we may post to this endpoint: it must start with an allowed prefix, compared
    part by part (scheme, host, port, path), so `https://fcm.googleapis.com.evil.example/` or
    `https://user@fcm.googleapis.com/` never pass. Only https, unless a prefix itself says
    http (a test's fake push service on loopback)."""
    allowed = allowed if allowed is not None else current_app.config["PUSH_ALLOWED_ENDPOINTS"]
    if not endpoint or len(endpoint) > 2048 or any(ch in endpoint for ch in " \r\n\t\\"):
        return False
    try:
        target = urlsplit(endpoint)
        port = target.port
    except ValueError:
        return False
    if target.username or target.password or not target.hostname or target.fragment:
        return False
    for prefix in allowed:
        rule = urlsplit(prefix)
        if rule.scheme != target.scheme or (rule.port or None) != (port or None):
            continue
        host = rule.hostname or ""
        if host.startswith("*."):
            if not target.hostname.endswith(host[1:]):
                continue
        elif target.hostname != host:
            continue
        if target.path.startswith(rule.path or "/"):
            return True
    return False
