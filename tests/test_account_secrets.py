"""What a stolen session cookie, or a captured passkey answer, must not give anyone (issue #22):

- the session cookie is only signed, so whoever holds it reads it: no sign-in link, invitation
  link or recovery code is in it, while the page still shows them on the device that made them
  (and not on another device of the same person);
- a passkey answer works once: replayed with the cookie it was made with, it is refused;
- changing a second factor takes the current one, never the password alone, and the person is
  told (in the app, and by mail).

Passkeys here are `tests.soft_passkey.SoftPasskey` (a synced passkey's answers, counter 0);
Chromium's virtual authenticator is used in tests/browser/test_second_factor.py.
"""

from __future__ import annotations

import base64
import re
import zlib
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from sqlmodel import select

from iop_pwa.accounts.models import Passkey, RecoveryCode, TotpFactor
from iop_pwa.notifications import Notification
from iop_pwa.worker import run_round
from tests.conftest import PASSWORD, STAFF_TOTP_SECRET
from tests.helpers import signed_in
from tests.soft_passkey import SoftPasskey
from tests.test_invitations import create_invitation
from tests.test_sign_in_links import make_link

NOON = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
ORIGIN = "http://localhost"  # the test client's site, the passkeys' relying party
APP = pyotp.TOTP(STAFF_TOTP_SECRET)


def cookie_text(app, client) -> str:
    """What anyone holding this browser's session cookie reads in it, without the app's key:
    Flask's cookie is base64 (zlib-compressed when it starts with a dot), then a signature."""
    value = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    payload = value.removeprefix(".").split(".")[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(data) if value.startswith(".") else data).decode()


def json_headers(client) -> dict[str, str]:
    return {"X-CSRFToken": client.csrf_token(), "Accept": "application/json"}


def add_passkey(client, device: SoftPasskey, url: str = "/account/passkeys"):
    headers = json_headers(client)
    options = client.post(f"{url}/options", headers=headers)
    assert options.status_code == 200, options.get_data(as_text=True)
    credential = device.register(options.get_json(), ORIGIN)
    return client.post(url, headers=headers, json={"credential": credential, "name": "My phone"})


# --- Item 9: nothing in the cookie that opens anything -----------------------------------------


def test_a_sign_in_link_and_an_invitation_link_show_on_this_device_only_and_not_in_the_cookie(
    app, make_user
):
    therapist = make_user("therapist", group="Evening")
    sam = make_user("participant", therapist=therapist)
    laptop = signed_in(app, therapist)
    phone = signed_in(app, therapist)  # the same therapist, on another device

    sign_in_path = make_link(laptop, sam)
    sign_in_token = sign_in_path.rsplit("/", 1)[1]
    invitation_id, join_path = create_invitation(laptop)
    join_token = join_path.rsplit("/", 1)[1]
    assert len(sign_in_token) >= 20 and len(join_token) >= 20

    readable = cookie_text(app, laptop)
    assert sign_in_token not in readable and join_token not in readable
    # The device that made them still shows them...
    assert sign_in_path in laptop.get(f"/dashboard/participants/{sam.id}/sign-in-link").text
    assert join_path in laptop.get(f"/dashboard/invitations/{invitation_id}").text
    # ...and another device of the same therapist doesn't.
    assert sign_in_path not in phone.get(f"/dashboard/participants/{sam.id}/sign-in-link").text
    assert join_path not in phone.get(f"/dashboard/invitations/{invitation_id}").text
    for client in (laptop, phone):
        assert sign_in_token not in cookie_text(app, client)
        assert join_token not in cookie_text(app, client)

    # Signing out ends what the session kept: signed in again, the link is no longer shown.
    laptop.post_form("/sign-out")
    again = signed_in(app, therapist)
    assert join_path not in again.get(f"/dashboard/invitations/{invitation_id}").text


