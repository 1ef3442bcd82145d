"""Several machines: two gunicorn instances and two workers against one PostgreSQL and one Redis.

Every process is real and started here (tests/machines.py): a PostgreSQL cluster and a Redis of
this test's own (never the shared servers), two web instances that share nothing on disk (each
its own instance folder; the secrets come from the environment, as on two machines), two
`flask worker` processes, and the fake push service of tests/fakepush.py counting what arrives.
It runs in the SQLite pass of the suite too: the layout needs PostgreSQL, so it brings its own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import uuid
from collections import Counter

import pytest
import requests

from tests import machines
from tests.fakepush import FakePushService

PASSWORD = "correct horse battery"
REMINDED = 12  # people with a due reminder


class Layout:
    """What the module's fixture built: servers, processes, people."""

    pg: machines.PrivatePostgres
    redis: machines.PrivateRedis
    push: FakePushService
    webs: list[machines.Web]
    workers: list[machines.Worker]
    app: object  # the test's own app on the same database, for arranging rows
    people: dict


def _arrange(app, push: FakePushService) -> dict:
    """A therapist, a participant on their caseload, and REMINDED participants with a device."""
    from iop_pwa.accounts import services
    from iop_pwa.accounts.models import Role
    from iop_pwa.db import session_scope

    people: dict = {"reminded": []}
    with app.app_context(), session_scope() as db:
        therapist = services.create_user(
            db,
            role=Role.therapist,
            email="dana@clinic.test",
            password=PASSWORD,
            name="Dana",
            timezone="America/New_York",
        )
        sam = services.create_user(
            db,
            role=Role.participant,
            email="sam@clinic.test",
            password=PASSWORD,
            name="Sam",
            timezone="America/New_York",
        )
        db.flush()
        machines.give_staff_an_app(db, therapist.id)
        services.link_care_team(db, therapist=therapist, participant=sam)
        for i in range(REMINDED):
            people["reminded"].append(
                machines.participant_with_a_phone(
                    db, push, f"p{i}@clinic.test", f"P {i}", f"phone{i}"
                )
            )
        db.flush()
        people["therapist"], people["sam"] = therapist.id, sam.id
    return people


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    from iop_pwa import create_app

    work = tmp_path_factory.mktemp("machines")
    built = Layout()
    started: list = []
    try:
        built.pg = machines.PrivatePostgres()
        started.append(built.pg)
        built.redis = machines.PrivateRedis()
        started.append(built.redis)
        machines.migrate(built.pg.url)
        pem, public = machines.vapid_pair()
        built.push = FakePushService(public)
        built.app = create_app({"DATABASE_URL": built.pg.url, "SECRET_KEY": machines.SECRET})
        built.app.config["PUSH_ALLOWED_ENDPOINTS"] = (built.push.origin + "/push/",)
        built.people = _arrange(built.app, built.push)
        shared = {
            "DATABASE_URL": built.pg.url,
            "REDIS_URL": built.redis.url,
            "VAPID_PRIVATE_KEY": pem,
            "VAPID_SUBJECT": "mailto:care@clinic.example",
            "PUSH_ALLOWED_ENDPOINTS": built.push.origin + "/push/",
        }
        built.webs, built.workers = [], []
        for name in ("web-a", "web-b"):
            web = machines.Web(machines.app_env(work, name, **shared), work / f"{name}.log")
            built.webs.append(web)
            started.append(web)
        for name in ("worker-1", "worker-2"):
            worker = machines.Worker(machines.app_env(work, name, **shared), work / f"{name}.log")
            built.workers.append(worker)
            started.append(worker)
        yield built
    finally:
        for thing in started:
            if isinstance(thing, machines.Process):
                thing.signal_stop()
        for thing in reversed(started):
            (thing.close if hasattr(thing, "close") else thing.stop)()
        if getattr(built, "push", None) is not None:
            built.push.stop()
        if getattr(built, "app", None) is not None:
            built.app.extensions["db_engine"].dispose()


def test_a_person_signed_in_through_one_instance_stays_signed_in_on_the_other(layout):
    a, b = layout.webs
    phone = requests.Session()
    machines.sign_in(phone, a, "sam@clinic.test", PASSWORD)
    for web in (b, a, b):
        page = phone.get(web.url("/today"), allow_redirects=False, timeout=10)
        assert page.status_code == 200, (web.port, page.status_code, page.headers.get("Location"))
        assert "Sam" in page.text
    # Signing out on B ends the session on A too: it is a row in the database, not a cookie.
    token = machines.csrf_token(phone, b.url("/today"))
    out = phone.post(b.url("/sign-out"), data={"csrf_token": token}, allow_redirects=False)
    assert out.status_code in (302, 303)
    again = phone.get(a.url("/today"), allow_redirects=False, timeout=10)
    assert again.status_code in (302, 303) and "/sign-in" in again.headers["Location"]


