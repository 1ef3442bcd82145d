"""The security baseline: CSRF, headers, rate limits, error pages, audit log, configuration."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from iop_pwa import create_app
from iop_pwa.audit import AuditEvent, AuditLogIsAppendOnly
from iop_pwa.config import ConfigError, load_settings
from tests.conftest import PASSWORD, Client


def test_forms_without_a_csrf_token_are_refused(client, make_user):
    user = make_user("participant")
    response = client.post("/sign-in", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    forged = client.post(
        "/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 400


def test_htmx_requests_send_the_token_in_a_header(client, make_user, sign_in):
    sign_in(make_user("participant"))
    token = client.csrf_token()
    without = client.post("/account/sign-out-others", headers={"HX-Request": "true"})
    assert without.status_code == 400
    with_header = client.post(
        "/account/sign-out-others", headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert with_header.status_code == 303


def test_security_headers_on_every_page(client):
    response = client.get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "worker-src 'self'",
    ]:
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # only over TLS in production


def test_htmx_is_configured_for_the_csp_and_keeps_no_history(client):
    page = client.get("/sign-in").get_data(as_text=True)
    for setting in [
        '"historyCacheSize": 0',
        '"allowEval": false',
        '"allowScriptTags": false',
        '"includeIndicatorStyles": false',
        '"selfRequestsOnly": true',
    ]:
        assert setting in page
    assert "<script>" not in page and " style=" not in page and "onclick" not in page


def test_personal_pages_are_not_stored_and_vary_on_htmx(client, make_user, sign_in):
    sign_in(make_user("participant"))
    response = client.get("/today")
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_request_gets_only_the_fragment_and_history_restore_the_page(
    client, make_user, sign_in
):
    sign_in(make_user("participant"))
    fragment = client.get("/today", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Good" in fragment
    restore = client.get(
        "/today", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.get_data(as_text=True)


def test_hsts_and_secure_cookie_behind_a_tls_proxy(app, make_user, monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "p" * 40)
    monkeypatch.setenv("PROXY_HOPS", "1")
    monkeypatch.setenv("PUBLIC_URL", "https://app.example.org")
    from iop_pwa import create_app

    prod = create_app({"DATABASE_URL": app.config["DATABASE_URL"]})
    client = prod.test_client()
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    response = client.get("/sign-in", headers=headers)
    assert "max-age" in response.headers["Strict-Transport-Security"]
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    prod.extensions["db_engine"].dispose()


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ConfigError):
        load_settings(str(tmp_path))


def test_production_refuses_to_start_without_public_url(monkeypatch, tmp_path):
    """Without PUBLIC_URL a passkey's relying party would follow each request's Host header."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "p" * 40)
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    with pytest.raises(ConfigError, match="PUBLIC_URL is not set"):
        load_settings(str(tmp_path))
    monkeypatch.setenv("PUBLIC_URL", "https://app.example.org")
    assert load_settings(str(tmp_path))["PUBLIC_URL"] == "https://app.example.org"


