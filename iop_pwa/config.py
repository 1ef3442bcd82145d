"""Settings, read from the environment (and an optional `.env`).

Every setting has a development default except the secrets: in production the app refuses to start
without a real `SECRET_KEY`, and in development one is generated once into `instance/`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path


class ConfigError(RuntimeError):
    """Raised at start-up when the configuration is unsafe or incomplete."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _minutes(name: str, default: int) -> timedelta:
    return timedelta(minutes=int(os.environ.get(name, default)))


_LIMIT = re.compile(r"^\s*(\d+)\s*(?:per|/)\s*(\d*)\s*(second|minute|hour|day)s?\s*$", re.I)


def parse_limit(text: str) -> tuple[int, timedelta]:
    """("5 per 15 minutes") -> (5, 15 minutes): how many failures a window holds."""
    match = _LIMIT.match(text or "")
    if not match or int(match.group(1)) < 1:
        raise ConfigError(f"{text!r} is not a limit like '5 per 15 minutes'.")
    count, many, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3).lower()
    return count, timedelta(**{unit + "s": many})


def _limit(name: str, default: str) -> str:
    """A sign-in limit setting, checked at start-up so a typo cannot switch limits off."""
    value = os.environ.get(name, default)
    try:
        parse_limit(value)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from exc
    return value


def _secret_key(instance_path: Path, env: str) -> str:
    """The session-signing key: from the environment, or generated once in development."""
    key = os.environ.get("SECRET_KEY", "").strip()
    if key:
        if env == "production" and len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production.")
        return key
    if env == "production":
        raise ConfigError("SECRET_KEY is not set. Refusing to start in production without one.")
    private_instance(instance_path)
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(48))
    key_file.chmod(0o600)
    return key_file.read_text().strip()


def private_instance(instance_path: Path) -> None:
    """`instance/` holds the SQLite database and the generated secret: owner-only (0o700),
    made so if it exists from before."""
    instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    instance_path.chmod(0o700)


DEFAULT_CRISIS_RESOURCES = [
    {
        "name": "988 Suicide & Crisis Lifeline",
        "detail": "Call or text 988, any time, day or night.",
        "href": "tel:988",
        "action": "Call 988",
        "sms": "sms:988",
    },
    {
        "name": "Emergency services",
        "detail": "If you or someone else is in immediate danger, call 911.",
        "href": "tel:911",
        "action": "Call 911",
    },
    {
        "name": "SAMHSA National Helpline",
        "detail": "Free, confidential help for mental health and substance use, 24/7, "
        "in English and Spanish: 1-800-662-4357.",
        "href": "tel:18006624357",
        "action": "Call 1-800-662-4357",
    },
]


def _crisis_resources() -> list[dict]:
    """The crisis lines shown on "Get help now"; a JSON file can replace them for another region."""
    path = os.environ.get("CRISIS_RESOURCES_FILE")
    if not path:
        return DEFAULT_CRISIS_RESOURCES
    resources = json.loads(Path(path).read_text())
    if not isinstance(resources, list) or not all("name" in r and "detail" in r for r in resources):
        raise ConfigError("CRISIS_RESOURCES_FILE must hold a list of {name, detail, href, action}.")
    return resources


def _domains(name: str) -> tuple[str, ...]:
    """A comma-separated list of domains (e.g. video.clinic.example, telehealth.example)."""
    domains = []
    for item in os.environ.get(name, "").split(","):
        domain = item.strip().lower().removeprefix("*.").strip(".")
        if not domain:
            continue
        if "." not in domain or not all(c.isalnum() or c in "-." for c in domain):
            raise ConfigError(f"{name} must list domains such as video.example.org, not {item!r}.")
        domains.append(domain)
    return tuple(domains)


def load_settings(instance_path: str) -> dict:
    """Build the Flask config mapping from the environment."""
    instance = Path(instance_path)
    env = os.environ.get("APP_ENV", "development").strip().lower()
    if env not in {"development", "production", "test"}:
        raise ConfigError(f"APP_ENV must be development, production or test, not {env!r}.")
    production = env == "production"
    secure_cookies = _bool(os.environ.get("SECURE_COOKIES"), default=production)
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        private_instance(instance)
        database_url = f"sqlite:///{instance / 'iop.sqlite3'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")

    staff_idle = _minutes("STAFF_IDLE_MINUTES", 30)
    staff_absolute = _minutes("STAFF_ABSOLUTE_MINUTES", 12 * 60)
    participant_idle = _minutes("PARTICIPANT_IDLE_MINUTES", 30 * 24 * 60)
    participant_absolute = _minutes("PARTICIPANT_ABSOLUTE_MINUTES", 365 * 24 * 60)

    return {
        "APP_ENV": env,
        "SECRET_KEY": _secret_key(instance, env),
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "SESSION_COOKIE_NAME": "__Host-session" if secure_cookies else "iop_session",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": max(staff_absolute, participant_absolute),
        "REMEMBER_COOKIE_DURATION": timedelta(0),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the (revocable) session
        "WTF_CSRF_SSL_STRICT": secure_cookies,
        "STAFF_IDLE_TIMEOUT": staff_idle,
        "STAFF_ABSOLUTE_TIMEOUT": staff_absolute,
        "PARTICIPANT_IDLE_TIMEOUT": participant_idle,
        "PARTICIPANT_ABSOLUTE_TIMEOUT": participant_absolute,
        # Failed sign-ins, counted in the database (see accounts/throttle.py).
        "SIGN_IN_LIMIT_PER_ACCOUNT_AND_ADDRESS": _limit(
            "SIGN_IN_LIMIT_PER_ACCOUNT_AND_ADDRESS", "5 per hour"
        ),
        "SIGN_IN_LIMIT_PER_ACCOUNT": _limit("SIGN_IN_LIMIT_PER_ACCOUNT", "20 per hour"),
        "SIGN_IN_LIMIT_PER_ADDRESS": _limit("SIGN_IN_LIMIT_PER_ADDRESS", "30 per hour"),
        "SIGN_IN_FIRST_WAIT": _minutes("SIGN_IN_FIRST_WAIT_MINUTES", 1),
        "SIGN_IN_MAX_WAIT": _minutes("SIGN_IN_MAX_WAIT_MINUTES", 30),
        "RATELIMIT_ENABLED": _bool(os.environ.get("RATELIMIT_ENABLED"), default=True),
        "INVITATION_DAYS": int(os.environ.get("INVITATION_DAYS", 7)),
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "").rstrip("/"),
        "PROXY_HOPS": int(os.environ.get("PROXY_HOPS", 0)),
        "CRISIS_RESOURCES": _crisis_resources(),
        "VIDEO_DOMAINS_EXTRA": _domains("VIDEO_DOMAINS_EXTRA"),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "HSTS": production,
    }
