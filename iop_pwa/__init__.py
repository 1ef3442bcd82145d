"""The IOP companion app: `create_app` builds a configured Flask app (see app.py)."""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path
from zoneinfo import ZoneInfo

from dotenv import load_dotenv
from flask import Flask, jsonify, redirect, request, session, url_for
from flask_htmx import make_response as htmx_response
from sqlalchemy import text
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from iop_pwa import dates, errors, mail, quick_answers, security, static_assets
from iop_pwa import db as database
from iop_pwa.config import load_settings
from iop_pwa.extensions import csrf, htmx, limiter, login_manager

ROOT = Path(__file__).resolve().parent.parent


class IOPFlask(Flask):
    """Flask, except that static files carry content hashes and an unhandled error is logged
    without its message.

    Exception texts can carry personal data (an IntegrityError holds the SQL parameters), so the
    log gets the type, the route and the stack frames (code lines, no values), never the text.
    """

    def send_static_file(self, filename: str):
        """Static files by hashed name, cached for a year (see `static_assets`)."""
        return static_assets.send(self, filename)

    def log_exception(self, exc_info) -> None:
        exc_type, _exc, tb = exc_info
        frames = "".join(traceback.format_tb(tb)) if tb else ""
        self.logger.error(
            "unhandled %s on %s %s\n%s",
            exc_type.__name__ if exc_type else "error",
            request.method,
            request.url_rule,
            frames,
        )


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` that matches only ids an id column can hold (up to `MAX_ID`), written in
    ASCII digits.

    A larger number would fail inside the query (a 500: "integer out of range" on PostgreSQL, an
    OverflowError on SQLite); here the route simply doesn't match, so it answers 404. Werkzeug's
    own pattern matches any Unicode digit, and `int()` reads them (/messages/<U+0661>/poll, an
    Arabic-Indic one, would be conversation 1): one object would have many addresses, and checks
    written for the ASCII spelling (the quick answer's, a proxy's) would miss the others.
    """

    regex = r"[0-9]+"

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", database.MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. `test_config` overrides settings (tests pass a database URL and so on)."""
    load_dotenv(ROOT / ".env", override=False)
    app = IOPFlask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH", str(ROOT / "instance")),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(load_settings(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    app.url_map.converters["int"] = DatabaseIdConverter  # before any route is added

    static_assets.init_app(app)
    database.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    _init_rate_limits(app)
    mail.init_app(app)
    _init_login(app)
    security.init_app(app)
    errors.init_app(app)
    _register_blueprints(app)
    dates.init_app(app)
    _register_template_helpers(app)

    from iop_pwa.cli import register_cli

    register_cli(app)

    @app.get("/healthz")
    def healthz():
        """Liveness and database check for the load balancer (no personal data)."""
        with database.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return jsonify(status="ok")

    quick_answers.init_app(app)  # in front of Flask, once every feature has registered
    if app.config["PROXY_HOPS"]:  # in front of everything: the address and scheme are fixed first
        app.wsgi_app = ProxyFix(
            app.wsgi_app,
            x_for=app.config["PROXY_HOPS"],
            x_proto=app.config["PROXY_HOPS"],
            x_host=app.config["PROXY_HOPS"],
        )
    return app


def _init_rate_limits(app: Flask) -> None:
    """Limits shared through Redis when `REDIS_URL` is set. If Redis stops answering, the app
    keeps serving: each process counts in its own memory meanwhile (Flask-Limiter logs "Rate
    limit storage unreachable - falling back to in-memory storage", and "recovered" when Redis
    is back), and a Redis that hangs costs a request at most a second, not a worker."""
    app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "memory://"
    if app.config["REDIS_URL"]:
        app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1}
        )
    limiter.init_app(app)


def _init_login(app: Flask) -> None:
    from iop_pwa.accounts import sessions as login_sessions
    from iop_pwa.accounts.models import remember_sealing_key
    from iop_pwa.accounts.views import SESSION_TOKEN_KEY

    login_manager.init_app(app)
    remember_sealing_key(app)
    login_manager.session_protection = None  # server-side sessions do this job; phones change IPs
    login_manager.login_view = "accounts.sign_in"
    login_manager.login_message = "Please sign in to continue."

    @login_manager.user_loader
    def load_user(user_id: str):
        """The user of this browser's live server-side session (None if expired or revoked)."""
        found = login_sessions.find_session(database.get_db(), session.get(SESSION_TOKEN_KEY))
        if found is None or str(found[1].id) != user_id:
            return None
        return found[1]

    @login_manager.unauthorized_handler
    def unauthorized():
        """Expired or missing session: JSON 401 for the app's API, HX-Redirect for htmx."""
        sign_in = url_for("accounts.sign_in", next=request.full_path.rstrip("?"))
        if request.path.startswith("/api/") or errors.wants_json():
            return jsonify(error="signed_out", sign_in=url_for("accounts.sign_in")), 401
        if htmx:
            return htmx_response(redirect=sign_in)
        return redirect(sign_in, 303)


def _register_blueprints(app: Flask) -> None:
    """Core's blueprints, then every feature: this composition root is the one place in core
    that names the features (see `iop_pwa.features`)."""
    from iop_pwa import checkins, journal, messages, practice, push, therapy
    from iop_pwa.accounts.factor_views import bp as factors_bp
    from iop_pwa.accounts.views import bp as accounts_bp
    from iop_pwa.admin.views import bp as admin_bp
    from iop_pwa.dashboard.views import bp as dashboard_bp
    from iop_pwa.notifications.views import bp as notifications_bp
    from iop_pwa.participant.views import bp as participant_bp
    from iop_pwa.pwa.views import bp as pwa_bp
    from iop_pwa.safety.views import bp as safety_bp

    for bp in (
        accounts_bp,
        factors_bp,
        participant_bp,
        dashboard_bp,
        notifications_bp,
        safety_bp,
        admin_bp,
        pwa_bp,
    ):
        app.register_blueprint(bp)
    # Today: sections by their order
    for feature in (therapy, practice, journal, messages, push, checkins):
        feature.register(app)


def _register_template_helpers(app: Flask) -> None:
    from iop_pwa.accounts.timezones import label as zone_name
    from iop_pwa.web import in_zone, local_now, main_nav

    # A time zone in the words the picker uses ("Los Angeles (Pacific)"), never its raw id.
    app.add_template_filter(zone_name, "zone_name")

    @app.template_filter("local")
    def to_local(value, timezone: str, fmt: str = "%a %d %b %Y, %H:%M"):
        """Deprecated: use the named formats of `iop_pwa.dates` (`|day_time`, `|time`...),
        which follow the person's locale and clock. Kept while other branches still write
        `|local(tz, "%...")`. A UTC timestamp shown in the given time zone (in UTC, and says
        so, at the ends of the calendar where the zone can't be applied)."""
        if value is None:
            return ""
        local = in_zone(value, timezone)
        return local.strftime(fmt) + (" UTC" if local.tzinfo is not ZoneInfo(timezone) else "")

    @app.context_processor
    def _globals():
        return {
            "local_now": local_now,
            "crisis_url": url_for("safety.crisis_help"),
            "unread_notifications": _unread_notifications,
            "main_nav": _main_nav,
        }

    def _main_nav(audience: str):
        """The signed-in person's navigation with its unread counts (see `web.main_nav`)."""
        from flask_login import current_user

        return main_nav(audience, database.get_db(), current_user)


def _unread_notifications() -> int:
    """The bell's count for the signed-in participant (one query, only where the bell shows)."""
    from flask_login import current_user

    from iop_pwa.notifications import unread_count

    if not current_user.is_authenticated:
        return 0
    return unread_count(database.get_db(), current_user.id)