def test_production_with_several_web_processes_refuses_to_start_without_redis(
    monkeypatch, tmp_path
):
    """Each process would count the rate limits in its own memory (2 workers let 26 messages a
    minute through a limit of 20)."""
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "p" * 40)
    monkeypatch.setenv("PUBLIC_URL", "https://app.example.org")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("GUNICORN_CMD_ARGS", raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    with pytest.raises(ConfigError, match="REDIS_URL is not set, and 2 web processes"):
        load_settings(str(tmp_path))
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--bind 0.0.0.0:80 -w 3")
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_settings(str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    assert load_settings(str(tmp_path))["REDIS_URL"]
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.delenv("GUNICORN_CMD_ARGS")
    assert load_settings(str(tmp_path))["REDIS_URL"] == ""  # one process: its memory will do
    # `make run` (development, two workers) needs neither.
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("WEB_CONCURRENCY", "2")
    monkeypatch.delenv("PUBLIC_URL")
    assert load_settings(str(tmp_path))["APP_ENV"] == "development"


def test_gunicorn_with_two_workers_in_production_without_redis_stops_and_says_why(tmp_path):
    """As deployed: `gunicorn --workers 2 app:app` with APP_ENV=production and no REDIS_URL
    does not serve; its log names the variable."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TEST_DATABASE"))}
    for name in ("REDIS_URL", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "SMTP_URL", "MAIL_FROM"):
        env.pop(name, None)
    env.update(
        APP_ENV="production",
        SECRET_KEY="p" * 40,
        PUBLIC_URL="https://app.example.org",
        DATABASE_URL=f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        INSTANCE_PATH=str(tmp_path / "instance"),
    )
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    argv = [gunicorn, "--bind", "127.0.0.1:0", "--workers", "2", "--no-control-socket", "app:app"]
    done = subprocess.run(  # noqa: S603 - fixed argv
        argv, cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "REDIS_URL is not set, and 2 web processes" in done.stderr, done.stderr[-2000:]


def test_development_generates_and_keeps_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_settings(str(tmp_path))["SECRET_KEY"]
    assert len(first) >= 32
    assert load_settings(str(tmp_path))["SECRET_KEY"] == first


# --- Failed sign-ins: counted in the database, waits that grow, no lock -------------------------

ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def attempt(client, email: str, password: str, address: str):
    """A sign-in from `address` (the client's IP as the app sees it)."""
    return client.post_form(
        "/sign-in", {"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


def wait_message(response) -> str | None:
    found = re.search(r"Too many tries\. Please wait (\d+ minutes?) and try again\.", response.text)
    return found.group(1) if found else None


def failures_in_db(db) -> list:
    from iop_pwa.accounts.models import SignInFailure

    return db.exec(select(SignInFailure)).all()


def test_sign_in_is_rate_limited_per_account(client, make_user):
    user = make_user("participant")
    for _ in range(5):
        assert (
            client.post_form(
                "/sign-in", {"email": user.email, "password": "wrong pass"}
            ).status_code
            == 422
        )
    blocked = client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    assert blocked.status_code == 429
    assert "Too many tries" in blocked.get_data(as_text=True)
    # Another account from the same address is not locked out by this one.
    other = make_user("participant")
    assert (
        client.post_form("/sign-in", {"email": other.email, "password": PASSWORD}).status_code
        == 303
    )


def test_two_workers_on_one_database_see_the_same_count(app, make_user):
    """`make run` starts two gunicorn workers: five failures must not become ten."""
    user = make_user("participant")
    with time_machine.travel(START, tick=False):
        first = app.test_client()
        for _ in range(3):
            assert attempt(first, user.email, "wrong pass", ATTACKER).status_code == 422
        # A second worker: its own app, sharing nothing with the first but the database.
        other = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": app.config["DATABASE_URL"],
                "SECRET_KEY": app.config["SECRET_KEY"],
            }
        )
        other.test_client_class = Client
        second = other.test_client()
        for _ in range(2):
            assert attempt(second, user.email, "wrong pass", ATTACKER).status_code == 422
        for client in (second, first):
            refused = attempt(client, user.email, PASSWORD, ATTACKER)  # even the right password
            assert refused.status_code == 429
            assert wait_message(refused) == "1 minute"
            assert refused.headers["Retry-After"] == "60"
    other.extensions["db_engine"].dispose()


def test_the_owner_signs_in_from_their_own_address_while_an_attacker_is_refused(app, make_user):
    user = make_user("participant")
    attacker, owner = app.test_client(), app.test_client()
    with time_machine.travel(START, tick=False):
        for _ in range(5):
            assert attempt(attacker, user.email, "a guess", ATTACKER).status_code == 422
        assert attempt(attacker, user.email, "another guess", ATTACKER).status_code == 429
        assert attempt(owner, user.email, PASSWORD, OWNER).status_code == 303


def test_waits_double_with_each_failure_up_to_a_cap_and_refusals_do_not_count(
    app, client, make_user
):
    app.config["SIGN_IN_LIMIT_PER_ACCOUNT_AND_ADDRESS"] = "5 per day"  # the cap shows, not aging
    user = make_user("participant")
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(5):
            assert attempt(client, user.email, "wrong pass", ATTACKER).status_code == 422
        waits = []
        for _ in range(7):
            refused = attempt(client, user.email, "wrong pass", ATTACKER)
            assert refused.status_code == 429
            waits.append(wait_message(refused))
            minutes = int(waits[-1].split()[0])
            # Hammering while waiting is refused, but does not make the wait longer.
            clock.shift(timedelta(minutes=minutes) - timedelta(seconds=30))
            assert wait_message(attempt(client, user.email, "x" * 9, ATTACKER)) == "1 minute"
            clock.shift(timedelta(seconds=30))
            assert attempt(client, user.email, "wrong pass", ATTACKER).status_code == 422
        assert waits == [
            "1 minute",
            "2 minutes",
            "4 minutes",
            "8 minutes",
            "16 minutes",
            "30 minutes",
            "30 minutes",
        ]


def test_a_wait_never_outlasts_the_window(app, client, make_user):
    app.config["SIGN_IN_LIMIT_PER_ACCOUNT_AND_ADDRESS"] = "5 per 10 minutes"
    user = make_user("participant")
    with time_machine.travel(START, tick=False) as clock:
        for minute in [0, 0, 0, 0, 0, 1, 3, 7]:
            clock.move_to(START + timedelta(minutes=minute))
            assert attempt(client, user.email, "wrong pass", ATTACKER).status_code == 422
        # The eighth failure would mean 8 minutes, but at 10 the five from minute 0 are out of
        # the window, and three failures are under the limit.
        assert wait_message(attempt(client, user.email, PASSWORD, ATTACKER)) == "3 minutes"
        clock.move_to(START + timedelta(minutes=10))
        assert attempt(client, user.email, PASSWORD, ATTACKER).status_code == 303


def test_a_success_clears_the_failures_of_that_account_and_address(app, make_user, db):
    user = make_user("participant")
    stranger = make_user("participant")
    owner = app.test_client()
    with time_machine.travel(START, tick=False):
        for _ in range(4):
            assert attempt(owner, user.email, "typo pass", OWNER).status_code == 422
        attempt(owner, stranger.email, "wrong pass", OWNER)  # someone else's failure stays
        assert attempt(owner, user.email, PASSWORD, OWNER).status_code == 303
        owner.post_form("/sign-out")
        assert len(failures_in_db(db)) == 1
        for _ in range(4):
            assert attempt(owner, user.email, "typo pass", OWNER).status_code == 422
        assert attempt(owner, user.email, PASSWORD, OWNER).status_code == 303


def test_sign_in_is_rate_limited_per_address(app, make_user):
    client = app.test_client()
    limit = int(app.config["SIGN_IN_LIMIT_PER_ADDRESS"].split()[0])
    with time_machine.travel(START, tick=False):
        for n in range(limit):
            response = attempt(client, f"guess{n}@example.test", "wrong pass", ATTACKER)
            assert response.status_code == 422
        user = make_user("participant")
        assert attempt(client, user.email, PASSWORD, ATTACKER).status_code == 429
        assert attempt(app.test_client(), user.email, PASSWORD, OWNER).status_code == 303


def test_one_account_guessed_from_many_addresses_meets_the_looser_account_limit(app, make_user):
    """A guesser with many addresses can delay the owner too, but only for a while."""
    user = make_user("participant")
    limit = int(app.config["SIGN_IN_LIMIT_PER_ACCOUNT"].split()[0])
    with time_machine.travel(START, tick=False) as clock:
        for n in range(limit):
            address = f"198.51.100.{n + 1}"
            assert attempt(app.test_client(), user.email, "a guess", address).status_code == 422
        owner = app.test_client()
        assert wait_message(attempt(owner, user.email, PASSWORD, OWNER)) == "1 minute"
        clock.shift(timedelta(minutes=1))
        assert attempt(owner, user.email, PASSWORD, OWNER).status_code == 303


def test_an_ipv6_address_counts_as_its_64_block(app, client, make_user):
    user = make_user("participant")
    with time_machine.travel(START, tick=False):
        for n in range(5):
            attempt(client, user.email, "wrong pass", f"2001:db8:1:2::{n + 1}")
        assert attempt(client, user.email, PASSWORD, "2001:db8:1:2::99").status_code == 429
        assert attempt(client, user.email, PASSWORD, "2001:db8:1:3::1").status_code == 303


def test_a_refused_sign_in_logs_and_stores_no_email(client, make_user, caplog, db):
    caplog.set_level(logging.DEBUG)
    user = make_user("participant", email="sam.rivera@example.test")
    for _ in range(5):
        attempt(client, user.email, "wrong pass", ATTACKER)
    assert attempt(client, user.email, "wrong pass", ATTACKER).status_code == 429
    assert "sam.rivera" not in caplog.text
    assert "too many failures" in caplog.text  # the refusal is logged, by a hash of the account
    rows = failures_in_db(db)
    assert len(rows) == 5
    assert not any("sam" in r.account_key or ATTACKER in r.address_key for r in rows)


def test_old_failures_are_forgotten(app, client, make_user, db):
    from iop_pwa.worker import run_round

    user = make_user("participant")
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(3):
            attempt(client, user.email, "wrong pass", ATTACKER)
        clock.shift(timedelta(minutes=59))
        attempt(client, user.email, "wrong pass", OWNER)  # pruned on write: nothing old yet
        assert len(failures_in_db(db)) == 4
        clock.shift(timedelta(minutes=2))
        with app.app_context():
            assert run_round()["old_sign_in_failures"] == 3
        assert len(failures_in_db(db)) == 1
        clock.shift(timedelta(hours=1))
        attempt(client, user.email, "wrong pass", ATTACKER)  # and on write
        assert len(failures_in_db(db)) == 1


def test_sign_in_limits_are_checked_at_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("SIGN_IN_LIMIT_PER_ACCOUNT", "lots")
    with pytest.raises(ConfigError, match="SIGN_IN_LIMIT_PER_ACCOUNT"):
        load_settings(str(tmp_path))
    monkeypatch.setenv("SIGN_IN_LIMIT_PER_ACCOUNT", "10 per 30 minutes")
    assert load_settings(str(tmp_path))["SIGN_IN_LIMIT_PER_ACCOUNT"] == "10 per 30 minutes"


def test_successful_sign_ins_do_not_count_towards_the_limit(app, make_user):
    user = make_user("participant")
    client = app.test_client()
    for _ in range(8):
        assert (
            client.post_form("/sign-in", {"email": user.email, "password": PASSWORD}).status_code
            == 303
        )
        client.post_form("/sign-out")


def test_error_pages_have_the_apps_look_and_htmx_gets_a_fragment(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert "We couldn" in page.get_data(as_text=True) and "<html" in page.get_data(as_text=True)
    fragment = client.get("/no-such-page", headers={"HX-Request": "true"})
    assert fragment.status_code == 404
    assert "<html" not in fragment.get_data(as_text=True)
    assert "We couldn" in fragment.get_data(as_text=True)


def test_server_errors_are_friendly_and_log_no_personal_data(app, client, caplog):
    @app.post("/boom")
    def boom():
        from flask import request

        raise RuntimeError(request.form["entry"])

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.post_form("/boom", {"entry": "secret journal text about sam@example.test"})
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)
    assert "secret journal text" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_bad_input_is_a_4xx_never_a_500(client, make_user, sign_in):
    for data in [{}, {"email": "x" * 5000, "password": "y"}, {"email": ["a", "b"]}]:
        assert client.post_form("/sign-in", data).status_code in (400, 422)
    assert (
        client.post_form("/sign-in", {"email": "a@b.test", "password": "p" * 10_000}).status_code
        == 422
    )


def test_audit_log_is_append_only(db, make_user, client):
    user = make_user("participant")
    client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "sign_in")).one()
    assert event.actor_id == user.id and event.at.tzinfo is not None
    event.detail = "tampered"
    db.add(event)
    with pytest.raises(AuditLogIsAppendOnly):
        db.flush()
    db.rollback()
    with pytest.raises(AuditLogIsAppendOnly):
        db.delete(db.get(AuditEvent, event.id))
        db.flush()


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_a_background_request_does_not_put_back_an_older_session_cookie(client, make_user, sign_in):
    """A page's background request (the outbox asking /api/session) that answers after a form post
    must not send the cookie it read: that would drop the post's flash ("Feedback sent.")."""
    sign_in(make_user("participant"))
    client.get("/api/session")  # the CSRF token is in the session from here on
    answer = client.get("/api/session")
    assert answer.status_code == 200
    assert not [c for c in answer.headers.getlist("Set-Cookie") if "session" in c]
    # A change to the session is still sent.
    page = client.post_form("/account/timezone", {"timezone": "Europe/Paris"})
    assert page.status_code == 303
    assert [c for c in page.headers.getlist("Set-Cookie") if "session" in c]
