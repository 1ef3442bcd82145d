"""Faults, with real processes (tests/machines.py): PostgreSQL restarted under load, a worker
killed in the middle of a batch, Redis stopped.

PostgreSQL and Redis here are the test's own, started in a temporary folder on free ports: the
shared servers, which other test processes use at the same moment, are never stopped.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
import requests

from tests import machines
from tests.fakepush import FakePushService

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def servers():
    """A private PostgreSQL (migrated, with one participant) and a private Redis."""
    from iop_pwa import create_app
    from iop_pwa.accounts import services
    from iop_pwa.accounts.models import Role
    from iop_pwa.db import session_scope

    started: list = []
    try:
        pg = machines.PrivatePostgres()
        started.append(pg)
        redis = machines.PrivateRedis()
        started.append(redis)
        machines.migrate(pg.url)
        app = create_app({"DATABASE_URL": pg.url, "SECRET_KEY": machines.SECRET})
        with app.app_context(), session_scope() as db:
            services.create_user(
                db,
                role=Role.participant,
                email="sam@clinic.test",
                password=PASSWORD,
                name="Sam",
                timezone="America/New_York",
            )
        yield pg, redis, app
        app.extensions["db_engine"].dispose()
    finally:
        for thing in reversed(started):
            thing.close()


@pytest.fixture
def web(servers, tmp_path):
    """One gunicorn instance (two processes) on the private servers."""
    pg, redis, _app = servers
    env = machines.app_env(tmp_path, "web", DATABASE_URL=pg.url, REDIS_URL=redis.url)
    instance = machines.Web(env, tmp_path / "web.log", workers=2)
    try:
        yield instance
    finally:
        instance.stop()


def _load(web, browser, stop: threading.Event, answers: list) -> None:
    """A phone asking for Today again and again: (status, headers, body) of every answer."""
    while not stop.is_set():
        try:
            got = browser.get(web.url("/today"), allow_redirects=False, timeout=10)
            answers.append((got.status_code, got.headers, got.text))
        except requests.RequestException as exc:
            answers.append((0, {}, type(exc).__name__))


def _outbox_post(browser, web, token: str, client_id: str) -> requests.Response:
    """A journal entry replayed by the phone's outbox (static/js/outbox.js sends it this way)."""
    return browser.post(
        web.url("/journal"),
        data={"csrf_token": token, "client_id": client_id, "body": "Slept better."},
        headers={"Accept": "application/json", "X-Outbox": "1", "X-CSRFToken": token},
        allow_redirects=False,
        timeout=10,
    )


def test_postgres_restarted_under_load_answers_503_then_recovers_without_a_restart(
    servers, web, tmp_path
):
    from sqlmodel import select

    from iop_pwa.accounts.models import User
    from iop_pwa.db import session_scope
    from iop_pwa.notifications import notify
    from iop_pwa.push import services as push_services

    pg, _redis, app = servers
    # A worker runs through the outage too, and Sam has a phone it sends reminders to.
    pem, public = machines.vapid_pair()
    push = FakePushService(public)
    app.config["PUSH_ALLOWED_ENDPOINTS"] = (push.origin + "/push/",)
    with app.app_context(), session_scope() as db:
        sam = db.exec(select(User).where(User.email == "sam@clinic.test")).one()
        push_services.subscribe(
            db,
            user=sam,
            body=push.subscription("sams-phone"),
            user_agent="Mozilla/5.0 (Linux; Android 14) Chrome/130.0 Mobile",
        )
        sam_id = sam.id
    worker = machines.Worker(
        machines.app_env(
            tmp_path,
            "worker",
            DATABASE_URL=pg.url,
            VAPID_PRIVATE_KEY=pem,
            VAPID_SUBJECT="mailto:care@clinic.example",
            PUSH_ALLOWED_ENDPOINTS=push.origin + "/push/",
        ),
        tmp_path / "worker.log",
    )
    try:
        machines.wait_for(lambda: "worker started" in worker.output(), 30, "the worker")
        _restart_under_load(pg, web, app)
        # The same worker process, never restarted, sends again once the database is back.
        with app.app_context(), session_scope() as db:
            notify(db, user_id=sam_id, kind="feedback", text="Feedback", object_id=1)
        machines.wait_for(lambda: push.for_("sams-phone"), 30, "a reminder after the outage")
        assert worker.proc.poll() is None
        assert "failed: OperationalError" in worker.output()  # its rounds during the outage
        assert "Traceback" not in worker.output()
    finally:
        worker.stop()
        push.stop()


