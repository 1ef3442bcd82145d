"""Web push: devices, the interface, and delivery through a real (fake) push service on
loopback that checks VAPID, headers and encryption as a browser's push service does."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from iop_pwa.accounts.models import User
from iop_pwa.db import session_scope, utcnow
from iop_pwa.notifications import notify
from iop_pwa.push import delivery, services, settings
from iop_pwa.push.models import Delivery, PushSubscription, SendResult
from tests.fakepush import FakePushService

UA_ANDROID = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/130.0 Mobile Safari/537.36"


def add_device(app, user, service, name: str) -> int:
    with app.app_context(), session_scope() as db:
        row, _ = services.subscribe(
            db,
            user=db.get(User, user.id),
            body=service.subscription(name),
            user_agent=UA_ANDROID,
        )
        return row.id


def push_round(app, now=None) -> int:
    """One worker round of push's two jobs, each committed as the worker commits it."""
    now = now or utcnow()
    with app.app_context():
        with session_scope() as db:
            delivery.queue(db, now)
        with session_scope() as db:
            return delivery.send(db, now)


def notify_now(app, user, kind="feedback", text="Feedback on Breathing from Dana", object_id=7):
    with app.app_context(), session_scope() as db:
        notify(db, user_id=user.id, kind=kind, text=text, object_id=object_id)


def json_headers(client) -> dict:
    return {"X-CSRFToken": client.csrf_token(), "User-Agent": UA_ANDROID}


# --- Keys and the allow-list -------------------------------------------------------------------


