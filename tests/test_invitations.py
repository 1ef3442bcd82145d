"""Onboarding by invitation: a single-use, 7-day link with a QR code, accepted on a phone."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import Session, func, select

from iop_pwa.accounts import services
from iop_pwa.accounts.models import (
    CareTeamLink,
    GroupMembership,
    Invitation,
    LoginSession,
    Role,
    User,
)
from iop_pwa.audit import AuditEvent
from iop_pwa.db import engine, session_scope, utcnow
from tests.conftest import PASSWORD, TEST_DATABASE_URL

NOON = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)


def create_invitation(client, **fields) -> tuple[int, str]:
    data = {"name": "Casey Morgan", "email": "", "group": "", "new_group": "Evening Group"}
    data.update(fields)
    response = client.post_form("/dashboard/invitations", data)
    assert response.status_code == 303, response.get_data(as_text=True)[-2000:]
    invitation_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    link = re.search(r'id="invite-link"[^>]*value="([^"]+)"', page)
    assert link, "the invitation page shows the link"
    assert "<svg" in page, "and a QR code"
    return invitation_id, link.group(1).split("localhost", 1)[-1]


def accept(app, path, **fields):
    phone = app.test_client()
    data = {
        "name": "Casey Morgan",
        "email": "casey@example.test",
        "password": "my own long password",
        "timezone": "America/Chicago",
        "privacy": "y",
    }
    data.update(fields)
    return phone, phone.post_form(path, data)


def test_therapist_invites_and_participant_joins(app, client, make_user, sign_in, db):
    therapist = make_user("therapist")
    sign_in(therapist)
    invitation_id, path = create_invitation(client)
    assert path.startswith("/join/")

    form = app.test_client().get(path).get_data(as_text=True)
    assert 'value="Casey Morgan"' in form
    assert "private" in form and "data-prefill-timezone" in form

    phone, response = accept(app, path)
    assert response.status_code == 303 and response.headers["Location"] == "/today"
    assert "Welcome, Casey" in phone.get("/today").get_data(as_text=True)

    participant = db.exec(select(User).where(User.email == "casey@example.test")).one()
    assert participant.timezone == "America/Chicago" and participant.role == "participant"
    assert db.exec(
        select(CareTeamLink).where(
            CareTeamLink.therapist_id == therapist.id, CareTeamLink.participant_id == participant.id
        )
    ).one()
    assert db.exec(select(GroupMembership).where(GroupMembership.user_id == participant.id)).one()
    invitation = db.get(Invitation, invitation_id)
    assert invitation.accepted_at is not None and invitation.participant_id == participant.id
    assert "Casey Morgan" in client.get("/dashboard/participants").get_data(as_text=True)
    actions = {e.action for e in db.exec(select(AuditEvent))}
    assert {"invitation_created", "invitation_accepted"} <= actions


def test_the_link_works_only_once(app, client, make_user, sign_in):
    sign_in(make_user("therapist"))
    _, path = create_invitation(client)
    accept(app, path)
    assert app.test_client().get(path).status_code == 404
    _, again = accept(app, path, email="someone.else@example.test")
    assert again.status_code == 404


def test_opening_ones_own_used_link_again_while_signed_in_goes_to_today(
    app, client, make_user, sign_in
):
    sign_in(make_user("therapist"))
    _, path = create_invitation(client)
    phone, joined = accept(app, path)
    assert joined.status_code == 303
    again = phone.get(path)  # tapped again in the message it came in
    assert again.status_code == 303 and again.headers["Location"] == "/today"
    assert "you are signed in" in phone.get("/today").get_data(as_text=True)
    # Anyone else (signed out, or signed in as someone else) still hears it doesn't work.
    assert "doesn't work any more" in app.test_client().get(path).get_data(as_text=True)
    other = make_user("participant")
    stranger = app.test_client()
    stranger.post_form("/sign-in", {"email": other.email, "password": PASSWORD})
    assert stranger.get(path).status_code == 404


def test_the_link_expires_after_seven_days(app, client, make_user, sign_in):
    with time_machine.travel(NOON, tick=False) as clock:
        sign_in(make_user("therapist"))
        _, path = create_invitation(client)
        clock.shift(timedelta(days=6, hours=23))
        assert app.test_client().get(path).status_code == 200
        clock.shift(timedelta(hours=2))
        expired = app.test_client().get(path)
        assert expired.status_code == 404
        assert "doesn't work any more" in expired.get_data(as_text=True)


def test_only_the_hash_of_the_token_is_stored(client, make_user, sign_in, db):
    sign_in(make_user("therapist"))
    invitation_id, path = create_invitation(client)
    token = path.rsplit("/", 1)[1]
    stored = db.get(Invitation, invitation_id)
    assert token not in stored.token_hash and len(stored.token_hash) == 64


def test_revoked_invitation_stops_working(app, client, make_user, sign_in):
    sign_in(make_user("therapist"))
    invitation_id, path = create_invitation(client)
    assert client.post_form(f"/dashboard/invitations/{invitation_id}/revoke").status_code == 303
    assert app.test_client().get(path).status_code == 404


def test_a_new_link_replaces_the_old_one(app, client, make_user, sign_in):
    sign_in(make_user("therapist"))
    invitation_id, old_path = create_invitation(client)
    client.post_form(f"/dashboard/invitations/{invitation_id}/renew")
    page = client.get(f"/dashboard/invitations/{invitation_id}").get_data(as_text=True)
    new_path = "/join/" + re.search(r'/join/([^"]+)"', page).group(1)
    assert new_path != old_path
    assert app.test_client().get(old_path).status_code == 404
    assert app.test_client().get(new_path).status_code == 200


def test_invitation_form_errors_are_shown_not_lost(client, make_user, sign_in):
    existing = make_user("participant")
    sign_in(make_user("therapist"))
    missing_name = client.post_form("/dashboard/invitations", {"name": "", "group": ""})
    assert missing_name.status_code == 422
    assert "Enter a name." in missing_name.get_data(as_text=True)
    taken = client.post_form(
        "/dashboard/invitations", {"name": "Dup", "email": existing.email, "group": ""}
    )
    assert taken.status_code == 422
    assert "already has an account" in taken.get_data(as_text=True)
    assert 'value="Dup"' in taken.get_data(as_text=True)


def test_accepting_checks_every_field(app, client, make_user, sign_in, db):
    taken = make_user("participant")
    sign_in(make_user("therapist"))
    _, path = create_invitation(client)
    _, short = accept(app, path, password="short")
    assert short.status_code == 422 and "at least 8 characters" in short.get_data(as_text=True)
    _, no_privacy = accept(app, path, privacy="")
    assert no_privacy.status_code == 422 and "privacy notice" in no_privacy.get_data(as_text=True)
    _, bad_zone = accept(app, path, timezone="Not/AZone")
    assert bad_zone.status_code == 422
    _, dup = accept(app, path, email=taken.email)
    assert dup.status_code == 422 and "already exists" in dup.get_data(as_text=True)
    assert db.exec(select(Invitation)).one().accepted_at is None  # still usable after mistakes
    _, ok = accept(app, path)
    assert ok.status_code == 303


def test_the_link_is_shown_only_on_the_device_that_made_it(app, client, make_user, sign_in):
    therapist = make_user("therapist")
    sign_in(therapist)
    invitation_id, _ = create_invitation(client)
    assert "/join/" in client.get(f"/dashboard/invitations/{invitation_id}").get_data(as_text=True)

    laptop = app.test_client()
    laptop.post_form("/sign-in", {"email": therapist.email, "password": PASSWORD})
    page = laptop.get(f"/dashboard/invitations/{invitation_id}").get_data(as_text=True)
    assert "/join/" not in page
    assert "Make a new link" in page


def test_invitation_created_for_existing_group(client, make_user, sign_in, db):
    make_user("participant", group="Morning Group")
    sign_in(make_user("therapist", group="Morning Group"))  # its facilitator
    from iop_pwa.accounts.models import Group

    group = db.exec(select(Group).where(Group.name == "Morning Group")).one()
    invitation_id, _ = create_invitation(client, new_group="", group=str(group.id))
    assert db.get(Invitation, invitation_id).group_id == group.id
    assert db.get(Invitation, invitation_id).expires_at > utcnow() + timedelta(days=6)


def open_invitation(app, therapist: User) -> str:
    """A fresh invitation made through the service; returns its raw token."""
    with app.app_context(), session_scope() as session:
        _, token = services.create_invitation(
            session,
            therapist=session.get(User, therapist.id),
            name="Casey Morgan",
            email=None,
            group=None,
            valid_for=timedelta(days=7),
        )
    return token


def participants(db) -> int:
    return db.exec(
        select(func.count()).select_from(User).where(User.role == Role.participant)
    ).one()


def accept_with(session: Session, invitation: Invitation, email: str) -> User:
    return services.accept_invitation(
        session,
        invitation=invitation,
        name="Casey Morgan",
        email=email,
        password="my own long password",
        timezone="America/Chicago",
    )


def test_a_link_read_by_two_requests_at_once_makes_one_account(app, make_user, db):
    token = open_invitation(app, make_user("therapist"))
    with (
        app.app_context(),
        Session(engine(), expire_on_commit=False) as first,
        Session(engine(), expire_on_commit=False) as second,
    ):
        # Both requests found the link open before either had finished.
        seen_first = services.find_open_invitation(first, token)
        seen_second = services.find_open_invitation(second, token)
        assert seen_first is not None and seen_second is not None
        accept_with(first, seen_first, "casey@example.test")
        first.commit()
        with pytest.raises(services.AccountError, match="no longer valid"):
            accept_with(second, seen_second, "someone.else@example.test")
        second.rollback()
    assert participants(db) == 1


def test_four_people_posting_one_link_at_once_make_one_account(app, make_user, db):
    """Real concurrency: four threads, each with its own connection, claim the same link."""
    token = open_invitation(app, make_user("therapist"))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        with app.app_context(), Session(engine(), expire_on_commit=False) as session:
            invitation = services.find_open_invitation(session, token)
            barrier.wait(timeout=10)
            try:
                accept_with(session, invitation, f"person{n}@example.test")
                session.commit()
                outcomes.append("created")
            except services.InvitationGone:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created", "refused", "refused", "refused"]
    assert participants(db) == 1
    invitation = db.exec(select(Invitation)).one()
    assert invitation.participant_id is not None


def test_two_invitations_accepted_at_once_with_one_email_make_one_account(app, make_user, db):
    """Two people (or one person on two phones) accept two different links with the same email
    at once: both pass the "email taken?" check, the unique index decides, and the other gets
    the form's clear answer, never a 500; their invitation stays open."""
    therapist = make_user("therapist")
    tokens = [open_invitation(app, therapist), open_invitation(app, therapist)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(token: str) -> None:
        with app.app_context(), Session(engine(), expire_on_commit=False) as session:
            invitation = services.find_open_invitation(session, token)
            barrier.wait(timeout=10)
            try:
                accept_with(session, invitation, "casey@example.test")
                session.commit()
                outcomes.append("created")
            except services.AccountError as exc:
                session.rollback()
                outcomes.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["An account with that email already exists.", "created"]
    assert participants(db) == 1
    assert len([i for i in db.exec(select(Invitation)) if i.accepted_at is None]) == 1


def test_an_email_taken_between_the_check_and_the_insert_is_a_clear_answer(
    app, make_user, db, monkeypatch
):
    """The race above, made certain: the check sees no account, the insert meets one."""
    make_user("participant", email="casey@example.test")
    token = open_invitation(app, make_user("therapist"))
    monkeypatch.setattr(services, "find_user_by_email", lambda session, email: None)
    phone, response = accept(app, f"/join/{token}", email="casey@example.test")
    assert response.status_code == 422
    assert "An account with that email already exists." in response.get_data(as_text=True)
    assert db.exec(select(Invitation)).one().accepted_at is None


def test_a_link_taken_while_the_form_was_open_gets_the_no_longer_valid_page(app, make_user, db):
    token = open_invitation(app, make_user("therapist"))
    path = f"/join/{token}"
    phone = app.test_client()
    assert phone.get(path).status_code == 200  # the form is open on one phone
    with app.app_context(), session_scope() as other:  # someone else sends it meanwhile
        invitation = services.find_open_invitation(other, token)
        accept_with(other, invitation, "first@example.test")
    _, response = accept(app, path, email="second@example.test")
    assert response.status_code == 404
    assert "doesn't work any more" in response.get_data(as_text=True)
    assert participants(db) == 1


def test_a_link_claimed_between_reading_and_claiming_it_makes_one_account(
    app, make_user, db, monkeypatch
):
    """The claim's conditional UPDATE, where two requests' transactions interleave. On SQLite
    they can't: a write request holds the write lock from its first statement (BEGIN
    IMMEDIATE), so the other request waits for it (the threads of
    `test_four_people_posting_one_link_at_once_make_one_account` show that)."""
    if TEST_DATABASE_URL.startswith("sqlite"):
        pytest.skip("SQLite runs write requests one at a time: they cannot interleave")
    token = open_invitation(app, make_user("therapist"))
    path = f"/join/{token}"
    # The link is claimed by another request between this one reading it and claiming it.
    real_find = services.find_open_invitation

    def find_then_lose_the_race(session, raw_token):
        invitation = real_find(session, raw_token)
        with app.app_context(), session_scope() as other:
            accept_with(other, other.get(Invitation, invitation.id), "first@example.test")
        return invitation

    monkeypatch.setattr(services, "find_open_invitation", find_then_lose_the_race)
    _, response = accept(app, path, email="second@example.test")
    assert response.status_code == 404
    assert "doesn't work any more" in response.get_data(as_text=True)
    assert participants(db) == 1


def test_opening_a_link_while_signed_in_asks_before_signing_out(
    app, client, make_user, sign_in, db
):
    therapist = make_user("therapist")
    sam = make_user("participant", name="Sam Rivera", therapist=therapist)
    token = open_invitation(app, therapist)
    sign_in(sam)

    page = client.get(f"/join/{token}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "You are signed in as Sam. This invitation is for a new account." in text
    assert ">Sign out and continue</button>" in text and 'href="/today"' in text
    assert "Create my account" not in text
    # Nothing was ended: the server-side session lives and Sam is still signed in.
    assert db.exec(select(LoginSession).where(LoginSession.user_id == sam.id)).one()
    assert client.get("/today").status_code == 200
    # Posting the form while signed in does not sign anyone out or make an account either.
    posted = client.post_form(
        f"/join/{token}",
        {
            "name": "Casey",
            "email": "casey@example.test",
            "password": "my own long password",
            "timezone": "America/Chicago",
            "privacy": "y",
        },
    )
    assert posted.status_code == 409
    assert client.get("/today").status_code == 200
    assert participants(db) == 1


def test_sign_out_and_continue_ends_the_server_session(app, client, make_user, sign_in, db):
    therapist = make_user("therapist")
    sam = make_user("participant", name="Sam Rivera", therapist=therapist)
    token = open_invitation(app, therapist)
    sign_in(sam)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value

    assert client.post(f"/join/{token}/sign-out").status_code == 400  # CSRF protected
    response = client.post_form(f"/join/{token}/sign-out")
    assert response.status_code == 303 and response.headers["Location"] == f"/join/{token}"
    assert db.exec(select(LoginSession).where(LoginSession.user_id == sam.id)).all() == []
    assert "sign_out" in {e.action for e in db.exec(select(AuditEvent))}
    form = client.get(f"/join/{token}").get_data(as_text=True)
    assert "Create my account" in form and "You are signed out" in form
    # The old cookie no longer signs anyone in.
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    assert thief.get("/today").status_code == 303