def _restart_under_load(pg, web, app) -> None:
    from sqlmodel import select

    from iop_pwa.db import session_scope
    from iop_pwa.journal.models import JournalEntry

    phone = requests.Session()
    machines.sign_in(phone, web, "sam@clinic.test", PASSWORD)
    token = machines.csrf_token(phone, web.url("/today"))
    booted = web.output().count("Booting worker")
    stop, answers = threading.Event(), []
    load = []
    for _ in range(4):
        browser = requests.Session()
        browser.cookies.update(phone.cookies)  # the same phone, several requests at once
        load.append(threading.Thread(target=_load, args=(web, browser, stop, answers)))
    for browser_thread in load:
        browser_thread.start()
    try:
        time.sleep(1)
        pg.stop("fast")  # every connection of the pool is cut
        time.sleep(2.5)  # a few of the worker's rounds fail meanwhile
        # A write the phone's outbox sends meanwhile: refused for now, to be sent again.
        client_id = str(uuid.uuid4())
        refused = _outbox_post(phone, web, token, client_id)
        health = requests.get(web.url("/healthz"), timeout=10)
        pg.start()
        machines.wait_for(
            lambda: answers and answers[-1][0] == 200, 30, "Today to answer 200 again"
        )
        time.sleep(1)
    finally:
        stop.set()
        for browser_thread in load:
            browser_thread.join(timeout=20)

    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) <= {200, 503}, (statuses, machines.tail(web.log, 60))
    order = [status for status, _, _ in answers]
    first_503, last_503 = order.index(503), len(order) - 1 - order[::-1].index(503)
    assert 200 in order[:first_503] and 200 in order[last_503:], "served before and after"
    for status, headers, body in answers:
        if status == 503:
            assert headers["Retry-After"] == "10"
            assert "reach our records right now" in body and "Try again" in body
            assert "Traceback" not in body and "psycopg" not in body and "Sam" not in body
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "10"
    assert refused.json()["error"] == "unavailable"
    assert health.status_code == 503
    # The same gunicorn processes serve again: none was restarted, the log names no one.
    assert web.proc.poll() is None
    assert web.output().count("Booting worker") == booted
    log = web.output()
    assert "database unreachable on GET /today: OperationalError (answered 503)" in log
    assert "sam@clinic.test" not in log and "Slept better" not in log
    # The outbox sends the kept write again: stored once, and its id echoed.
    stored = _outbox_post(phone, web, token, client_id)
    assert stored.status_code == 200 and stored.json()["id"] == client_id
    again = _outbox_post(phone, web, token, client_id)
    assert again.status_code == 200 and again.json()["id"] == client_id
    with app.app_context(), session_scope() as db:
        rows = db.exec(select(JournalEntry).where(JournalEntry.client_id == client_id)).all()
        assert len(rows) == 1


def test_redis_stopped_the_app_keeps_serving_and_limits_fall_back(servers, web):
    _pg, redis, _app = servers
    feed = web.url("/calendar/no-such-feed.ics")
    assert requests.get(feed, timeout=10).status_code == 404  # counted in Redis
    redis.stop()
    try:
        phone = requests.Session()
        machines.sign_in(phone, web, "sam@clinic.test", PASSWORD)
        assert phone.get(web.url("/today"), timeout=10).status_code == 200
        # The calendar feed's limit (60 an hour) still holds, counted in each process's memory
        # now: at most 60 per gunicorn process (two here) before it refuses.
        answers = Counter(requests.get(feed, timeout=10).status_code for _ in range(125))
        assert set(answers) == {404, 429} and answers[404] <= 120, answers
        log = web.output()
        assert "Rate limit storage unreachable - falling back to in-memory storage" in log
        assert "Traceback" not in log and "sam@clinic.test" not in log
    finally:
        redis.start()