def test_rate_limits_hold_across_instances(layout):
    """The calendar feed allows 60 requests an hour from one address: 30 through each instance
    use it up, and then both refuse (with a single process each, only a shared count does)."""
    a, b = layout.webs
    answers = Counter()
    for i in range(60):
        web = (a, b)[i % 2]
        answers[requests.get(web.url("/calendar/no-such-feed.ics"), timeout=10).status_code] += 1
    assert answers == {404: 60}
    for web in (a, b):
        refused = requests.get(web.url("/calendar/no-such-feed.ics"), timeout=10)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0


def test_a_message_posted_through_one_instance_is_seen_through_the_other(layout):
    from iop_pwa.db import session_scope
    from iop_pwa.messages.models import ConversationKind
    from iop_pwa.messages.services import conversation_for

    a, b = layout.webs
    sam, dana = requests.Session(), requests.Session()
    machines.sign_in(sam, a, "sam@clinic.test", PASSWORD)
    machines.sign_in(dana, b, "dana@clinic.test", PASSWORD)
    assert sam.get(a.url("/messages"), timeout=10).status_code == 200  # makes the thread
    with layout.app.app_context(), session_scope() as db:
        thread = conversation_for(
            db, kind=ConversationKind.care_team, object_id=layout.people["sam"]
        ).id
    words = f"Checking in from the bus {uuid.uuid4().hex[:6]}"
    token = machines.csrf_token(sam, a.url(f"/messages/{thread}"))
    sent = sam.post(
        a.url(f"/messages/{thread}/send"),
        data={"csrf_token": token, "body": words, "client_id": str(uuid.uuid4())},
        allow_redirects=False,
        timeout=10,
    )
    assert sent.status_code == 303, sent.text[:300]
    polled = dana.get(b.url(f"/messages/{thread}/poll?after=0"), timeout=10)
    assert polled.status_code == 200 and words in polled.text
    assert words in dana.get(b.url(f"/messages/{thread}"), timeout=10).text


def test_two_workers_send_every_due_reminder_once(layout):
    from iop_pwa.db import session_scope
    from iop_pwa.notifications import notify

    with layout.app.app_context(), session_scope() as db:
        for person in layout.people["reminded"]:
            notify(db, user_id=person, kind="feedback", text="Feedback", object_id=1)
    machines.wait_for(lambda: len(layout.push.received) >= REMINDED, 60, "every reminder to arrive")
    time.sleep(3)  # three more rounds of both workers: nothing may come twice
    assert layout.push.errors == []
    arrived = Counter(r.name for r in layout.push.received)
    assert arrived == Counter({f"phone{i}": 1 for i in range(REMINDED)})
    # Both workers were running rounds all along (each claims what the other has not).
    for worker in layout.workers:
        assert worker.proc.poll() is None, machines.tail(worker.log)
        assert "worker started" in worker.output()


def test_a_short_load_through_both_instances_has_no_error(layout):
    """64 connections for a few seconds on participant and therapist pages, through both
    instances (the 30-second run with its latency goal is `bench/load.py`)."""
    wrk = shutil.which("wrk")
    machines.require(wrk, "wrk (apt-get install wrk)")
    a, b = layout.webs
    sam, dana = requests.Session(), requests.Session()
    machines.sign_in(sam, a, "sam@clinic.test", PASSWORD)
    machines.sign_in(dana, b, "dana@clinic.test", PASSWORD)
    runs = []
    for web, browser, path in ((a, sam, "/today"), (b, dana, "/dashboard")):
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
        runs.append(
            subprocess.Popen(  # noqa: S603 - fixed argv
                [
                    wrk,
                    "-t1",
                    "-c32",
                    "-d3s",
                    "--timeout",
                    "10s",
                    "-H",
                    f"Cookie: {cookie}",
                    web.url(path),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    for run in runs:
        out, _ = run.communicate(timeout=60)
        assert run.returncode == 0, out
        assert re.search(r"\d+ requests in", out), out
        assert "Non-2xx" not in out and "Socket errors" not in out, out
