"""Mail, where the program set it up (SMTP_URL, MAIL_FROM): "Forgot your password?" emails a
sign-in link, and a therapist can email an invitation's link. The worker sends from a queue that
holds no address or link; every test here reads what a real SMTP server on loopback received."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from iop_pwa import create_app, mail
from iop_pwa.accounts.models import Invitation, LoginSession, SignInLink
from iop_pwa.audit import AuditEvent
from iop_pwa.config import ConfigError, mail_settings
from iop_pwa.mail import QueuedMail
from iop_pwa.worker import run_round
from tests.conftest import MAIL_FROM, PASSWORD, Mailbox, free_port

NOON = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
NEW_PASSWORD = "a quiet walk by the lake"
SIGN_IN_LINK = re.compile(r"^http://localhost(/sign-in/link/[A-Za-z0-9_-]{20,})\r?$", re.M)
JOIN_LINK = re.compile(r"^http://localhost(/join/[A-Za-z0-9_-]{20,})\r?$", re.M)


def send_queued(app) -> int:
    """One round of the background worker (what `flask worker` runs every minute)."""
    with app.app_context():
        return run_round()["mail_outbox"]


def body_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def forgot(client, email: str):
    return client.post_form("/sign-in/forgot", {"email": email})


@pytest.mark.mail
def test_forgot_password_emails_a_link_that_signs_the_person_in(
    app, client, make_user, mailbox, db
):
    sam = make_user("participant", name="Sam Lee", email="sam@example.test")
    old_phone = app.test_client()
    old_phone.post_form("/sign-in", {"email": sam.email, "password": PASSWORD})

    page = client.get("/sign-in/forgot").get_data(as_text=True)
    assert "Enter the email you sign in with" in page
    answer = forgot(client, "  Sam@Example.TEST ")
    assert answer.status_code == 200
    assert "If an account uses that email, a link to sign in is on its way." in answer.get_data(
        as_text=True
    )
    assert mailbox.messages == [], "the request itself sends nothing"
    [queued] = db.exec(select(QueuedMail)).all()
    assert (queued.purpose, queued.user_id) == ("sign_in_link", sam.id)

    assert send_queued(app) == 1
    [(recipients, message)] = mailbox.messages
    assert recipients == ["sam@example.test"]
    assert message["From"] == MAIL_FROM and message["To"] == "sam@example.test"
    assert message["Subject"] == "Your link to sign in to IOP Companion"
    body = body_of(message)
    assert "Here is your link to sign in to IOP Companion" in body
    assert "Sam" not in body, "no name: nothing about the person but the link"
    path = SIGN_IN_LINK.search(body).group(1)
    assert db.exec(select(QueuedMail)).all() == []
    [link] = db.exec(select(SignInLink)).all()
    assert path.rsplit("/", 1)[1] not in link.token_hash and link.created_by_id is None

    phone = app.test_client()
    assert "Choose a new password for sam@example.test" in phone.get(path).get_data(as_text=True)
    chosen = phone.post_form(path, {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert chosen.status_code == 303 and chosen.headers["Location"] == "/today"
    assert phone.get("/today").status_code == 200
    assert old_phone.get("/today").status_code == 303  # the older session ended
    assert [s.user_id for s in db.exec(select(LoginSession))] == [sam.id]
    assert phone.get(path).status_code == 404
    emailed = db.exec(select(AuditEvent).where(AuditEvent.action == "sign_in_link_emailed")).all()
    assert [e.subject_id for e in emailed] == [sam.id]


@pytest.mark.mail
def test_the_answer_is_the_same_whether_or_not_the_email_has_an_account(
    app, make_user, mailbox, db
):
    sam = make_user("participant", email="sam@example.test")
    pages = []
    for email in (sam.email, "nobody@example.test"):
        client = app.test_client()
        response = forgot(client, email)
        page = re.sub(r'"X-CSRFToken": "[^"]+"', "", response.get_data(as_text=True))
        pages.append((response.status_code, page))
    assert pages[0] == pages[1]
    assert len(db.exec(select(QueuedMail)).all()) == 2, "both queue a row: the same steps"
    assert send_queued(app) == 1
    assert [recipients for recipients, _ in mailbox.messages] == [["sam@example.test"]]
    assert db.exec(select(QueuedMail)).all() == []


@pytest.mark.mail
def test_a_deactivated_account_gets_no_mail(app, client, make_user, mailbox, db):
    therapist = make_user("therapist")
    sam = make_user("participant", therapist=therapist)
    with app.app_context():
        from iop_pwa.accounts.models import ParticipantStatus, User
        from iop_pwa.db import session_scope

        with session_scope() as session:
            session.get(User, sam.id).status = ParticipantStatus.deactivated
    forgot(client, sam.email)
    assert send_queued(app) == 0
    assert mailbox.messages == [] and db.exec(select(SignInLink)).all() == []


@pytest.mark.mail
def test_asking_again_and_again_is_limited(app, make_user, mailbox):
    """Per address in the view (10 an hour); per account in the worker (3 mailed an hour,
    whoever asks from wherever); each link mailed replaces the one before."""
    sam = make_user("participant", email="sam@example.test")
    client = app.test_client()
    answers = [forgot(client, sam.email).status_code for _ in range(11)]
    assert answers == [200] * 10 + [429]
    assert send_queued(app) == 3
    assert len(mailbox.messages) == 3
    paths = [SIGN_IN_LINK.search(body_of(m)).group(1) for _, m in mailbox.messages]
    assert [app.test_client().get(p).status_code for p in paths] == [404, 404, 200]


@pytest.mark.mail
def test_no_log_line_names_the_email_or_holds_the_link(app, make_user, mailbox, caplog):
    sam = make_user("participant", email="sam.private@example.test")
    caplog.set_level(logging.DEBUG)
    forgot(app.test_client(), sam.email)
    send_queued(app)
    path = SIGN_IN_LINK.search(body_of(mailbox.messages[0][1])).group(1)
    app.test_client().post_form(path, {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    # ...and when sending fails (the server is gone).
    mailbox.stop()
    forgot(app.test_client(), sam.email)
    send_queued(app)
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # not aiosmtpd's
    assert any("was not sent" in r.getMessage() for r in ours)
    text = "\n".join(r.getMessage() for r in ours)
    assert "sam.private" not in text and path.rsplit("/", 1)[1] not in text


@pytest.mark.mail
def test_a_mail_server_that_is_down_keeps_the_message_for_later_and_the_old_link_working(
    app, client, make_user, sign_in, mailbox, db
):
    from aiosmtpd.controller import Controller

    therapist = make_user("therapist")
    sam = make_user("participant", therapist=therapist)
    sign_in(therapist)
    client.post_form(f"/dashboard/participants/{sam.id}/sign-in-link")
    page = client.get(f"/dashboard/participants/{sam.id}/sign-in-link").get_data(as_text=True)
    staff_path = re.search(r'value="http://localhost(/sign-in/link/[^"]+)"', page).group(1)
    mailbox.stop()

    with time_machine.travel(NOON, tick=False) as clock:
        forgot(app.test_client(), sam.email)
        assert send_queued(app) == 0
        [queued] = db.exec(select(QueuedMail)).all()
        assert queued.attempts == 1 and queued.next_try_at == NOON + timedelta(minutes=2)
        assert app.test_client().get(staff_path).status_code == 200, "not replaced by a failure"
        assert len(db.exec(select(SignInLink)).all()) == 1
        assert send_queued(app) == 0
        assert db.get(QueuedMail, queued.id).attempts == 1, "not tried again before its time"

        again = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
        again.start()
        try:
            clock.shift(timedelta(minutes=2))
            assert send_queued(app) == 1
        finally:
            again.stop()
    assert len(mailbox.messages) == 1
    assert app.test_client().get(staff_path).status_code == 404, "the mailed link replaced it"


@pytest.mark.mail
def test_a_therapist_emails_an_invitation_link(app, client, make_user, sign_in, mailbox, db):
    therapist = make_user("therapist")
    sign_in(therapist)
    created = client.post_form(
        "/dashboard/invitations",
        {"name": "Casey Morgan", "email": "casey@example.test", "group": "", "new_group": ""},
    )
    page_url = created.headers["Location"]
    invitation_id = int(page_url.rsplit("/", 1)[1])
    page = client.get(page_url).get_data(as_text=True)
    shown = re.search(r'id="invite-link"[^>]*value="http://localhost([^"]+)"', page).group(1)
    assert "Email the link" in page and 'value="casey@example.test"' in page

    sent = client.post_form(f"{page_url}/email", {"email": "casey.m@example.test"})
    assert sent.status_code == 303 and sent.headers["Location"] == page_url
    after = client.get(page_url).get_data(as_text=True)
    assert "A new link is on its way to casey.m@example.test" in after
    assert 'id="invite-link"' not in after
    assert app.test_client().get(shown).status_code == 404, "the shown link stops at once"
    assert db.get(Invitation, invitation_id).email == "casey.m@example.test"

    assert send_queued(app) == 1
    [(recipients, message)] = mailbox.messages
    assert recipients == ["casey.m@example.test"]
    assert message["Subject"] == "Your link to join IOP Companion"
    assert "Casey" not in body_of(message)
    path = JOIN_LINK.search(body_of(message)).group(1)
    phone = app.test_client()
    joined = phone.post_form(
        path,
        {
            "name": "Casey Morgan",
            "email": "casey.m@example.test",
            "password": "my own long password",
            "timezone": "America/Chicago",
            "privacy": "y",
        },
    )
    assert joined.status_code == 303 and joined.headers["Location"] == "/today"
    actions = [e.action for e in db.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert "invitation_email_queued" in actions and "invitation_emailed" in actions


@pytest.mark.mail
def test_emailing_an_invitation_checks_the_address(app, client, make_user, sign_in, db):
    taken = make_user("participant", email="taken@example.test")
    therapist = make_user("therapist")
    sign_in(therapist)
    created = client.post_form(
        "/dashboard/invitations", {"name": "Casey", "email": "", "group": "", "new_group": ""}
    )
    page_url = created.headers["Location"]
    bad = client.post_form(f"{page_url}/email", {"email": "not an email"})
    assert bad.status_code == 422 and "Enter a valid email." in bad.get_data(as_text=True)
    used = client.post_form(f"{page_url}/email", {"email": taken.email})
    assert used.status_code == 422
    assert "already has an account" in used.get_data(as_text=True)
    assert db.exec(select(QueuedMail)).all() == []


def test_without_mail_the_invitation_page_offers_no_email(app, client, make_user, sign_in, db):
    sign_in(make_user("therapist"))
    created = client.post_form(
        "/dashboard/invitations",
        {"name": "Casey", "email": "casey@example.test", "group": "", "new_group": ""},
    )
    page_url = created.headers["Location"]
    assert "Email the link" not in client.get(page_url).get_data(as_text=True)
    refused = client.post_form(f"{page_url}/email", {"email": "casey@example.test"})
    assert refused.status_code == 303
    assert "Email is not set up" in client.get(page_url).get_data(as_text=True)
    assert db.exec(select(QueuedMail)).all() == []


# --- Settings and the connection ----------------------------------------------------------


def test_smtp_url_settings():
    remote = mail_settings("smtp://me%40clinic.org:p%40ss%3Aword@mail.clinic.org", MAIL_FROM, "x")
    assert remote["MAIL_SERVER"] == "mail.clinic.org" and remote["MAIL_PORT"] == 587
    assert remote["MAIL_USE_TLS"] and not remote["MAIL_USE_SSL"]
    assert (remote["MAIL_USERNAME"], remote["MAIL_PASSWORD"]) == ("me@clinic.org", "p@ss:word")
    assert remote["MAIL_DEFAULT_SENDER"] == MAIL_FROM and remote["MAIL_ENABLED"]
    secure = mail_settings("smtps://u:p@mail.clinic.org", MAIL_FROM, "x")
    assert secure["MAIL_PORT"] == 465 and secure["MAIL_USE_SSL"] and not secure["MAIL_USE_TLS"]
    local = mail_settings("smtp://127.0.0.1", MAIL_FROM, "x")
    assert local["MAIL_PORT"] == 25 and not local["MAIL_USE_TLS"] and not local["MAIL_USE_SSL"]
    assert mail_settings("", "", "") == {"MAIL_ENABLED": False}


@pytest.mark.parametrize(
    ("smtp_url", "mail_from", "public_url", "says"),
    [
        ("smtp://mail.clinic.org", "", "https://app.clinic.org", "both SMTP_URL and MAIL_FROM"),
        ("", MAIL_FROM, "https://app.clinic.org", "both SMTP_URL and MAIL_FROM"),
        ("http://mail.clinic.org", MAIL_FROM, "https://app.clinic.org", "smtp://"),
        ("smtp://mail.clinic.org:99999", MAIL_FROM, "https://app.clinic.org", "not a URL"),
        ("smtp://mail.clinic.org", "nobody", "https://app.clinic.org", "MAIL_FROM must"),
        ("smtp://mail.clinic.org", MAIL_FROM, "", "Set PUBLIC_URL"),
    ],
)
def test_unusable_mail_settings_stop_the_start(smtp_url, mail_from, public_url, says):
    with pytest.raises(ConfigError, match=says):
        mail_settings(smtp_url, mail_from, public_url)


def _sending_app(database_url, port: int, **settings):
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
            **mail_settings(f"smtp://127.0.0.1:{port}", MAIL_FROM, "http://localhost"),
            **settings,
        }
    )


def _serve(box: Mailbox, **smtp_parameters):
    from aiosmtpd.controller import Controller

    controller = Controller(box, hostname="127.0.0.1", port=free_port(), **smtp_parameters)
    controller.start()
    return controller


def test_starttls_never_falls_back_to_plain_text(database_url):
    box = Mailbox()
    server = _serve(box)  # offers no STARTTLS
    try:
        app = _sending_app(database_url, server.port, MAIL_USE_TLS=True)
        with app.app_context(), pytest.raises(smtplib.SMTPNotSupportedError):
            mail.send(to="sam@example.test", subject="s", body="b")
    finally:
        server.stop()
    assert box.messages == []


def test_starttls_checks_the_servers_certificate(database_url, tmp_path):
    """A server whose certificate nobody vouches for gets nothing; Flask-Mailman's own backend
    (no context to smtplib, which then checks nothing) would have sent it the message."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    box = Mailbox()
    server = _serve(box, tls_context=context, require_starttls=True)
    try:
        ours = _sending_app(database_url, server.port, MAIL_USE_TLS=True)
        with ours.app_context(), pytest.raises(ssl.SSLCertVerificationError):
            mail.send(to="sam@example.test", subject="s", body="b")
        assert box.messages == []
        stock = _sending_app(database_url, server.port, MAIL_USE_TLS=True, MAIL_BACKEND="smtp")
        with stock.app_context():
            mail.send(to="sam@example.test", subject="s", body="b")
        assert len(box.messages) == 1
    finally:
        server.stop()


def test_the_user_and_password_in_smtp_url_sign_in_to_the_server(database_url):
    from aiosmtpd.smtp import AuthResult

    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    box = Mailbox()
    server = _serve(box, authenticator=authenticator, auth_require_tls=False)
    try:
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": database_url,
                "SECRET_KEY": "test-secret-key-that-is-long-enough-for-tests",
                **mail_settings(
                    f"smtp://app%40clinic.org:s%3Acret@127.0.0.1:{server.port}",
                    MAIL_FROM,
                    "http://localhost",
                ),
            }
        )
        with app.app_context():
            mail.send(to="sam@example.test", subject="s", body="b")
    finally:
        server.stop()
    assert logins == [("app@clinic.org", "s:cret")]
    assert len(box.messages) == 1
