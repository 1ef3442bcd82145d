"""The demo program (`flask demo`, `make run`) tells one story, whatever the day and hour it is
loaded: nobody writes without having used the app, a flag is raised when its entry arrived,
Morgan journals as she says she does, and no two entries of Sam's timeline share a moment (the
timeline keeps those together, so a page would come out short). Loaded at moments across a year
(both clock changes, a leap day, the hours when UTC and New York disagree on the date, every
weekday), every page of it renders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import select

from iop_pwa.accounts.models import Role, User
from iop_pwa.audit import AuditEvent
from iop_pwa.checkins.models import CheckinAnswer
from iop_pwa.dashboard.services import TIMELINE_PAGE, timeline
from iop_pwa.db import session_scope
from iop_pwa.demo import ADMIN_EMAIL, DEMO_PASSWORD, THERAPIST_EMAIL, load_demo
from iop_pwa.journal.models import JournalEntry
from iop_pwa.messages.models import Message
from iop_pwa.practice.models import Completion
from iop_pwa.push.models import ReminderPreference
from iop_pwa.safety import CareFlag
from tests.conftest import _empty_tables, _used_steps

NEW_YORK = ZoneInfo("America/New_York")
# An ordinary Monday morning in New York: the named moment of the story checks.
MONDAY_MORNING = datetime(2027, 2, 8, 14, 30, tzinfo=UTC)


def _moments() -> list[datetime]:
    """A year of moments, each at another hour and weekday, plus the awkward ones."""
    start = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    found = [
        start + timedelta(days=13 * n, hours=(7 * n) % 24, minutes=(13 * n) % 60) for n in range(28)
    ]
    found += [
        datetime(2026, 12, 8, 0, 30, tzinfo=UTC),  # still the 7th in New York (the hour)
        datetime(2027, 1, 1, 4, 45, tzinfo=UTC),  # New Year's Eve, 23:45 in New York
        datetime(2027, 3, 14, 6, 30, tzinfo=UTC),  # New York springs forward at 07:00 UTC
        datetime(2027, 3, 14, 7, 30, tzinfo=UTC),  # ... and just after
        datetime(2027, 11, 7, 5, 30, tzinfo=UTC),  # 01:30 EDT, the hour that comes twice
        datetime(2027, 11, 7, 6, 30, tzinfo=UTC),  # 01:30 EST, its second time
        datetime(2028, 2, 29, 12, 0, tzinfo=UTC),  # a leap day
        datetime(2028, 3, 1, 3, 0, tzinfo=UTC),  # still the leap day in New York
        datetime(2027, 1, 4, 0, 15, tzinfo=UTC),  # Monday 00:15 UTC: Sunday evening in New York
        datetime(2027, 1, 3, 15, 0, tzinfo=UTC),  # a Sunday afternoon
        datetime(2027, 6, 5, 3, 30, tzinfo=UTC),  # a Friday, 23:30 in New York
    ]
    return found


def contradictions(db, now: datetime) -> list[str]:
    """Where the demo contradicts itself (an empty list: one consistent story)."""
    found = []
    people = {u.id: u for u in db.exec(select(User))}
    acts: dict[int, list[tuple[datetime, str]]] = {uid: [] for uid in people}
    for m in db.exec(select(Message)):
        acts[m.author_id].append((m.written_at, f"message {m.id}"))
    for e in db.exec(select(JournalEntry)):
        acts[e.user_id].append((e.written_at, f"journal entry {e.id}"))
    for a in db.exec(select(CheckinAnswer)):
        acts[a.participant_id].append((a.answered_at, f"check-in answer {a.id}"))
    for c in db.exec(select(Completion)):
        acts[c.participant_id].append((c.done_at, f"completion {c.id}"))
    for p in db.exec(select(ReminderPreference)):
        acts[p.user_id].append((p.updated_at, "reminder choices"))
    for event in db.exec(select(AuditEvent).where(AuditEvent.actor_id.is_not(None))):
        if event.actor_id in acts and event.action in ("sign_in", "access_denied"):
            acts[event.actor_id].append((event.at, event.action))
    for uid, done in acts.items():
        person = people[uid]
        if person.role != Role.participant:
            continue
        for at, what in done:
            if at > now:
                found.append(f"{person.name}: {what} is in the future ({at})")
            if at < person.created_at:
                found.append(f"{person.name}: {what} ({at}) before joining ({person.created_at})")
        if done and person.last_seen_at is None:
            found.append(f"{person.name} never signed in but has {done[0][1]}")
        if done and person.last_seen_at is not None:
            latest = max(done)
            if person.last_seen_at < latest[0]:
                found.append(
                    f"{person.name} last used the app at {person.last_seen_at}, "
                    f"before {latest[1]} at {latest[0]}"
                )
    entries = {e.id: e for e in db.exec(select(JournalEntry))}
    for flag in db.exec(select(CareFlag)):
        source = entries.get(flag.source_id) if flag.source_type == "journal_entry" else None
        if source is not None and flag.raised_at != source.received_at:
            found.append(f"a flag raised at {flag.raised_at} for an entry of {source.received_at}")
    morgan = next(u for u in people.values() if u.email == "morgan@demo.test")
    recent = [at for at, what in acts[morgan.id] if "journal" in what and now - at < timedelta(7)]
    if len(recent) < 3:
        found.append(f"Morgan says she journals most nights but wrote {len(recent)} this week")
    discharge = db.exec(
        select(AuditEvent).where(AuditEvent.action == "participant_discharged")
    ).one()
    if discharge.at.astimezone(ZoneInfo(morgan.timezone)).date() != morgan.discharged_on:
        found.append(f"Morgan's discharge is logged at {discharge.at}, not {morgan.discharged_on}")
    return found


def _sam_timeline(app, db) -> list:
    sam = db.exec(select(User).where(User.email == "sam@demo.test")).one()
    with app.test_request_context(), session_scope() as s:
        return timeline(s, person=s.get(User, sam.id)).entries


def _load(app) -> None:
    with app.app_context(), session_scope() as s:
        load_demo(s)


def _signed_in(app, email: str):
    client = app.test_client()
    response = client.post_form("/sign-in", {"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return client


def test_the_demo_tells_one_story(app, db):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        _load(app)
        _load(app)  # `flask demo` twice changes nothing
        problems = contradictions(db, MONDAY_MORNING)
        assert problems == [], "\n".join(problems)
        assert len(_sam_timeline(app, db)) == TIMELINE_PAGE
    alex = db.exec(select(User).where(User.email == "alex@demo.test")).one()
    assert alex.last_seen_at is None, "Alex is the one who has not signed in yet"
    jordan = db.exec(select(User).where(User.email == "jordan@demo.test")).one()
    [flag] = db.exec(select(CareFlag).where(CareFlag.participant_id == jordan.id)).all()
    assert flag.raised_at == MONDAY_MORNING - timedelta(days=5, hours=1)


PARTICIPANT_PAGES = (
    "/today", "/journal", "/journal/mood", "/practice", "/sessions", "/checkins", "/messages",
    "/notifications", "/account", "/help",
)  # fmt: skip


def _pages(app, db) -> list[str]:
    """Every page of the demo that each kind of person opens: the ones that answered no 200."""
    people = {u.email: u for u in db.exec(select(User))}
    wrong = []
    staff = _signed_in(app, THERAPIST_EMAIL)
    paths = ["/dashboard", "/dashboard/participants", "/dashboard/groups", "/dashboard/sessions"]
    paths += ["/dashboard/library", "/dashboard/checkins", "/messages"]
    paths += [
        f"/dashboard/participants/{u.id}" for u in people.values() if u.role == Role.participant
    ]
    for path in paths:
        if (status := staff.get(path).status_code) != 200:
            wrong.append(f"therapist {path}: {status}")
    for email in ("sam@demo.test", "priya@demo.test", "morgan@demo.test"):
        client = _signed_in(app, email)
        for path in PARTICIPANT_PAGES:
            if (status := client.get(path).status_code) != 200:
                wrong.append(f"{email} {path}: {status}")
    admin = _signed_in(app, ADMIN_EMAIL)
    for path in ("/admin/audit", "/admin/groups", "/admin/therapists", "/admin/program"):
        if (status := admin.get(path).status_code) != 200:
            wrong.append(f"admin {path}: {status}")
    return wrong


@pytest.mark.parametrize("moment", _moments(), ids=lambda m: m.strftime("%Y-%m-%dT%H:%M"))
def test_the_demo_holds_at_any_moment_of_the_year(app, db, moment):
    with time_machine.travel(moment, tick=False):
        _used_steps.clear()
        _load(app)
        assert contradictions(db, moment) == []
        stamps = [e.at for e in _sam_timeline(app, db)]
        assert len(stamps) == TIMELINE_PAGE, "two entries share a moment at the page's end"
        assert _pages(app, db) == []
    _empty_tables(app.extensions["db_engine"])
