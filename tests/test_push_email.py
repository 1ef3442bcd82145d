"""Reminders by email, where the program set up mail: the same reasons, the same generic words
and a link, through the same deliveries as push (queued once per channel, quiet hours and
categories respected, retried with backoff, every result recorded). Every message is read from
a real SMTP server on loopback (aiosmtpd, `mailbox`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from sqlmodel import select

from iop_pwa.accounts.models import User
from iop_pwa.db import session_scope, utcnow
from iop_pwa.notifications import Notification, notify
from iop_pwa.push import by_email, delivery, preferences
from iop_pwa.push.models import Delivery, ReminderPreference, SendResult
from tests.conftest import PASSWORD, Mailbox
from tests.test_push import add_device, notify_now

# A Sunday evening in New York (UTC-5): 20:00 local.
SUNDAY_2000_NY = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
LINK = re.compile(r"^(http://localhost/\S*)\r?$", re.M)


def email_round(app, now=None) -> tuple[int, int]:
    """One worker round of push's jobs (queue, push, email), each committed on its own;
    returns (pushes sent, emails sent)."""
    now = now or utcnow()
    with app.app_context():
        with session_scope() as db:
            delivery.queue(db, now)
        with session_scope() as db:
            pushed = delivery.send(db, now)
        with session_scope() as db:
            return pushed, by_email.send(db, now)


def choose(app, person, **values) -> None:
    with app.app_context(), session_scope() as db:
        preferences.save(db, user=db.get(User, person.id), **values)


def body_of(message) -> str:
    return message.get_body(("plain",)).get_content()


@pytest.mark.mail
def test_a_notification_reaches_push_and_email_once_each_with_generic_words(
    app, make_user, fakepush, mailbox, db
):
    sam = make_user("participant", name="Sam Lee", email="sam@example.test")
    add_device(app, sam, fakepush, "phone")
    choose(app, sam, by_push=True, by_email=True)
    notify_now(app, sam, text="Feedback on Breathing from Dana", object_id=7)

    assert email_round(app) == (1, 1)
    assert email_round(app, utcnow() + timedelta(minutes=5)) == (0, 0), "nothing twice"
    assert len(fakepush.for_("phone")) == 1
    [(recipients, message)] = mailbox.messages
    assert recipients == ["sam@example.test"]
    assert message["Subject"] == "You have a new reminder"
    text = body_of(message)
    for private in ("Sam", "Lee", "Breathing", "Dana", "Feedback"):
        assert private not in text and private not in message["Subject"]
    links = LINK.findall(text)
    assert links[0].startswith("http://localhost/") and links[-1].endswith("/account#reminders")

    [note_id] = db.exec(select(Notification.id)).all()
    rows = db.exec(select(Delivery.channel, Delivery.key, Delivery.status)).all()
    assert sorted(rows) == [
        ("email", f"email:n:{note_id}", "sent"),
        ("push", f"n:{note_id}", "sent"),
    ]
    [mailed] = db.exec(select(SendResult).where(SendResult.channel == "email")).all()
    assert mailed.outcome == "sent" and mailed.subscription_id is None


@pytest.mark.mail
def test_email_only_reaches_a_person_with_no_device_and_counts_as_reaching_them(
    app, client, make_user, sign_in, mailbox, db
):
    therapist = make_user("therapist")
    robin = make_user("participant", therapist=therapist, name="Robin Lee")
    choose(app, robin, by_push=False, by_email=True)
    notify_now(app, robin)
    assert email_round(app) == (0, 1)
    statuses = {d.channel: d.status for d in db.exec(select(Delivery))}
    assert statuses == {"email": "sent"}, "email only: no push delivery is queued"

    sign_in(therapist)
    page = client.get(f"/dashboard/participants/{robin.id}").get_data(as_text=True)
    assert "go by email" in page and "Last delivered" in page
    assert "will not be reminded" not in page and "failing" not in page

    phone = app.test_client()
    phone.post_form("/sign-in", {"email": robin.email, "password": PASSWORD})
    today = phone.get("/today").get_data(as_text=True)
    assert "they come to you by email" in today and "The last reminder arrived" in today

    mailbox.stop()  # the mail server goes away: the next email fails and retries
    notify_now(app, robin, object_id=8)
    assert email_round(app) == (0, 0)
    page = client.get(f"/dashboard/participants/{robin.id}").get_data(as_text=True)
    assert "Reminder emails are failing." in page


@pytest.mark.mail
def test_a_mail_server_that_is_down_is_retried_with_backoff_then_sent_once(
    app, make_user, mailbox, db
):
    sam = make_user("participant", email="sam@example.test")
    choose(app, sam, by_push=False, by_email=True)
    port = mailbox.port
    mailbox.stop()
    start = utcnow()
    notify_now(app, sam)
    assert email_round(app, start) == (0, 0)
    [row] = db.exec(select(Delivery)).all()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == start + timedelta(seconds=30)
    [failed] = db.exec(select(SendResult)).all()
    assert failed.outcome in {"error", "timeout"} and failed.channel == "email"
    assert email_round(app, start + timedelta(seconds=10)) == (0, 0), "not before the backoff"

    from aiosmtpd.controller import Controller

    again = Mailbox()
    controller = Controller(again, hostname="127.0.0.1", port=port)
    controller.start()
    again.port, again.controller = port, controller
    try:
        assert email_round(app, start + timedelta(seconds=31)) == (0, 1)
        assert email_round(app, start + timedelta(minutes=5)) == (0, 0)
        assert len(again.messages) == 1
    finally:
        again.stop()
    db.refresh(row)
    assert (row.status, row.attempts) == ("sent", 1)


class RefusingMailbox(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 No such user here"


@pytest.mark.mail
def test_an_address_the_server_refuses_for_good_is_not_retried(app, make_user, mailbox, db):
    from aiosmtpd.controller import Controller

    sam = make_user("participant", email="sam@example.test")
    choose(app, sam, by_push=False, by_email=True)
    port = mailbox.port
    mailbox.stop()
    refusing = RefusingMailbox()
    controller = Controller(refusing, hostname="127.0.0.1", port=port)
    controller.start()
    refusing.controller = controller
    try:
        notify_now(app, sam)
        assert email_round(app) == (0, 0)
    finally:
        refusing.stop()
    [row] = db.exec(select(Delivery)).all()
    assert row.status == "failed"
    [result] = db.exec(select(SendResult)).all()
    assert (result.outcome, result.status_code) == ("rejected", 550)


@pytest.mark.mail
def test_email_respects_quiet_hours_and_categories(app, make_user, mailbox, db):
    sam = make_user("participant", email="sam@example.test", timezone="America/New_York")
    choose(
        app,
        sam,
        by_push=False,
        by_email=True,
        quiet_start=time(19, 0),
        quiet_end=time(21, 0),
    )
    with app.app_context(), session_scope() as s:
        note = notify(s, user_id=sam.id, kind="feedback", text="x", object_id=1)
        note.created_at = SUNDAY_2000_NY
        s.add(note)
    assert email_round(app, SUNDAY_2000_NY) == (0, 0), "20:00 is in the quiet hours"
    [row] = db.exec(select(Delivery)).all()
    assert row.due_at == SUNDAY_2000_NY + timedelta(hours=1), "held until 21:00"
    assert email_round(app, SUNDAY_2000_NY + timedelta(minutes=59)) == (0, 0)
    assert email_round(app, SUNDAY_2000_NY + timedelta(hours=1)) == (0, 1)

    choose(app, sam, care_team=False)
    after_quiet_hours = SUNDAY_2000_NY + timedelta(hours=2)  # 22:00, not in the quiet hours
    with time_machine.travel(after_quiet_hours, tick=False):
        notify_now(app, sam, object_id=9)
        assert email_round(app) == (0, 0)
    assert len(mailbox.messages) == 1
    assert {d.status for d in db.exec(select(Delivery))} == {"sent", "off"}


@pytest.mark.mail
def test_staff_alerts_by_email_say_new_alert(app, make_user, mailbox, db):
    therapist = make_user("therapist", email="dana@clinic.example", name="Dana Smith")
    choose(app, therapist, by_push=False, by_email=True)
    notify_now(app, therapist, kind="care_flag", text="Crisis language from Robin", object_id=None)
    assert email_round(app) == (0, 1)
    [(_, message)] = mailbox.messages
    assert message["Subject"] == "New alert in IOP Companion"
    assert "Robin" not in body_of(message) and "Crisis" not in body_of(message)
    assert "/dashboard" in body_of(message)


@pytest.mark.mail
def test_the_account_page_offers_push_email_or_both(app, client, make_user, sign_in, db):
    sam = make_user("participant")
    sign_in(sam)
    page = client.get("/account").get_data(as_text=True)
    assert "How reminders reach me" in page and 'value="both"' in page
    assert "Or have reminders by email" in page  # the iPhone explanation offers email
    form = {"daily_time": "18:00", "session_reminders": "y", "session_minutes": ["60"]}
    answer = client.post_form("/push/preferences", {**form, "channel": "email"})
    assert answer.status_code == 303
    pref = db.get(ReminderPreference, sam.id)
    assert (pref.by_push, pref.by_email) == (False, True)
    assert "Reminders come to you by email" in client.get("/account").get_data(as_text=True)
    answer = client.post_form("/push/preferences", {**form, "channel": "fax"})
    assert answer.status_code == 422
    assert "Not a valid choice" in answer.get_data(as_text=True)
    without_csrf = client.post("/push/preferences", data={**form, "channel": "both"})
    assert without_csrf.status_code == 400
    db.refresh(pref)
    assert (pref.by_push, pref.by_email) == (False, True)


def test_without_mail_the_page_says_so_and_keeps_push(app, client, make_user, sign_in, db):
    sam = make_user("participant")
    sign_in(sam)
    page = client.get("/account").get_data(as_text=True)
    assert "How reminders reach me" not in page
    assert "Reminders come only to your devices: this program has not set up email." in page
    assert "Or have reminders by email" not in page
    # A choice of email stored before mail went away: reminders still come by push.
    choose(app, sam, by_push=False, by_email=True)
    with app.app_context(), session_scope() as s:
        assert preferences.channels(s.get(ReminderPreference, sam.id), False) == ("push",)


@pytest.mark.mail
def test_two_workers_at_once_email_each_delivery_once(app, make_user, mailbox, db):
    """Two workers on the suite's database (SQLite or PostgreSQL) claiming small batches of
    email deliveries at the same moment: each message reaches the mail server exactly once."""
    import threading

    people = [make_user(email=f"p{i}@example.test") for i in range(4)]
    for person in people:
        choose(app, person, by_push=False, by_email=True)
        for n in range(3):
            notify_now(app, person, object_id=n + 1)
    now = utcnow()
    with app.app_context(), session_scope() as s:
        assert delivery.queue(s, now) == 12
    start, errors, sent = threading.Barrier(2), [], []

    def worker() -> None:
        try:
            with app.app_context():
                start.wait(timeout=10)
                while True:
                    with session_scope() as s:
                        count = by_email.send(s, now, limit=2)
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
    assert sum(sent) == 12 and len(mailbox.messages) == 12
    assert sorted(r[0][0] for r in mailbox.messages) == sorted(
        p.email for p in people for _ in range(3)
    )
    assert {d.status for d in db.exec(select(Delivery))} == {"sent"}
    assert len(db.exec(select(SendResult)).all()) == 12


@pytest.mark.mail
def test_the_group_digest_comes_by_email_too(app, make_user, mailbox, db):
    from iop_pwa.messages.models import Conversation, Message

    make_user("therapist", group="Tuesday group")
    sam = make_user("participant", email="sam@example.test", group="Tuesday group")
    alex = make_user("participant", group="Tuesday group")
    with app.app_context(), session_scope() as s:
        from iop_pwa.messages import services as messages

        messages.ensure_conversations(s, user=s.get(User, sam.id))
        room = s.exec(select(Conversation).where(Conversation.kind == "group")).one()
        noon = SUNDAY_2000_NY - timedelta(hours=8)
        s.add(
            Message(
                conversation_id=room.id,
                author_id=alex.id,
                client_id="c1",
                body="Sundays are hard",
                written_at=noon,
                received_at=noon,
            )
        )
    choose(app, sam, group_activity=True, daily_time=time(20, 0), by_push=False, by_email=True)
    assert email_round(app, SUNDAY_2000_NY) == (0, 1)
    assert email_round(app, SUNDAY_2000_NY + timedelta(minutes=2)) == (0, 0)
    [(recipients, message)] = mailbox.messages
    assert recipients == ["sam@example.test"] and message["Subject"] == "You have a new reminder"
    assert "Sundays" not in body_of(message) and "Tuesday" not in body_of(message)
    assert "http://localhost/messages" in body_of(message)


@pytest.mark.mail
def test_email_queued_before_mail_was_switched_off_is_not_sent(app, make_user, mailbox, db):
    sam = make_user("participant")
    choose(app, sam, by_push=False, by_email=True)
    notify_now(app, sam)
    with app.app_context(), session_scope() as s:
        delivery.queue(s, utcnow())
    app.config["MAIL_ENABLED"] = False
    assert email_round(app) == (0, 0)
    assert mailbox.messages == []
    assert [(d.channel, d.status) for d in db.exec(select(Delivery))] == [("email", "off")]
    notify_now(app, sam, object_id=8)
    with app.app_context(), session_scope() as s:
        delivery.queue(s, utcnow())
    channels = sorted(d.channel for d in db.exec(select(Delivery)))
    assert channels == ["email", "push"], "without mail, the next one is queued for push"


class Killed(BaseException):
    """The worker process dying where it stands (SIGKILL), in the middle of a round."""


@pytest.mark.mail
def test_a_worker_killed_mid_round_sends_again_only_the_message_not_yet_on_record(
    app, make_user, mailbox, db, monkeypatch
):
    people = [make_user("participant", email=f"p{i}@example.test") for i in range(4)]
    for person in people:
        choose(app, person, by_push=False, by_email=True)
        notify_now(app, person)
    now = utcnow()
    saved_real, calls = delivery.save_results, []

    def dies_before_the_third_is_recorded(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the mail server took the third message; its record never comes
            raise Killed
        return saved_real(*args, **kwargs)

    monkeypatch.setattr(delivery, "save_results", dies_before_the_third_is_recorded)
    with app.app_context():
        with session_scope() as s:
            delivery.queue(s, now)
        with pytest.raises(Killed), session_scope() as s:
            by_email.send(s, now)
    monkeypatch.setattr(delivery, "save_results", saved_real)
    assert len(mailbox.messages) == 3

    # Another worker, once the lease has ended: the two on record are not sent again.
    later = now + delivery.LEASE + timedelta(seconds=1)
    with app.app_context(), session_scope() as s:
        assert by_email.send(s, later) == 2  # the third (taken, but not on record) and the fourth
    with app.app_context(), session_scope() as s:
        assert by_email.send(s, later + delivery.LEASE) == 0
    sent_to = [to for recipients, _ in mailbox.messages for to in recipients]
    assert sent_to == [
        "p0@example.test",
        "p1@example.test",
        "p2@example.test",
        "p2@example.test",
        "p3@example.test",
    ]
    assert {d.status for d in db.exec(select(Delivery)).all()} == {"sent"}