def test_the_key_is_one_long_lived_p256_key_kept_owner_only(app, client, make_user, sign_in):
    from pathlib import Path

    from iop_pwa import create_app

    sign_in(make_user())
    key = client.get("/push/key").get_json()["publicKey"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4
    path = Path(app.instance_path) / settings.KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    again = create_app({"DATABASE_URL": app.config["DATABASE_URL"]})
    with again.app_context():
        assert settings.public_key() == key  # generated once, not per start
    again.extensions["db_engine"].dispose()


def test_the_key_and_subject_come_from_the_environment(app, monkeypatch):
    from py_vapid import Vapid

    from iop_pwa import create_app
    from iop_pwa.config import ConfigError

    key = Vapid()
    key.generate_keys()
    monkeypatch.setenv("VAPID_PRIVATE_KEY", key.private_pem().decode())
    monkeypatch.setenv("VAPID_SUBJECT", "https://clinic.example.org")
    other = create_app({"DATABASE_URL": app.config["DATABASE_URL"]})
    with other.app_context():
        assert other.config["VAPID_SUBJECT"] == "https://clinic.example.org"
        assert settings.vapid_key().public_key.public_numbers() == key.public_key.public_numbers()
    other.extensions["db_engine"].dispose()
    monkeypatch.setenv("VAPID_SUBJECT", "mailto:push@localhost")
    with pytest.raises(ConfigError, match="localhost"):
        create_app({"DATABASE_URL": app.config["DATABASE_URL"]})
    monkeypatch.setenv("VAPID_SUBJECT", "push@clinic.example.org")
    with pytest.raises(ConfigError, match="mailto"):
        create_app({"DATABASE_URL": app.config["DATABASE_URL"]})


@pytest.mark.parametrize(
    ("endpoint", "allowed"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", True),
        ("https://web.push.apple.com/QGx", True),
        ("https://updates.push.services.mozilla.com/wpush/v2/gAAA", True),
        ("https://wns2-par02p.notify.windows.com/w/?token=BQYA", True),
        ("http://fcm.googleapis.com/fcm/send/abc", False),
        ("https://fcm.googleapis.com.evil.example/fcm/send/abc", False),
        ("https://evil.example/https://fcm.googleapis.com/", False),
        ("https://user@fcm.googleapis.com/fcm/send/abc", False),
        ("https://fcm.googleapis.com:8443/fcm/send/abc", False),
        ("https://notify.windows.com.evil.example/w/", False),
        ("http://127.0.0.1:8000/push/x", False),
        ("", False),
    ],
)
def test_only_the_known_push_services_are_allowed_by_default(endpoint, allowed):
    assert settings.endpoint_allowed(endpoint, settings.DEFAULT_ALLOWED_ENDPOINTS) is allowed


# --- The interface -----------------------------------------------------------------------------


def test_turning_on_stores_the_device_and_an_app_open_refreshes_it(
    app, client, make_user, sign_in, fakepush, db
):
    person = make_user()
    sign_in(person)
    body = fakepush.subscription("phone")
    first = client.post("/push/subscriptions", json=body, headers=json_headers(client))
    assert first.status_code == 201
    assert first.get_json()["device"] == "Chrome on Android"
    again = client.post("/push/subscriptions", json=body, headers=json_headers(client))
    assert again.status_code == 200  # the same browser, re-read on the next app open
    [row] = db.exec(select(PushSubscription)).all()
    assert row.user_id == person.id and row.endpoint == body["endpoint"]


def test_two_pages_sending_one_new_subscription_at_once_store_it_once(app, make_user, fakepush, db):
    """Two tabs of one browser open at once both send the subscription: the second to store it
    meets the first's row (a unique endpoint) and updates it, never a 500."""
    person = make_user()
    body = fakepush.subscription("phone")
    with app.app_context(), session_scope() as first:
        row, created = services.subscribe(
            first, user=first.get(User, person.id), body=body, user_agent=UA_ANDROID
        )  # flushed, not yet committed: the second request cannot see it
        assert created
        answers = []

        def second_page():
            with app.app_context(), session_scope() as second:
                answers.append(
                    services.subscribe(
                        second, user=second.get(User, person.id), body=body, user_agent=UA_ANDROID
                    )[1]
                )

        thread = threading.Thread(target=second_page)
        thread.start()
        thread.join(0.5)  # it is waiting for the first request's write
    thread.join(20)
    assert answers == [False]  # stored once, by the first; the second updated it
    [stored] = db.exec(select(PushSubscription)).all()
    assert stored.user_id == person.id and stored.endpoint == body["endpoint"]


def test_turning_on_needs_the_csrf_header(client, make_user, sign_in, fakepush, db):
    sign_in(make_user())
    response = client.post("/push/subscriptions", json=fakepush.subscription("phone"))
    assert response.status_code == 400
    assert db.exec(select(PushSubscription)).all() == []


@pytest.mark.parametrize(
    "change",
    [
        {"endpoint": "https://evil.example/push/phone"},
        {"endpoint": "https://fcm.googleapis.com/fcm/send/x"},  # not on the test's allow-list
        {"keys": {"p256dh": "bm90IGEga2V5", "auth": "c2VjcmV0c2VjcmV0MTIzNA"}},
        {"keys": {}},
        {"endpoint": 12},
    ],
)
def test_a_subscription_we_would_not_send_to_is_refused(
    client, make_user, sign_in, fakepush, db, change
):
    sign_in(make_user())
    body = {**fakepush.subscription("phone"), **change}
    response = client.post("/push/subscriptions", json=body, headers=json_headers(client))
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_subscription"
    assert db.exec(select(PushSubscription)).all() == []


def test_a_phone_signed_into_another_account_gets_only_that_accounts_reminders(
    app, make_user, fakepush, db
):
    first, second = make_user(), make_user()
    body = fakepush.subscription("shared")
    for person in (first, second):
        client = app.test_client()
        client.post_form("/sign-in", {"email": person.email, "password": "correct horse battery"})
        response = client.post("/push/subscriptions", json=body, headers=json_headers(client))
        assert response.status_code == 201
    [row] = db.exec(select(PushSubscription)).all()
    assert row.user_id == second.id


def test_turning_off_deletes_only_your_own_device(app, client, make_user, sign_in, fakepush, db):
    person, other = make_user(), make_user()
    add_device(app, other, fakepush, "theirs")
    sign_in(person)
    mine = fakepush.subscription("mine")
    client.post("/push/subscriptions", json=mine, headers=json_headers(client))
    theirs = db.exec(select(PushSubscription.endpoint)).first()
    for endpoint in (mine["endpoint"], theirs):
        response = client.delete(
            "/push/subscriptions", json={"endpoint": endpoint}, headers=json_headers(client)
        )
        assert response.status_code == 204
    [left] = db.exec(select(PushSubscription)).all()
    assert left.user_id == other.id
    bad = client.delete("/push/subscriptions", json=["x"], headers=json_headers(client))
    assert bad.status_code == 400


def test_send_a_test_notification_reaches_the_device(app, client, make_user, sign_in, fakepush):
    person = make_user()
    add_device(app, person, fakepush, "phone")
    sign_in(person)
    response = client.post("/push/test", json={}, headers=json_headers(client))
    assert response.status_code == 202 and response.get_json() == {"devices": 1}
    assert fakepush.received == []  # a request never talks to a push service
    assert push_round(app) == 1
    [got] = fakepush.for_("phone")
    assert got.payload["kind"] == "test" and got.payload["url"] == "/account#reminders"
    assert fakepush.errors == []


# --- Delivery ----------------------------------------------------------------------------------


def test_a_notification_reaches_every_device_once_with_words_safe_for_a_lock_screen(
    app, make_user, fakepush, db
):
    person = make_user()
    phone, laptop = (add_device(app, person, fakepush, name) for name in ("phone", "laptop"))
    notify_now(app, person)
    assert push_round(app) == 2
    assert push_round(app) == 0  # nothing twice
    assert fakepush.errors == []
    for name in ("phone", "laptop"):
        [got] = fakepush.for_(name)
        assert got.payload == {
            "kind": "care_team",
            "url": "/practice/7",
            "tag": got.payload["tag"],
            "title": "IOP Companion",
            "body": "You have a new reminder",
        }
        assert "Breathing" not in json.dumps(got.payload) and "Dana" not in json.dumps(got.payload)
        assert int(got.headers["ttl"]) > 0 and got.headers["urgency"] == "normal"
        assert got.claims["sub"] == "mailto:push@example.org"
    [sent] = db.exec(select(Delivery)).all()
    assert sent.status == "sent" and sent.key.startswith("n:")
    results = db.exec(select(SendResult)).all()
    assert sorted(r.subscription_id for r in results) == sorted([phone, laptop])
    assert {(r.outcome, r.status_code) for r in results} == {("sent", 201)}
    assert all(s.last_success_at for s in db.exec(select(PushSubscription)))


def test_each_push_service_gets_claims_with_its_own_audience(app, make_user, db):
    with app.app_context():
        key = settings.public_key()
    first, second = FakePushService(key), FakePushService(key)
    try:
        app.config["PUSH_ALLOWED_ENDPOINTS"] = (first.origin + "/", second.origin + "/")
        person = make_user()
        add_device(app, person, first, "a")
        add_device(app, person, second, "b")
        notify_now(app, person)
        assert push_round(app) == 2
        assert first.errors == [] and second.errors == []  # each checked aud = its own origin
        assert first.for_("a")[0].claims["aud"] == first.origin
        assert second.for_("b")[0].claims["aud"] == second.origin
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("status", [404, 410])
def test_a_device_that_is_gone_is_removed(app, make_user, fakepush, db, status):
    person = make_user()
    add_device(app, person, fakepush, "old")
    add_device(app, person, fakepush, "new")
    fakepush.answer("old", (status, {}))
    notify_now(app, person)
    assert push_round(app) == 1
    [left] = db.exec(select(PushSubscription)).all()
    assert left.endpoint.endswith("/new")
    outcomes = {(r.outcome, r.status_code) for r in db.exec(select(SendResult))}
    assert outcomes == {("gone", status), ("sent", 201)}
    assert db.exec(select(Delivery)).one().status == "sent"


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_other_refusals_keep_the_device_and_are_not_retried(app, make_user, fakepush, db, status):
    person = make_user()
    add_device(app, person, fakepush, "phone")
    fakepush.answer("phone", (status, {}))
    notify_now(app, person)
    now = utcnow()
    assert push_round(app, now) == 0
    device = db.exec(select(PushSubscription)).one()  # 401/403 is our set-up, not the device
    assert device.failures == 1 and device.last_failure_at is not None
    assert db.exec(select(Delivery)).one().status == "failed"
    assert push_round(app, now + timedelta(hours=1)) == 0
    assert [(r.outcome, r.status_code) for r in db.exec(select(SendResult))] == [
        ("rejected", status)
    ]


def test_429_waits_as_long_as_retry_after_says_and_retries_only_that_device(
    app, make_user, fakepush, db
):
    person = make_user()
    add_device(app, person, fakepush, "busy")
    add_device(app, person, fakepush, "fine")
    fakepush.answer("busy", (429, {"Retry-After": "120"}))
    notify_now(app, person)
    now = utcnow()
    assert push_round(app, now) == 1
    pending = db.exec(select(Delivery)).one()
    assert pending.status == "pending" and pending.attempts == 1
    assert pending.next_attempt_at == now + timedelta(seconds=120)
    assert push_round(app, now + timedelta(seconds=119)) == 0  # not before Retry-After
    assert push_round(app, now + timedelta(seconds=120)) == 1
    assert len(fakepush.for_("busy")) == 1 and len(fakepush.for_("fine")) == 1
    assert db.exec(select(Delivery)).one().status == "sent"


def test_a_server_error_is_retried_with_growing_waits_then_given_up(app, make_user, fakepush, db):
    person = make_user()
    add_device(app, person, fakepush, "phone")
    fakepush.answer("phone", *[(500, {})] * delivery.MAX_ATTEMPTS)
    notify_now(app, person)
    now, waits = utcnow(), []
    for _ in range(delivery.MAX_ATTEMPTS):
        assert push_round(app, now) == 0
        row = db.exec(select(Delivery)).one()
        if row.status != "pending":
            break
        waits.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert waits == [delivery.BACKOFF * 2**i for i in range(delivery.MAX_ATTEMPTS - 1)]
    assert db.exec(select(Delivery)).one().status == "failed"
    assert db.exec(select(PushSubscription)).one().failures == delivery.MAX_ATTEMPTS


def test_a_slow_push_service_times_out_and_is_tried_again(app, make_user, fakepush, db):
    app.config["PUSH_TIMEOUT_SECONDS"] = 0.3  # the service answers only after 5 s
    person = make_user()
    add_device(app, person, fakepush, "phone")
    fakepush.answer("phone", "slow")
    notify_now(app, person)
    now = utcnow()
    assert push_round(app, now) == 0
    [result] = db.exec(select(SendResult)).all()
    assert result.outcome == "timeout" and result.status_code is None
    assert push_round(app, now + delivery.BACKOFF) == 1
    assert len(fakepush.for_("phone")) == 1


def test_a_redirect_is_not_followed(app, make_user, fakepush, db):
    person = make_user()
    add_device(app, person, fakepush, "phone")
    fakepush.subscription("elsewhere")
    fakepush.answer("phone", (307, {"Location": f"{fakepush.origin}/push/elsewhere"}))
    notify_now(app, person)
    assert push_round(app) == 0
    assert fakepush.requests == ["/push/phone"]
    assert db.exec(select(SendResult)).one().outcome == "rejected"


def test_the_allow_list_is_checked_again_when_sending(app, make_user, fakepush, db):
    person = make_user()
    add_device(app, person, fakepush, "phone")
    app.config["PUSH_ALLOWED_ENDPOINTS"] = settings.DEFAULT_ALLOWED_ENDPOINTS
    notify_now(app, person)
    assert push_round(app) == 0
    assert fakepush.requests == []
    assert db.exec(select(SendResult)).one().outcome == "refused"


def test_a_person_without_devices_or_who_turned_the_kind_off_gets_nothing(
    app, make_user, fakepush, db
):
    from iop_pwa.push import preferences

    quiet, nobody = make_user(), make_user()
    add_device(app, quiet, fakepush, "phone")
    with app.app_context(), session_scope() as s:
        preferences.save(s, user=s.get(User, quiet.id), care_team=False)
    notify_now(app, quiet)
    notify_now(app, nobody)
    assert push_round(app) == 0
    statuses = {d.user_id: d.status for d in db.exec(select(Delivery))}
    assert statuses == {quiet.id: "off", nobody.id: "no_device"}
    assert fakepush.requests == []


def test_old_notifications_are_not_pushed_on_first_start(app, make_user, fakepush, db):
    person = make_user()
    add_device(app, person, fakepush, "phone")
    notify_now(app, person)
    assert push_round(app, utcnow() + delivery.NOTIFICATION_LOOKBACK + timedelta(minutes=1)) == 0
    assert db.exec(select(Delivery)).all() == []


def test_two_workers_at_once_send_each_delivery_once(app, make_user, fakepush, db):
    """Two workers on the suite's database (SQLite or PostgreSQL), claiming small batches at the
    same moment until nothing is left: every delivery reaches each device exactly once."""
    people = [make_user() for _ in range(6)]
    for i, person in enumerate(people):
        add_device(app, person, fakepush, f"d{i}")
        for n in range(5):
            notify_now(app, person, object_id=n + 1)
    now = utcnow()
    with app.app_context(), session_scope() as s:
        assert delivery.queue(s, now) == 30
    start, errors, sent = threading.Barrier(2), [], []

    def worker() -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                while True:
                    with session_scope() as s:
                        count = delivery.send(s, now, limit=4)
                    if not count:
                        break
                    sent.append(count)
        except Exception as exc:  # reported below: an error must fail the test, not vanish
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(sent) == 30
    assert fakepush.errors == []
    tags = [(r.name, r.payload["tag"]) for r in fakepush.received]
    assert len(tags) == 30 and len(set(tags)) == 30
    assert {d.status for d in db.exec(select(Delivery))} == {"sent"}


def test_a_killed_workers_claims_are_sent_once_the_lease_expires(app, make_user, fakepush, db):
    person = make_user()
    add_device(app, person, fakepush, "phone")
    notify_now(app, person)
    now = utcnow()
    with app.app_context():
        with session_scope() as s:
            delivery.queue(s, now)
        with session_scope() as s:
            _token, ids = delivery.claim(s, now)  # ... and the worker dies here
    assert len(ids) == 1
    assert push_round(app, now + timedelta(seconds=30)) == 0  # still leased
    assert fakepush.requests == []
    assert push_round(app, now + delivery.LEASE + timedelta(seconds=1)) == 1
    assert len(fakepush.for_("phone")) == 1


def test_the_payload_is_small_and_holds_no_personal_words(app, make_user):
    row = Delivery(
        id=1,
        user_id=1,
        key="k",
        category="alerts",
        url="/dashboard",
        due_at=utcnow(),
        next_attempt_at=utcnow(),
    )
    body = json.loads(delivery.payload(row))
    assert body["body"] == "New alert in IOP Companion"
    assert set(body) == {"kind", "url", "tag", "title", "body"}
    assert len(delivery.payload(row).encode()) < 3000
