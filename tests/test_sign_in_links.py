"""A forgotten password is not a dead end: the therapist gives a single-use sign-in link (and QR
code) from the participant's page; it lets the person choose a new password, ends their other
sessions and signs them in. Without mail set up, "Forgot your password?" says to ask for one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import time_machine
from sqlmodel import select

from iop_pwa.accounts.models import LoginSession, SignInLink, User
from iop_pwa.audit import AuditEvent
from iop_pwa.mail import QueuedMail
from tests.conftest import PASSWORD

NOON = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
NEW_PASSWORD = "a quiet walk by the lake"


def make_link(client, participant) -> str:
    """As the signed-in therapist: "Send a sign-in link" on the participant's page; returns the
    link's path, read from the page's labelled read-only box."""
    page = client.get(f"/dashboard/participants/{participant.id}").get_data(as_text=True)
    assert "Send a sign-in link" in page
    response = client.post_form(f"/dashboard/participants/{participant.id}/sign-in-link")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/dashboard/participants/{participant.id}/sign-in-link"
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<label for="sign-in-link">Sign-in link</label>' in shown
    assert "<svg" in shown, "and a QR code"
    link = re.search(r'id="sign-in-link" type="text" readonly value="([^"]+)"', shown)
    assert link, "the link is shown in a read-only box"
    return link.group(1).split("localhost", 1)[-1]


def choose(app, path, password=NEW_PASSWORD, confirm=None, client=None):
    phone = client or app.test_client()
    return phone, phone.post_form(
        path, {"new_password": password, "confirm": password if confirm is None else confirm}
    )


def test_a_therapist_gives_a_sign_in_link_and_the_participant_chooses_a_new_password(
    app, client, make_user, sign_in, db
):
    therapist = make_user("therapist")
    sam = make_user("participant", name="Sam Lee", therapist=therapist)
    old_phone = app.test_client()
    signed_in = old_phone.post_form("/sign-in", {"email": sam.email, "password": PASSWORD})
    assert signed_in.status_code == 303
    assert old_phone.get("/today").status_code == 200

    sign_in(therapist)
    path = make_link(client, sam)
    assert path.startswith("/sign-in/link/")

    opened = app.test_client().get(path)
    assert opened.status_code == 200 and opened.headers["Cache-Control"] == "no-store"
    assert "Choose a new password" in opened.get_data(as_text=True)
    new_phone, response = choose(app, path)
    assert response.status_code == 303 and response.headers["Location"] == "/today"
    assert "signed out on your other devices" in new_phone.get("/today").get_data(as_text=True)

    # The older device's session is gone; the new password works and the old one doesn't.
    assert old_phone.get("/today").headers["Location"].startswith("/sign-in")
    assert [s.user_id for s in db.exec(select(LoginSession))] == [therapist.id, sam.id]
    fresh = app.test_client()
    refused = fresh.post_form("/sign-in", {"email": sam.email, "password": PASSWORD})
    assert refused.status_code == 422 and "match an account" in refused.get_data(as_text=True)
    signed = fresh.post_form("/sign-in", {"email": sam.email, "password": NEW_PASSWORD})
    assert signed.status_code == 303

    # It worked once.
    assert app.test_client().get(path).status_code == 404
    assert choose(app, path, password="yet another password")[1].status_code == 404
    events = db.exec(select(AuditEvent).where(AuditEvent.subject_id == sam.id)).all()
    made = [e for e in events if e.action == "sign_in_link_created"]
    assert [(e.actor_id, e.object_type, e.object_id) for e in made] == [
        (therapist.id, "participant", sam.id)
    ]
    assert [e.actor_id for e in events if e.action == "sign_in_link_used"] == [sam.id]


def test_only_the_hash_is_stored_and_a_new_link_replaces_the_old(
    app, client, make_user, sign_in, db
):
    therapist = make_user("therapist")
    sam = make_user("participant", therapist=therapist)
    sign_in(therapist)
    first = make_link(client, sam)
    second = make_link(client, sam)
    assert first != second
    [stored] = db.exec(select(SignInLink)).all()
    token = second.rsplit("/", 1)[1]
    assert token not in stored.token_hash and len(stored.token_hash) == 64
    assert stored.created_by_id == therapist.id and stored.user_id == sam.id
    assert app.test_client().get(first).status_code == 404
    assert "doesn't work any more" in app.test_client().get(first).get_data(as_text=True)
    assert app.test_client().get(second).status_code == 200


def test_the_link_expires_after_24_hours(app, client, make_user, sign_in):
    with time_machine.travel(NOON, tick=False) as clock:
        therapist = make_user("therapist")
        sam = make_user("participant", therapist=therapist)
        sign_in(therapist)
        path = make_link(client, sam)
        page = client.get(f"/dashboard/participants/{sam.id}/sign-in-link")
        assert "It works once, until" in page.get_data(as_text=True)
        clock.shift(timedelta(hours=23, minutes=59))
        assert app.test_client().get(path).status_code == 200
        clock.shift(timedelta(minutes=2))
        assert app.test_client().get(path).status_code == 404
        assert choose(app, path)[1].status_code == 404
        shown = client.get(f"/dashboard/participants/{sam.id}/sign-in-link")
        assert 'id="sign-in-link"' not in shown.get_data(as_text=True)


def test_a_refused_password_keeps_the_link(app, client, make_user, sign_in, db):
    therapist = make_user("therapist")
    sam = make_user("participant", therapist=therapist)
    sign_in(therapist)
    path = make_link(client, sam)
    phone, short = choose(app, path, password="short")
    assert short.status_code == 422 and "at least 8 characters" in short.get_data(as_text=True)
    _, differ = choose(app, path, confirm="something else entirely", client=phone)
    assert differ.status_code == 422 and "The two passwords differ." in differ.get_data(
        as_text=True
    )
    assert choose(app, path, client=phone)[1].status_code == 303
    assert db.exec(select(SignInLink)).all() == []


def test_changing_the_password_on_the_account_page_ends_an_open_link(
    app, client, make_user, sign_in
):
    therapist = make_user("therapist")
    sam = make_user("participant", therapist=therapist)
    sign_in(therapist)
    path = make_link(client, sam)
    phone = app.test_client()
    phone.post_form("/sign-in", {"email": sam.email, "password": PASSWORD})
    changed = phone.post_form(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert changed.status_code == 303
    assert app.test_client().get(path).status_code == 404


def test_a_link_opened_where_someone_else_is_signed_in_asks_first(app, client, make_user, sign_in):
    therapist = make_user("therapist")
    sam = make_user("participant", therapist=therapist)
    robin = make_user("participant", name="Robin Park", therapist=therapist)
    sign_in(therapist)
    path = make_link(client, sam)
    shared_phone = app.test_client()
    shared_phone.post_form("/sign-in", {"email": robin.email, "password": PASSWORD})

    page = shared_phone.get(path).get_data(as_text=True)
    assert "You are signed in as Robin" in page and "new_password" not in page
    assert choose(app, path, client=shared_phone)[1].status_code == 409
    assert shared_phone.get("/today").status_code == 200  # Robin is still signed in

    out = shared_phone.post_form(f"{path}/sign-out")
    assert out.status_code == 303 and out.headers["Location"] == path
    assert shared_phone.get("/today").status_code == 303
    assert choose(app, path, client=shared_phone)[1].headers["Location"] == "/today"


def test_the_person_signed_in_with_the_link_can_use_it_too(app, client, make_user, sign_in, db):
    """Someone who still has a session but forgot their password: their other sessions end,
    this browser gets a fresh one."""
    therapist = make_user("therapist")
    sam = make_user("participant", therapist=therapist)
    sign_in(therapist)
    path = make_link(client, sam)
    phone = app.test_client()
    phone.post_form("/sign-in", {"email": sam.email, "password": PASSWORD})
    before = {s.token_hash for s in db.exec(select(LoginSession)).all() if s.user_id == sam.id}
    assert choose(app, path, client=phone)[1].status_code == 303
    after = {s.token_hash for s in db.exec(select(LoginSession)).all() if s.user_id == sam.id}
    assert len(after) == 1 and not after & before
    assert phone.get("/today").status_code == 200


def test_no_link_for_a_deactivated_participant(app, client, make_user, sign_in, db):
    therapist = make_user("therapist")
    sam = make_user("participant", therapist=therapist)
    sign_in(therapist)
    path = make_link(client, sam)
    client.post_form(f"/dashboard/participants/{sam.id}/deactivate")
    assert app.test_client().get(path).status_code == 404  # the open link stops working
    page = client.get(f"/dashboard/participants/{sam.id}").get_data(as_text=True)
    assert "Send a sign-in link" not in page
    refused = client.post_form(f"/dashboard/participants/{sam.id}/sign-in-link")
    assert refused.status_code == 404


def test_the_sign_in_page_leads_to_forgot_password_which_says_to_ask_the_therapist(
    app, client, make_user, db
):
    """Without mail set up, nothing is sent: the page says how to get a sign-in link."""
    sam = make_user("participant")
    page = client.get("/sign-in").get_data(as_text=True)
    assert 'href="/sign-in/forgot">Forgot your password?</a>' in page
    assert "new invitation" not in page
    forgot = client.get("/sign-in/forgot").get_data(as_text=True)
    assert "Ask your therapist for a sign-in link." in forgot
    assert 'name="email"' not in forgot
    posted = client.post_form("/sign-in/forgot", {"email": sam.email})
    assert posted.status_code == 200
    assert "Ask your therapist for a sign-in link." in posted.get_data(as_text=True)
    assert db.exec(select(QueuedMail)).all() == []
    assert db.exec(select(SignInLink)).all() == []


def test_deleting_the_account_deletes_its_links(app, client, make_user, sign_in, db):
    therapist = make_user("therapist")
    sam = make_user("participant", therapist=therapist)
    sign_in(therapist)
    make_link(client, sam)
    phone = app.test_client()
    phone.post_form("/sign-in", {"email": sam.email, "password": PASSWORD})
    assert phone.post_form("/account/delete", {"password": PASSWORD}).status_code == 303
    assert db.get(User, sam.id) is None
    assert db.exec(select(SignInLink)).all() == []
