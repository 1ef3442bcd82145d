"""The security baseline: CSRF, headers, rate limits, error pages, audit log, configuration."""

from __future__ import annotations

import pytest
from sqlmodel import select

from iop_pwa.audit import AuditEvent, AuditLogIsAppendOnly
from iop_pwa.config import ConfigError, load_settings
from tests.conftest import PASSWORD


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


def test_development_generates_and_keeps_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_settings(str(tmp_path))["SECRET_KEY"]
    assert len(first) >= 32
    assert load_settings(str(tmp_path))["SECRET_KEY"] == first


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


def test_sign_in_is_rate_limited_per_address(app, make_user):
    client = app.test_client()
    for n in range(20):
        client.post_form("/sign-in", {"email": f"guess{n}@example.test", "password": "wrong pass"})
    user = make_user("participant")
    assert (
        client.post_form("/sign-in", {"email": user.email, "password": PASSWORD}).status_code == 429
    )


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