def test_a_worker_killed_mid_batch_sends_every_due_reminder_once(servers, tmp_path):
    """24 people with a reminder due, a push service that takes 0.2 s a push, two at once: the
    worker is killed with SIGKILL mid-batch and started again. Every reminder arrives; a push
    the service took just before the kill may come again, but only with the same Topic and
    tag, so the push service and the phone replace it: each shows once."""
    from iop_pwa.db import session_scope
    from iop_pwa.notifications import notify

    pg, _redis, app = servers
    pem, public = machines.vapid_pair()
    push = FakePushService(public, delay_seconds=0.2)
    app.config["PUSH_ALLOWED_ENDPOINTS"] = (push.origin + "/push/",)
    count, concurrency = 24, 2
    env = machines.app_env(
        tmp_path,
        "worker",
        DATABASE_URL=pg.url,
        VAPID_PRIVATE_KEY=pem,
        VAPID_SUBJECT="mailto:care@clinic.example",
        PUSH_ALLOWED_ENDPOINTS=push.origin + "/push/",
        PUSH_CONCURRENCY=str(concurrency),
        # A push that times out counts as not sent and goes again later: the timeout is long
        # enough that none does here, even on a busy machine; the lease covers a batch.
        PUSH_LEASE_SECONDS="8",
        PUSH_TIMEOUT_SECONDS="3",
    )
    worker = None
    reminded: list[int] = []
    try:
        with app.app_context(), session_scope() as db:
            for i in range(count):
                person_id = machines.participant_with_a_phone(
                    db, push, f"r{i}@clinic.test", f"R {i}", f"phone{i}"
                )
                notify(db, user_id=person_id, kind="feedback", text="Feedback", object_id=1)
                reminded.append(person_id)
        worker = machines.Worker(env, tmp_path / "worker.log")
        machines.wait_for(lambda: len(push.received) >= 8, 40, "the batch to be under way")
        worker.kill()
        at_kill = len(push.received)
        assert at_kill < count, "the kill came after the whole batch"
        worker = machines.Worker(env, tmp_path / "worker.log")  # started again
        names = {f"phone{i}" for i in range(count)}
        machines.wait_for(
            lambda: {r.name for r in push.received} >= names, 60, "every reminder to arrive"
        )
        time.sleep(2)  # more rounds: nothing else may come
    finally:
        if worker is not None:
            worker.stop()
        push.stop()

    assert push.errors == []
    arrived = Counter(r.name for r in push.received)
    again = {name: n for name, n in arrived.items() if n > 1}
    print(f"killed after {at_kill} of {count} pushes; sent again: {len(again)}")
    log = machines.tail(tmp_path / "worker.log")
    assert all(n == 2 for n in again.values()), (arrived, log)
    assert len(again) <= 2 * concurrency, (again, log)  # only sends not on record at the kill
    for name in names:
        pushes = [r for r in push.received if r.name == name]
        assert len({r.headers["topic"] for r in pushes}) == 1, pushes
        assert len({r.payload["tag"] for r in pushes}) == 1
        assert pushes[0].headers["topic"] == pushes[0].payload["tag"]
    with app.app_context(), session_scope() as db:
        from sqlmodel import col, select

        from iop_pwa.push.models import Delivery

        ours = select(Delivery).where(col(Delivery.user_id).in_(reminded))
        statuses = Counter(d.status for d in db.exec(ours).all())
        assert statuses == {"sent": count}, (statuses, log)


@pytest.mark.parametrize(
    ("message", "status"),
    [("database is locked", 503), ("no such table: journal_entry", 500)],
)
def test_only_a_database_that_cannot_answer_gives_503(app, client, message, status):
    """A busy or unreachable database is worth trying again (503); a broken query is a bug and
    stays a 500, so it is not hidden as an outage."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not raise in the test

    @app.get("/test-database-error")
    def broken():
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    answer = client.get("/test-database-error")
    assert answer.status_code == status
    assert ("Retry-After" in answer.headers) is (status == 503)
    assert "Traceback" not in answer.get_data(as_text=True)
    as_json = client.get("/test-database-error", headers={"Accept": "application/json"})
    assert as_json.status_code == status
    if status == 503:
        assert as_json.get_json()["error"] == "unavailable"