def test_recovery_codes_of_a_passkey_set_up_show_once_here_and_are_not_in_the_cookie(
    app, make_user, db
):
    therapist = make_user("therapist")
    for row in db.exec(select(TotpFactor).where(TotpFactor.user_id == therapist.id)).all():
        db.delete(row)
    db.commit()
    laptop = app.test_client()
    laptop.type_second_factor = False
    first = laptop.post_form("/sign-in", {"email": therapist.email, "password": PASSWORD})
    assert first.headers["Location"] == "/sign-in/set-up"
    device = SoftPasskey()
    done = add_passkey(laptop, device, "/sign-in/set-up/passkey")
    assert done.status_code == 200 and done.get_json()["redirect"] == "/sign-in/recovery-codes"
    assert len(db.exec(select(RecoveryCode)).all()) == 10
    readable = cookie_text(app, laptop)

    # The same therapist signs in on another device (with the passkey): no codes there.
    other = app.test_client()
    options = other.post("/sign-in/passkey/options", headers=json_headers(other)).get_json()
    signed = other.post(
        "/sign-in/passkey",
        headers=json_headers(other),
        json={"credential": device.sign(options, ORIGIN)},
    )
    assert signed.status_code == 200 and signed.get_json()["redirect"] == "/dashboard"
    assert other.get("/sign-in/recovery-codes").status_code == 303

    shown = laptop.get("/sign-in/recovery-codes")
    assert shown.status_code == 200
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", shown.text)
    assert len(codes) == 10
    for code in codes:
        assert code not in readable and code.replace("-", "") not in readable
        assert code not in cookie_text(app, laptop)
    # Once: the page doesn't show them again.
    assert laptop.get("/sign-in/recovery-codes").status_code == 303


# --- Item 8: a passkey answer works once ---------------------------------------------------------


def test_a_captured_passkey_sign_in_replayed_with_the_old_cookie_is_refused(app, make_user, db):
    sam = make_user("participant", name="Sam Lee")
    device = SoftPasskey()
    assert add_passkey(signed_in(app, sam), device).status_code == 200

    phone = app.test_client()
    headers = json_headers(phone)
    options = phone.post("/sign-in/passkey/options", headers=headers).get_json()
    old_cookie = phone.get_cookie(app.config["SESSION_COOKIE_NAME"]).value  # what was captured
    answer = device.sign(options, ORIGIN)  # ...and the answer on its way
    signed = phone.post("/sign-in/passkey", headers=headers, json={"credential": answer})
    assert signed.status_code == 200 and signed.get_json()["redirect"] == "/today"

    attacker = app.test_client()
    attacker.set_cookie(app.config["SESSION_COOKIE_NAME"], old_cookie)
    replay = attacker.post("/sign-in/passkey", headers=headers, json={"credential": answer})
    assert replay.status_code == 400 and "already used" in replay.get_json()["error"]
    assert attacker.get("/today").status_code in (302, 303)  # nobody signed in
    from iop_pwa.accounts.models import WebAuthnChallenge

    assert db.exec(select(WebAuthnChallenge)).all() == []  # used, and gone
    # The phone's next sign-in works as ever.
    phone.post_form("/sign-out")
    again = phone.post("/sign-in/passkey/options", headers=json_headers(phone)).get_json()
    fresh = device.sign(again, ORIGIN)
    assert (
        phone.post(
            "/sign-in/passkey", headers=json_headers(phone), json={"credential": fresh}
        ).status_code
        == 200
    )


def test_a_passkey_challenge_expires_and_is_not_taken_for_another_purpose(app, make_user):
    sam = make_user("participant")
    device = SoftPasskey()
    with time_machine.travel(NOON, tick=False) as clock:
        client = signed_in(app, sam)
        assert add_passkey(client, device).status_code == 200
        # Options for "Confirm it's you" answered to the sign-in endpoint: refused.
        confirm = client.post("/account/confirm/passkey/options", headers=json_headers(client))
        phone = app.test_client()
        answer = device.sign(confirm.get_json(), ORIGIN)
        wrong = phone.post(
            "/sign-in/passkey", headers=json_headers(phone), json={"credential": answer}
        )
        assert wrong.status_code == 400
        options = phone.post("/sign-in/passkey/options", headers=json_headers(phone)).get_json()
        clock.shift(timedelta(minutes=6))
        late = phone.post(
            "/sign-in/passkey",
            headers=json_headers(phone),
            json={"credential": device.sign(options, ORIGIN)},
        )
        assert late.status_code == 400


# --- Item 7: a second factor changes only with the current one -----------------------------------


