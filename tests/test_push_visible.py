"""Reminders people can see working: the participant's Today, the therapist's participant page,
and alerts to the care team when a safety flag is raised."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import select

from iop_pwa.accounts.models import User
from iop_pwa.db import session_scope, utcnow
from iop_pwa.notifications import Notification
from iop_pwa.push import preferences
from iop_pwa.push.models import Delivery, PushSubscription
from tests.test_push import add_device, notify_now, push_round


def test_the_therapist_sees_when_no_device_gets_reminders(app, client, make_user, sign_in):
    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist, name="Robin Lee")
    sign_in(therapist)
    page = client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True)
    assert "No device gets reminders." in page
    assert "Robin will not be reminded of sessions or practice" in page


def test_the_therapist_sees_the_last_delivery_and_when_every_device_fails(
    app,
    client,
    make_user,
    sign_in,
    fakepush,
    db,
):
    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist, name="Robin Lee")
    add_device(app, person, fakepush, "phone")
    notify_now(app, person)
    assert push_round(app) == 1
    sign_in(therapist)
    page = client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True)
    assert "Reminders are on for 1 device." in page and "Last delivered" in page
    assert "failing" not in page
    fakepush.answer("phone", (500, {}))
    notify_now(app, person, object_id=8)
    assert push_round(app, utcnow() + timedelta(minutes=1)) == 0
    page = client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True)
    assert "Reminders are failing on every device." in page


def test_today_says_when_the_last_reminder_arrived_and_when_devices_stopped(
    app,
    client,
    make_user,
    sign_in,
    fakepush,
    db,
):
    person = make_user()
    sign_in(person)
    page = client.get("/today").get_data(as_text=True)
    assert "Reminders on this device: checking" in page  # the page's script knows the device
    assert "The last reminder arrived" not in page
    add_device(app, person, fakepush, "phone")
    notify_now(app, person)
    push_round(app)
    assert "The last reminder arrived" in client.get("/today").get_data(as_text=True)
    device = db.exec(select(PushSubscription)).one()
    device.failures, device.last_failure_at = 3, utcnow() + timedelta(minutes=5)
    db.add(device)
    db.commit()
    assert "stopped receiving reminders" in client.get("/today").get_data(as_text=True)


def _share_crisis_entry(app, person) -> None:
    from iop_pwa.journal import services as journal

    with app.app_context(), session_scope() as db:
        journal.save_entry(
            db,
            user=db.get(User, person.id),
            client_id=str(uuid.uuid4()),
            mood=1,
            body="I want to die",
            shared=True,
            written_at=utcnow(),
        )


def test_a_safety_flag_alerts_the_care_team_on_their_devices(app, make_user, fakepush, db):
    therapist, colleague, stranger = (make_user("therapist") for _ in range(3))
    person = make_user("participant", therapist=therapist)
    with app.app_context(), session_scope() as s:
        from iop_pwa.accounts import services

        services.link_care_team(
            s, therapist=s.get(User, colleague.id), participant=s.get(User, person.id)
        )
        preferences.save(s, user=s.get(User, colleague.id), alerts=False)
    for who, name in ((therapist, "t"), (colleague, "c"), (stranger, "s")):
        add_device(app, who, fakepush, name)
    _share_crisis_entry(app, person)
    notes = db.exec(select(Notification).where(Notification.kind == "care_flag")).all()
    assert sorted(n.user_id for n in notes) == sorted([therapist.id, colleague.id])
    assert all("die" not in n.text for n in notes)
    assert push_round(app) == 1
    [alert] = fakepush.for_("t")
    assert alert.payload["body"] == "New alert in IOP Companion"
    assert alert.payload["kind"] == "alerts" and alert.payload["url"] == "/dashboard"
    assert fakepush.for_("c") == [] and fakepush.for_("s") == []
    statuses = {d.user_id: d.status for d in db.exec(select(Delivery))}
    assert statuses == {therapist.id: "sent", colleague.id: "off"}


def test_the_same_open_flag_alerts_once(app, make_user, fakepush, db):
    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    add_device(app, therapist, fakepush, "t")
    from iop_pwa.safety import raise_flag

    for _ in range(2):
        with app.app_context(), session_scope() as s:
            raise_flag(
                s, participant_id=person.id, reason="crisis_language", source_type="x", source_id=1
            )
    assert push_round(app) == 1


def test_the_demo_has_a_working_history_and_a_participant_without_a_device(app, client, db):
    from iop_pwa.demo import DEMO_PASSWORD, THERAPIST_EMAIL, load_demo

    with app.app_context(), session_scope() as s:
        load_demo(s)
    with app.app_context(), session_scope() as s:
        load_demo(s)  # idempotent
    sam = db.exec(select(User).where(User.email == "sam@demo.test")).one()
    jordan = db.exec(select(User).where(User.email == "jordan@demo.test")).one()
    assert len(db.exec(select(PushSubscription)).all()) == 1
    assert len(db.exec(select(Delivery).where(Delivery.user_id == sam.id)).all()) == 7
    priya = db.exec(select(User).where(User.email == "priya@demo.test")).one()
    assert db.get(preferences.ReminderPreference, priya.id).group_activity, "the digest shows"
    client.post_form("/sign-in", {"email": THERAPIST_EMAIL, "password": DEMO_PASSWORD})
    page = client.get(f"/dashboard/participants/{sam.id}").get_data(as_text=True)
    assert "Reminders are on for 1 device." in page and "Last delivered" in page
    page = client.get(f"/dashboard/participants/{jordan.id}").get_data(as_text=True)
    assert "No device gets reminders." in page


def test_the_demo_phone_is_never_sent_to_and_the_worker_logs_nothing_personal(
    app, client, db, caplog
):
    """`make run` loads the demo and runs the worker: the demo phone (an address on the
    reserved .invalid domain) is never sent to, so nothing is retried against it, its history
    stays, and the worker's log lines (at its INFO level) name no one."""
    import logging

    from iop_pwa.demo import DEMO_PASSWORD, THERAPIST_EMAIL, load_demo
    from iop_pwa.push.models import SendResult
    from iop_pwa.worker import run_round

    with app.app_context(), session_scope() as s:
        load_demo(s)
    sam = db.exec(select(User).where(User.email == "sam@demo.test")).one()
    [phone] = db.exec(select(PushSubscription)).all()
    assert phone.endpoint.startswith("https://push.demo.invalid/") and "example" in phone.device
    results = len(db.exec(select(SendResult)).all())
    caplog.set_level(logging.INFO)
    with app.app_context():
        counts = run_round(utcnow())
        run_round(utcnow() + timedelta(minutes=10))
    assert counts["push_send"] == 0
    assert len(db.exec(select(SendResult)).all()) == results, "nothing sent to the demo phone"
    pending = db.exec(select(Delivery).where(Delivery.status == "pending")).all()
    assert [d for d in pending if d.attempts] == [], "nothing waits to be retried"
    db.refresh(phone)
    assert phone.failures == 0 and phone.last_success_at is not None
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "worker round" in logged, "the log was captured"
    for private in ("demo.test", "Sam", phone.endpoint.rsplit("/", 1)[1], "ConnectionError"):
        assert private not in logged
    client.post_form("/sign-in", {"email": THERAPIST_EMAIL, "password": DEMO_PASSWORD})
    page = client.get(f"/dashboard/participants/{sam.id}").get_data(as_text=True)
    assert "Reminders are on for 1 device." in page and "Last delivered" in page
    assert "failing" not in page
