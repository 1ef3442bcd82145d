"""Settings, read from the environment (and an optional `.env`).

Every setting has a development default except the secrets: in production the app refuses to start
without a real `SECRET_KEY`, and in development one is generated once into `instance/`. Production
also refuses to start without `PUBLIC_URL` (passkeys' relying party), and without `REDIS_URL` when
more than one web process serves it (rate limits shared by every process).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shlex
import sys
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit


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


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mail_settings(smtp_url: str, mail_from: str, public_url: str) -> dict:
    """Flask-Mailman's settings from `SMTP_URL` and `MAIL_FROM` (both, or neither: no mail).

    `smtps://` is TLS from the start (port 465); `smtp://` upgrades with STARTTLS (port 587) and
    never falls back to plain text, except to a relay on this machine (localhost, port 25).
    Links in mail are built on `PUBLIC_URL`, never on a request's Host header (which anyone
    can forge to send a person a link to their own site)."""
    smtp_url, mail_from = smtp_url.strip(), mail_from.strip()
    if not smtp_url and not mail_from:
        return {"MAIL_ENABLED": False}
    if not smtp_url or not mail_from:
        raise ConfigError("Set both SMTP_URL and MAIL_FROM to send mail (or neither).")
    try:
        url = urlsplit(smtp_url)
        port = url.port
    except ValueError as exc:
        raise ConfigError("SMTP_URL is not a URL like smtps://user:pass@host:465.") from exc
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        raise ConfigError("SMTP_URL must look like smtp://user:pass@host:587 or smtps://...")
    local = _is_loopback(url.hostname)
    if port is None:
        port = 465 if url.scheme == "smtps" else 25 if local else 587
    _, address = parseaddr(mail_from)
    if "@" not in address:
        raise ConfigError("MAIL_FROM must be an address, e.g. 'IOP Companion <care@clinic.org>'.")
    if not public_url:
        raise ConfigError("Set PUBLIC_URL when SMTP_URL is set: links in mail are built on it.")
    return {
        "MAIL_ENABLED": True,
        "MAIL_BACKEND": "iop_pwa.mail.EmailBackend",
        "MAIL_SERVER": url.hostname,
        "MAIL_PORT": port,
        "MAIL_USERNAME": unquote(url.username) if url.username else None,
        "MAIL_PASSWORD": unquote(url.password) if url.password else None,
        "MAIL_USE_SSL": url.scheme == "smtps",
        "MAIL_USE_TLS": url.scheme == "smtp" and not local,
        "MAIL_DEFAULT_SENDER": mail_from,
        "MAIL_TIMEOUT": 10,  # a dead mail server must not hold the worker
    }


def alumni_months(text: str) -> tuple[int, ...]:
    """ALUMNI_CHECKIN_MONTHS ("1,3,6"): the months after discharge at which alumni are asked
    their check-ins, checked at start-up so a typo cannot switch them off."""
    try:
        months = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError as exc:
        raise ConfigError(f"ALUMNI_CHECKIN_MONTHS: {text!r} is not a list like '1,3,6'.") from exc
    if not months or any(m < 1 or m > 60 for m in months):
        raise ConfigError("ALUMNI_CHECKIN_MONTHS: give months from 1 to 60, like '1,3,6'.")
    return months


def _workers_in(args: list[str]) -> int | None:
    """The last `-w N`, `-wN`, `--workers N` or `--workers=N` of a gunicorn command line."""
    found = None
    for i, arg in enumerate(args):
        value = None
        if arg in ("-w", "--workers") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--workers="):
            value = arg.removeprefix("--workers=")
        elif arg.startswith("-w") and arg[2:].isascii() and arg[2:].isdigit():
            value = arg[2:]
        if value is not None and value.isascii() and value.strip().isdigit():
            found = int(value)
    return found


def web_processes(argv: list[str] | None = None, environ=None) -> int:
    """How many gunicorn worker processes serve this app, as gunicorn itself decides: its
    command line (this process's, under gunicorn: `make run` passes `--workers`), else
    `GUNICORN_CMD_ARGS`, else `WEB_CONCURRENCY`, else 1."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    count = int(environ.get("WEB_CONCURRENCY", "1").strip() or 1)
    from_env = _workers_in(shlex.split(environ.get("GUNICORN_CMD_ARGS", "")))
    count = from_env if from_env is not None else count
    if argv and os.path.basename(argv[0]).startswith("gunicorn"):
        from_argv = _workers_in(list(argv[1:]))
        count = from_argv if from_argv is not None else count
    return count


def _production_checks(public_url: str, redis_url: str) -> None:
    """What production must have that development does without."""
    if not public_url:
        raise ConfigError(
            "PUBLIC_URL is not set. Refusing to start in production without it: passkeys "
            "belong to its host, and without it they would follow each request's Host header. "
            "Set PUBLIC_URL=https://your.host."
        )
    processes = web_processes()
    if processes > 1 and not redis_url:
        raise ConfigError(
            f"REDIS_URL is not set, and {processes} web processes would each count the rate "
            "limits on their own (each limit multiplied by the number of processes). Set "
            "REDIS_URL=redis://host:6379/0, or run one web process (WEB_CONCURRENCY=1)."
        )


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
    public_url = os.environ.get("PUBLIC_URL", "").strip().rstrip("/")

    settings = {
        "APP_ENV": env,
        "SECRET_KEY": _secret_key(instance, env),
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "SESSION_COOKIE_NAME": "__Host-session" if secure_cookies else "iop_session",
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": max(staff_absolute, participant_absolute),
        # The cookie is sent again only when the session changes: a page's background request
        # (the outbox's /api/session) answering after a form post must not put back the cookie
        # it read, which would drop the post's flash. Expiry is the server's (login_sessions).
        "SESSION_REFRESH_EACH_REQUEST": False,
        "REMEMBER_COOKIE_DURATION": timedelta(0),
        # The app speaks English: without this Flask-WTF loads WTForms' message catalogue from
        # disk for every form it builds (a file read and parse per request).
        "WTF_I18N_ENABLED": False,
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
        "SIGN_IN_LINK_HOURS": int(os.environ.get("SIGN_IN_LINK_HOURS", 24)),
        # Codes from an authenticator app: this many 30-second steps either side of now are
        # accepted (a phone's clock drifts); each code works once.
        "TOTP_VALID_WINDOW": int(os.environ.get("TOTP_VALID_WINDOW", 1)),
        # "Confirm it's you" holds this long for the most sensitive actions; the step between
        # a staff member's password and their second factor expires after SECOND_FACTOR_PENDING.
        "RECENT_AUTH_WINDOW": _minutes("RECENT_AUTH_MINUTES", 5),
        "SECOND_FACTOR_PENDING": _minutes("SECOND_FACTOR_PENDING_MINUTES", 5),
        "PUBLIC_URL": public_url,
        "PROXY_HOPS": int(os.environ.get("PROXY_HOPS", 0)),
        "CRISIS_RESOURCES": _crisis_resources(),
        "ALUMNI_CHECKIN_MONTHS": alumni_months(os.environ.get("ALUMNI_CHECKIN_MONTHS", "1,3,6")),
        "VIDEO_DOMAINS_EXTRA": _domains("VIDEO_DOMAINS_EXTRA"),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "HSTS": production,
        **mail_settings(
            os.environ.get("SMTP_URL", ""), os.environ.get("MAIL_FROM", ""), public_url
        ),
    }
    if production:  # (after SECRET_KEY's own check, above)
        _production_checks(public_url, settings["REDIS_URL"].strip())
    return settings