def confirm_target(response) -> str:
    location = response.headers.get("Location") or response.get_json()["confirm"]
    assert location.startswith("/account/confirm") and "factor=1" in location, location
    return location


@pytest.mark.mail
def test_a_stolen_session_and_the_password_cannot_change_a_staff_second_factor(
    app, make_user, db, mailbox
):
    therapist = make_user("therapist", email="dana@example.test")
    with time_machine.travel(NOON, tick=False) as clock:
        client = signed_in(app, therapist)
        clock.shift(timedelta(minutes=10))  # later, someone else holds the session and password
        device = SoftPasskey()
        for attempt in (
            lambda: client.post_form("/account/recovery-codes"),
            lambda: client.get("/account/second-factor/app"),
            lambda: client.post("/account/passkeys/options", headers=json_headers(client)),
        ):
            target = confirm_target(attempt())
            page = client.get(target)
            assert page.status_code == 200 and "Your password alone is not enough" in page.text
            assert 'name="password"' not in page.text
            tried = client.post_form(target, {"password": PASSWORD})
            assert tried.status_code == 422 and "a recovery code" in tried.text
            confirm_target(attempt())  # still asks
        assert db.exec(select(Passkey)).all() == []

        # The person themself: a code from their app.
        target = confirm_target(client.post_form("/account/recovery-codes"))
        ok = client.post_form(target, {"code": APP.now()})
        assert ok.status_code == 303
        made = client.post_form("/account/recovery-codes")
        assert made.status_code == 200
        codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", made.text)
        assert len(codes) == 10
        assert add_passkey(client, device).status_code == 200

        # Later again: a recovery code does it too (a lost phone), and so does the passkey.
        clock.shift(timedelta(minutes=10))
        target = confirm_target(client.get("/account/second-factor/app"))
        assert client.post_form(target, {"code": codes[0]}).status_code == 303
        assert client.get("/account/second-factor/app").status_code == 200
        clock.shift(timedelta(minutes=10))
        confirm_target(client.post("/account/passkeys/options", headers=json_headers(client)))
        options = client.post("/account/confirm/passkey/options", headers=json_headers(client))
        by_passkey = client.post(
            "/account/confirm/passkey",
            headers=json_headers(client),
            json={"credential": device.sign(options.get_json(), ORIGIN)},
        )
        assert by_passkey.status_code == 200
        assert (
            client.post("/account/passkeys/options", headers=json_headers(client)).status_code
            == 200
        )
        with app.app_context():
            run_round()  # the background worker's next round

    told = db.exec(select(Notification).where(Notification.user_id == therapist.id)).all()
    assert [n.kind for n in told] == ["sign_in_changed", "sign_in_changed"]
    assert "new recovery codes were made" in told[0].text and "passkey was added" in told[1].text
    assert [rcpt for rcpt, _ in mailbox.messages] == [[therapist.email]] * 2
    for _, message in mailbox.messages:
        body = message.get_body(("plain",)).get_content()
        assert "The way you sign in to IOP Companion was just changed" in body
        assert not any(code in body or code.replace("-", "") in body for code in codes)


def test_a_participant_adds_a_passkey_after_the_password_as_before(app, make_user, db):
    """A participant's password signs them in on its own: a passkey adds no power over the
    account, so "Confirm it's you" with the password is enough (with or without a passkey)."""
    sam = make_user("participant")
    with time_machine.travel(NOON, tick=False) as clock:
        client = signed_in(app, sam)
        assert add_passkey(client, SoftPasskey()).status_code == 200
        clock.shift(timedelta(minutes=10))
        asked = client.post("/account/passkeys/options", headers=json_headers(client))
        assert asked.status_code == 403 and "factor=1" not in asked.get_json()["confirm"]
        page = client.get(asked.get_json()["confirm"])
        assert 'name="password"' in page.text
        assert (
            client.post_form(asked.get_json()["confirm"], {"password": PASSWORD}).status_code == 303
        )
        assert add_passkey(client, SoftPasskey()).status_code == 200
    told = db.exec(select(Notification).where(Notification.user_id == sam.id)).all()
    assert [n.kind for n in told] == ["sign_in_changed", "sign_in_changed"]
