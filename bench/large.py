"""A large program for benchmarks and tests: 20 therapists, 1,000 participants in groups, and a
year of everything for each (journal, practice, sessions and attendance, messages with read
markers, check-ins, notifications), added to the demo program (`iop_pwa.demo`).

The demo's people are part of it and typical: Sam has a full year of history and Dr. Lopez a
full caseload (about 50, in her groups), so `bench/pages.py` measures the same people's pages on
the demo data and on this one. Everything is written with bulk Core inserts (lists of dicts,
executemany) of the real models, so a schema change breaks it loudly; random choices come from
`random.Random(seed)`, so two runs make the same program.

    from bench.large import seed_large
    seed_large(engine)                               # the demo must be loaded first
    seed_large(engine, therapists=3, participants=150)  # one therapist's share and two others

Rows that belong to the demo keep their story: Sam's added history is older than the demo's
month, and the demo's messages keep the newest ids of their conversations (they are moved after
the year of history), so his threads still end where the demo ends them.
"""

from __future__ import annotations

import random
import time as clock
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, case, func, insert, literal, select, text, update

from iop_pwa.accounts.models import (
    CareTeamLink,
    Group,
    GroupKind,
    GroupMembership,
    ParticipantStatus,
    Role,
    User,
)
from iop_pwa.checkins.models import CheckinAnswer, CheckinSchedule, Questionnaire
from iop_pwa.checkins.questionnaires import BUILTIN, SAFETY_ITEM
from iop_pwa.db import utcnow
from iop_pwa.demo import EVENING_GROUP, PARTICIPANTS, THERAPIST_EMAIL
from iop_pwa.journal.models import FEELINGS, JournalEntry
from iop_pwa.messages.models import (
    Conversation,
    ConversationKind,
    GuidelineAgreement,
    Message,
    ReadCursor,
)
from iop_pwa.models import metadata
from iop_pwa.notifications import Notification
from iop_pwa.practice.models import (
    Assignment,
    AssignmentEvent,
    AssignmentStatus,
    Completion,
    Exercise,
    Feedback,
    Schedule,
)
from iop_pwa.push.models import PushSubscription
from iop_pwa.safety import CareFlag
from iop_pwa.therapy.models import Attendance, AttendanceStatus, SessionKind, TherapySession

PARTICIPANT_EMAIL = "sam@demo.test"  # the participant the benchmarks sign in as
GROUP_SIZE = 8
DEMO_DAYS = 36  # Sam's history added here is older than the demo's month (and its sessions)
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
EMAIL_DOMAIN = "large.test"
VIDEO = "https://zoom.us/j/5550100999"
# (weekdays, hour): when a group meets, in its therapist's zone. The demo's evening group meets
# Tuesdays and Thursdays at 18:00.
MEETINGS = (((1, 3), 18), ((0, 2), 18), ((0, 3), 10), ((2, 4), 17))
ENTRY_TEXTS = (
    "Group helped tonight. I said the hard thing out loud.",
    "Hard day at work; I took the walk instead of the drink.",
    "Practised the I-statement with my brother. It went better than last time.",
    "Slept badly. Tried the breathing before bed.",
    "Felt proud of keeping the boundary with an old friend.",
    "Lonely evening. Wrote to the group instead of going out.",
)
MESSAGE_TEXTS = (
    "See you all on Thursday.",
    "The breathing practice helped me this week.",
    "Anyone else find evenings the hardest?",
    "Thanks for listening last night.",
    "I wrote down my I-statement first, like we practised.",
)


@dataclass
class Person:
    id: int
    zone: ZoneInfo
    group_id: int
    therapist_id: int
    joined: datetime
    first_day: int  # history goes back `first_day`..`days` days (0 = up to today)
    individual_assignment: int | None = None
    care_id: int | None = None


@dataclass
class Plan:
    """What the seeder knows while it writes: ids of the demo's rows and of the new ones."""

    now: datetime
    days: int
    rng: random.Random
    therapist_id: int
    sam_id: int
    evening_id: int
    therapists: list[int] = field(default_factory=list)
    groups: dict[int, int] = field(default_factory=dict)  # group id -> therapist id
    people: list[Person] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _insert(conn: Connection, model, rows: Iterable[dict], plan: Plan, chunk: int = 5000) -> None:
    """Bulk insert (executemany) in chunks, so a year of rows never sits in memory at once."""
    table = model.__table__
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            conn.execute(insert(table), batch)
            plan.rows[table.name] += len(batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)
        plan.rows[table.name] += len(batch)


def _insert_from(conn: Connection, model, columns: list[str], query, plan: Plan) -> None:
    """INSERT ... SELECT in the database (rowcount is not reliable on every driver: count ids)."""
    before = _max_id(conn, model)
    conn.execute(insert(model.__table__).from_select(columns, query))
    plan.rows[model.__table__.name] += _max_id(conn, model) - before


def _max_id(conn: Connection, model) -> int:
    return conn.execute(select(func.coalesce(func.max(model.id), 0))).scalar_one()


def _at(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


def seed_large(
    engine: Engine,
    *,
    therapists: int = 20,
    participants: int = 1000,
    days: int = 365,
    seed: int = 15,
    log: Callable[[str], None] | None = print,
) -> dict[str, int]:
    """Add a program of `therapists` (the demo's included) and `participants` (the demo's five
    included) with `days` of history each to a database that holds the demo. Returns the rows
    added per table; runs ANALYZE after. Refuses to run twice on one database."""
    started = clock.perf_counter()
    with engine.begin() as conn:
        plan = _plan(conn, days=days, seed=seed)
        _people(conn, plan, therapists=therapists, participants=participants)
        _journal(conn, plan)
        _practice(conn, plan)
        _sessions(conn, plan)
        _messages(conn, plan)
        _checkins(conn, plan)
        _notifications_and_flags(conn, plan)
    analyze(engine)
    seconds = clock.perf_counter() - started
    if log:
        total = sum(plan.rows.values())
        log(
            f"seeded a large program ({engine.dialect.name}): {len(plan.therapists)} therapists, "
            f"{len(plan.people)} participants with history, {total:,} rows in {seconds:.1f}s"
        )
    return dict(plan.rows)


def analyze(engine: Engine) -> None:
    """Fresh planner statistics, as a live database has after autovacuum or `ANALYZE`; on
    SQLite the write-ahead log is emptied into the file too (else the first request that
    writes pays for copying a year of history)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _plan(conn: Connection, *, days: int, seed: int) -> Plan:
    def user_id(email: str) -> int | None:
        return conn.execute(select(User.id).where(User.email == email)).scalar()

    therapist, sam = user_id(THERAPIST_EMAIL), user_id(PARTICIPANT_EMAIL)
    evening = conn.execute(select(Group.id).where(Group.name == EVENING_GROUP)).scalar()
    if therapist is None or sam is None or evening is None:
        raise RuntimeError("load the demo program first (`flask demo`)")
    taken = conn.execute(select(User.id).where(User.email.like(f"%@{EMAIL_DOMAIN}"))).first()
    if taken is not None:
        raise RuntimeError("this database already holds a large program")
    return Plan(
        now=utcnow(),
        days=days,
        rng=random.Random(seed),
        therapist_id=therapist,
        sam_id=sam,
        evening_id=evening,
    )


# --- people, groups, care teams -------------------------------------------------------------


def _people(conn: Connection, plan: Plan, *, therapists: int, participants: int) -> None:
    rng, now = plan.rng, plan.now
    password_hash = conn.execute(
        select(User.password_hash).where(User.id == plan.therapist_id)
    ).scalar_one()  # every added account signs in with the demo password
    year_ago = now - timedelta(days=plan.days + 1)
    demo_people = len(PARTICIPANTS)
    per_therapist = participants // therapists
    shares = [per_therapist - demo_people] + [per_therapist] * (therapists - 1)
    for n in range(participants - per_therapist * therapists):
        shares[1 + n % max(1, therapists - 1)] += 1

    def account(email: str, name: str, role: Role, zone: str) -> dict:
        return {
            "email": email,
            "name": name,
            "password_hash": password_hash,
            "role": role,
            "status": ParticipantStatus.active,
            "timezone": zone,
            "clock": "",
            "created_at": year_ago,
            "password_changed_at": year_ago,
            "must_change_password": False,
            "last_seen_at": now
            - timedelta(hours=rng.randrange(1, 24 * (8 if rng.random() < 0.1 else 3))),
            "discharged_on": None,
        }

    staff = [
        account(f"therapist{t}@{EMAIL_DOMAIN}", f"Therapist {t:02d}", Role.therapist, ZONES[0])
        for t in range(1, therapists)
    ]
    people = [
        account(f"p{t}-{n}@{EMAIL_DOMAIN}", f"Participant {t:02d}-{n:02d}", Role.participant,
                rng.choice(ZONES))
        for t, share in enumerate(shares)
        for n in range(share)
    ]  # fmt: skip
    _insert(conn, User, staff + people, plan)
    ids = dict(
        conn.execute(select(User.email, User.id).where(User.email.like(f"%@{EMAIL_DOMAIN}"))).all()
    )
    zones = {row["email"]: row["timezone"] for row in people}
    plan.therapists = [plan.therapist_id] + [ids[row["email"]] for row in staff]

    # Sam has been in the evening group for a year (the demo made him a month ago).
    conn.execute(update(User).where(User.id == plan.sam_id).values(created_at=year_ago))
    conn.execute(
        update(GroupMembership)
        .where(GroupMembership.user_id == plan.sam_id, GroupMembership.group_id == plan.evening_id)
        .values(joined_at=year_ago)
    )
    sam_zone = conn.execute(select(User.timezone).where(User.id == plan.sam_id)).scalar_one()
    plan.people.append(
        Person(plan.sam_id, ZoneInfo(sam_zone), plan.evening_id, plan.therapist_id, year_ago,
               DEMO_DAYS)
    )  # fmt: skip
    evening_members = conn.execute(
        select(func.count()).where(
            GroupMembership.group_id == plan.evening_id, GroupMembership.is_facilitator.is_(False)
        )
    ).scalar_one()

    # Cohorts of about eight: the demo's evening group is filled up first.
    groups: list[dict] = []
    placement: list[tuple[int, int, list[str]]] = []  # (therapist index, group index, emails)
    for t, share in enumerate(shares):
        emails = [f"p{t}-{n}@{EMAIL_DOMAIN}" for n in range(share)]
        if t == 0:
            fill = max(0, GROUP_SIZE - evening_members)
            placement.append((t, -1, emails[:fill]))
            emails = emails[fill:]
        count = max(1, round(len(emails) / GROUP_SIZE)) if emails else 0
        for g in range(count):
            groups.append(
                {"name": f"Cohort {len(groups) + 1:03d}", "kind": GroupKind.cohort,
                 "created_at": year_ago}
            )  # fmt: skip
            placement.append((t, len(groups) - 1, emails[g::count]))
    before = _max_id(conn, Group)
    _insert(conn, Group, groups, plan)
    group_ids = list(
        conn.execute(select(Group.id).where(Group.id > before).order_by(Group.id)).scalars()
    )
    memberships, links = [], []
    for t, g, emails in placement:
        therapist_id = plan.therapists[t]
        group_id = plan.evening_id if g < 0 else group_ids[g]
        if g >= 0:
            plan.groups[group_id] = therapist_id
            memberships.append(
                {"group_id": group_id, "user_id": therapist_id, "is_facilitator": True,
                 "joined_at": year_ago}
            )  # fmt: skip
        for email in emails:
            pid = ids[email]
            memberships.append(
                {"group_id": group_id, "user_id": pid, "is_facilitator": False,
                 "joined_at": year_ago}
            )  # fmt: skip
            links.append(
                {"therapist_id": therapist_id, "participant_id": pid, "created_at": year_ago}
            )
            plan.people.append(
                Person(pid, ZoneInfo(zones[email]), group_id, therapist_id, year_ago, 0)
            )
    _insert(conn, GroupMembership, memberships, plan)
    _insert(conn, CareTeamLink, links, plan)
    _insert(
        conn,
        PushSubscription,
        (
            {"user_id": p.id, "endpoint": f"https://push.demo.invalid/large-{p.id}", "p256dh": "k",
             "auth": "a", "device": "Phone", "created_at": year_ago, "seen_at": now,
             "failures": 0}
            for p in plan.people[1:]
            if p.id % 3
        ),
        plan,
    )  # fmt: skip


# --- journal ---------------------------------------------------------------------------------


def _journal(conn: Connection, plan: Plan) -> None:
    """About one a day: mostly mood check-ins, some entries with text, some of those shared."""
    rng = plan.rng

    def rows():
        for p in plan.people:
            today = plan.now.astimezone(p.zone).date()
            for back in range(max(p.first_day, 0), plan.days):
                if rng.random() > 0.92:
                    continue
                day = today - timedelta(days=back)
                at = _at(day, rng.randrange(7, 23), rng.randrange(60), p.zone)
                if at > plan.now:
                    at = plan.now - timedelta(minutes=5)
                entry = rng.random() < 0.3
                yield {
                    "user_id": p.id,
                    "client_id": f"lg-j-{back}",
                    "kind": "entry" if entry else "checkin",
                    "mood": rng.choice((1, 2, 3, 3, 4, 4, 4, 5)),
                    "feelings": ",".join(rng.sample(FEELINGS, rng.randrange(0, 3))),
                    "own_words": "",
                    "prompt": None,
                    "body": rng.choice(ENTRY_TEXTS) if entry else "",
                    "shared": entry and rng.random() < 0.2,
                    "local_date": day,
                    "written_at": at,
                    "received_at": at,
                    "updated_at": None,
                }

    _insert(conn, JournalEntry, rows(), plan)


# --- practice --------------------------------------------------------------------------------


def _practice(conn: Connection, plan: Plan) -> None:
    """A daily group practice for every cohort, three days a week of one's own for every
    participant, about seven in ten due days done, feedback on some."""
    rng, now = plan.rng, plan.now
    exercises = list(
        conn.execute(
            select(Exercise.id).where(Exercise.slug.is_not(None)).order_by(Exercise.id)
        ).scalars()
    )
    if len(exercises) < 2:
        raise RuntimeError("the demo's exercise library is missing")
    start = (now - timedelta(days=plan.days)).date()
    sam_end = now.date() - timedelta(days=DEMO_DAYS)  # the demo's own practice follows

    def assignment(
        therapist_id, exercise_id, *, participant=None, group=None, daily=True, end=None
    ):
        return {
            "exercise_id": exercise_id,
            "therapist_id": therapist_id,
            "participant_id": participant,
            "group_id": group,
            "schedule": Schedule.daily if daily else Schedule.weekdays,
            "weekdays": "" if daily else "0,2,4",
            "start_date": start,
            "end_date": end,
            "note": "",
            "reminder_time": None,
            "status": AssignmentStatus.active,
            "created_at": now - timedelta(days=plan.days),
            "updated_at": None,
        }

    before = _max_id(conn, Assignment)
    rows = [assignment(t, exercises[0], group=g) for g, t in plan.groups.items()]
    rows.append(assignment(plan.therapist_id, exercises[0], group=plan.evening_id, end=sam_end))
    rows += [
        assignment(p.therapist_id, exercises[1 + p.id % (len(exercises) - 1)], participant=p.id,
                   daily=False, end=sam_end if p.id == plan.sam_id else None)
        for p in plan.people
    ]  # fmt: skip
    _insert(conn, Assignment, rows, plan)
    made = conn.execute(
        select(
            Assignment.id, Assignment.participant_id, Assignment.group_id, Assignment.end_date
        ).where(Assignment.id > before)
    ).all()
    by_group = {g: (aid, end) for aid, pid, g, end in made if g is not None}
    own = {pid: (aid, end) for aid, pid, g, end in made if pid is not None}
    _insert(
        conn,
        AssignmentEvent,
        ({"assignment_id": aid, "by_id": None, "at": now - timedelta(days=plan.days),
          "action": "created", "detail": ""} for aid, *_ in made),
        plan,
    )  # fmt: skip

    def completions():
        for p in plan.people:
            today = now.astimezone(p.zone).date()
            mine = [(*by_group[p.group_id], True), (*own[p.id], False)]
            for back in range(max(p.first_day, 1), plan.days):
                day = today - timedelta(days=back)
                for aid, end, daily in mine:
                    if (end and day > end) or (not daily and day.weekday() not in (0, 2, 4)):
                        continue
                    if rng.random() > 0.7:
                        continue
                    at = _at(day, rng.randrange(8, 22), rng.randrange(60), p.zone)
                    yield {
                        "assignment_id": aid,
                        "participant_id": p.id,
                        "client_id": f"lg-c-{aid}-{back}",
                        "local_date": day,
                        "late": False,
                        "reflection": "Slower breathing, looser shoulders." if daily else "",
                        "helpful": rng.randrange(2, 6),
                        "difficulty": rng.randrange(1, 4),
                        "done_at": at,
                        "received_at": at,
                    }

    first = _max_id(conn, Completion)
    _insert(conn, Completion, completions(), plan)
    feedback = (
        select(
            Completion.id,
            Assignment.therapist_id,
            literal("Good work: notice what changed."),
            Completion.received_at,
        )
        .join(Assignment, Assignment.id == Completion.assignment_id)
        .where(Completion.id > first, Completion.id % 15 == 0)
    )
    _insert_from(
        conn, Feedback, ["completion_id", "therapist_id", "text", "created_at"], feedback, plan
    )
    for p in plan.people:
        p.individual_assignment = own[p.id][0]


# --- sessions and attendance -----------------------------------------------------------------


def _sessions(conn: Connection, plan: Plan) -> None:
    """Each cohort meets twice a week (the year and four weeks ahead), each participant has an
    individual session every other week; past ones have attendance (about one in ten missed)."""
    rng, now = plan.rng, plan.now
    zone = ZoneInfo("America/New_York")
    today = now.astimezone(zone).date()
    first_day = today - timedelta(days=plan.days)
    demo_first = (
        conn.execute(
            select(func.min(TherapySession.starts_at)).where(
                TherapySession.therapist_id == plan.therapist_id
            )
        ).scalar()
        or now
    )  # the demo's sessions: the added ones end before them

    def group_sessions():
        meetings = [(plan.evening_id, plan.therapist_id, MEETINGS[0])] + [
            (g, t, MEETINGS[n % len(MEETINGS)]) for n, (g, t) in enumerate(plan.groups.items())
        ]
        for group_id, therapist_id, (weekdays, hour) in meetings:
            until = demo_first if group_id == plan.evening_id else now + timedelta(days=28)
            for back in range(plan.days, -29, -1):
                day = today - timedelta(days=back)
                starts = _at(day, hour, 0, zone)
                if day.weekday() not in weekdays or starts >= until or day < first_day:
                    continue
                yield {
                    "therapist_id": therapist_id, "kind": SessionKind.group,
                    "title": "Group session", "starts_at": starts, "duration_minutes": 90,
                    "video_url": VIDEO, "participant_id": None, "group_id": group_id,
                    "series_id": f"large:g{group_id}", "created_at": starts - timedelta(days=30),
                    "cancelled_at": now if rng.random() < 0.02 else None, "updated_at": None,
                }  # fmt: skip

    def individual_sessions():
        for p in plan.people:
            weekday, hour = p.id % 5, 9 + p.id % 8
            offset = (weekday - first_day.weekday()) % 7 + 7 * (p.id % 2)
            day = first_day + timedelta(days=offset)
            end = demo_first if p.id == plan.sam_id else now + timedelta(days=14)
            while True:
                starts = _at(day, hour, 0, zone)
                if starts >= end:
                    break
                yield {
                    "therapist_id": p.therapist_id, "kind": SessionKind.individual,
                    "title": "Check-in", "starts_at": starts, "duration_minutes": 50,
                    "video_url": VIDEO, "participant_id": p.id, "group_id": None,
                    "series_id": f"large:p{p.id}", "created_at": starts - timedelta(days=30),
                    "cancelled_at": now if rng.random() < 0.02 else None, "updated_at": None,
                }  # fmt: skip
                day += timedelta(days=14)

    before = _max_id(conn, TherapySession)
    _insert(conn, TherapySession, group_sessions(), plan)
    _insert(conn, TherapySession, individual_sessions(), plan)
    s, m = TherapySession, GroupMembership
    status = case(
        ((s.id + m.user_id) % 10 == 0, literal(AttendanceStatus.missed.value)),
        ((s.id + m.user_id) % 10 == 1, literal(AttendanceStatus.late.value)),
        else_=literal(AttendanceStatus.attended.value),
    )
    past = (s.id > before, s.starts_at < now, s.cancelled_at.is_(None))
    in_groups = (
        select(s.id, m.user_id, status, s.therapist_id, s.starts_at)
        .join(m, m.group_id == s.group_id)
        .where(*past, m.is_facilitator.is_(False), m.joined_at <= s.starts_at)
    )
    own_status = case(
        (s.id % 10 == 0, literal(AttendanceStatus.missed.value)),
        else_=literal(AttendanceStatus.attended.value),
    )
    alone = select(s.id, s.participant_id, own_status, s.therapist_id, s.starts_at).where(
        *past, s.participant_id.is_not(None)
    )
    columns = ["session_id", "participant_id", "status", "marked_by_id", "marked_at"]
    for query in (in_groups, alone):
        _insert_from(conn, Attendance, columns, query, plan)


# --- messages --------------------------------------------------------------------------------


def _messages(conn: Connection, plan: Plan) -> None:
    """Every cohort's room (members post about twice a week, the therapist weekly) and every
    care-team thread (a message and an answer a week), guideline agreements and read markers;
    the demo's messages are moved after the history."""
    rng, now = plan.rng, plan.now
    existing = dict(conn.execute(select(Conversation.key, Conversation.id)).all())
    rows = [
        {"key": f"group:{g}", "kind": ConversationKind.group, "participant_id": None,
         "group_id": g, "peer_a_id": None, "peer_b_id": None, "guidelines": "",
         "direct_messages": False, "created_at": now - timedelta(days=plan.days),
         "last_message_at": None}
        for g in [plan.evening_id, *plan.groups]
    ] + [
        {"key": f"care:{p.id}", "kind": ConversationKind.care_team, "participant_id": p.id,
         "group_id": None, "peer_a_id": None, "peer_b_id": None, "guidelines": "",
         "direct_messages": False, "created_at": now - timedelta(days=plan.days),
         "last_message_at": None}
        for p in plan.people
    ]  # fmt: skip
    _insert(conn, Conversation, (r for r in rows if r["key"] not in existing), plan)
    keys = dict(conn.execute(select(Conversation.key, Conversation.id)).all())
    rooms = {g: keys[f"group:{g}"] for g in [plan.evening_id, *plan.groups]}
    for p in plan.people:
        p.care_id = keys[f"care:{p.id}"]
    demo_threads = [rooms[plan.evening_id], keys[f"care:{plan.sam_id}"]]
    demo_max = _max_id(conn, Message)

    members: dict[int, list[Person]] = defaultdict(list)
    for p in plan.people:
        members[p.group_id].append(p)
    therapist_of = {plan.evening_id: plan.therapist_id, **plan.groups}
    newest = plan.now - timedelta(days=4)  # the demo's own messages are newer

    def message(conversation, author, n, at):
        return {
            "conversation_id": conversation, "author_id": author,
            "client_id": f"lg-m-{conversation}-{n}",
            "body": rng.choice(MESSAGE_TEXTS), "written_at": at, "received_at": at,
            "hidden_at": None, "hidden_by_id": None,
        }  # fmt: skip

    def written():
        out = []
        for group_id, people in members.items():
            room = rooms[group_id]
            for back in range(plan.days, 3, -1):
                day_start = now - timedelta(days=back)
                if back % 7 == 0:
                    out.append(message(room, therapist_of[group_id], len(out), day_start))
                for p in people:
                    if back >= max(p.first_day, 4) and rng.random() < 0.28:
                        at = day_start + timedelta(minutes=rng.randrange(1, 1440))
                        out.append(message(room, p.id, len(out), min(at, newest)))
        for p in plan.people:
            for week in range(plan.days // 7, max(p.first_day, 4) // 7, -1):
                at = now - timedelta(weeks=week, hours=rng.randrange(0, 48))
                out.append(message(p.care_id, p.id, len(out), at))
                out.append(message(p.care_id, p.therapist_id, len(out), at + timedelta(hours=3)))
        out.sort(key=lambda row: row["written_at"])  # ids in the order they were written
        return out

    _insert(conn, Message, written(), plan)
    _move_demo_messages(conn, demo_threads, demo_max)

    agreed = set(
        conn.execute(select(GuidelineAgreement.conversation_id, GuidelineAgreement.user_id)).all()
    )
    agreements = [(rooms[p.group_id], p.id) for p in plan.people] + [
        (room, therapist_of[g]) for g, room in rooms.items()
    ]
    _insert(
        conn,
        GuidelineAgreement,
        ({"conversation_id": c, "user_id": u, "agreed_at": now - timedelta(days=plan.days)}
         for c, u in dict.fromkeys(agreements) if (c, u) not in agreed),
        plan,
    )  # fmt: skip

    # Read markers: most people have read everything, some are a few messages behind.
    ids: dict[int, list[int]] = defaultdict(list)
    touched = set(rooms.values()) | {p.care_id for p in plan.people}
    for conversation, mid in conn.execute(
        select(Message.conversation_id, Message.id).order_by(Message.id)
    ):
        if conversation in touched:
            ids[conversation].append(mid)
    cursors = set(conn.execute(select(ReadCursor.conversation_id, ReadCursor.user_id)).all())
    readers = (
        agreements
        + [(p.care_id, p.id) for p in plan.people]
        + [(p.care_id, p.therapist_id) for p in plan.people]
    )

    def cursor_rows():
        for conversation, user in dict.fromkeys(readers):
            if (conversation, user) in cursors or not ids[conversation]:
                continue
            behind = 0 if rng.random() < 0.8 else rng.randrange(1, 4)
            seen = ids[conversation][max(0, len(ids[conversation]) - 1 - behind)]
            yield {"conversation_id": conversation, "user_id": user, "last_read_id": seen}

    _insert(conn, ReadCursor, cursor_rows(), plan)
    last = (
        select(func.max(Message.written_at))
        .where(Message.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    conn.execute(
        update(Conversation).where(Conversation.id.in_(touched)).values(last_message_at=last)
    )


def _move_demo_messages(conn: Connection, conversations: list[int], demo_max: int) -> None:
    """Give the demo's messages in these conversations new ids after the added history (a
    thread is read by id), and move the read markers that point at them along."""
    offset = _max_id(conn, Message)
    moved = (Message.conversation_id.in_(conversations), Message.id <= demo_max)
    conn.execute(update(Message).where(*moved).values(id=Message.id + offset))
    conn.execute(
        update(ReadCursor)
        .where(
            ReadCursor.conversation_id.in_(conversations),
            ReadCursor.last_read_id > 0,
            ReadCursor.last_read_id <= demo_max,
        )
        .values(last_read_id=ReadCursor.last_read_id + offset)
    )
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('message', 'id'), max(id)) FROM message")
        )


# --- check-ins -------------------------------------------------------------------------------


def _checkins(conn: Connection, plan: Plan) -> None:
    """PHQ-9 and GAD-7 every two weeks for every cohort, about nine in ten answered."""
    rng, now = plan.rng, plan.now
    slugs = dict(
        conn.execute(
            select(Questionnaire.slug, Questionnaire.id)
            .where(Questionnaire.slug.in_(BUILTIN))
            .order_by(Questionnaire.slug)
        ).all()
    )
    if set(slugs) != set(BUILTIN):
        raise RuntimeError("the demo's check-ins are missing")
    start = (now - timedelta(days=plan.days)).date()
    sam_end = now.date() - timedelta(weeks=8)  # the demo's own check-ins follow
    schedules = [
        {"questionnaire_id": qid, "therapist_id": t, "participant_id": None, "group_id": g,
         "every_weeks": 2, "start_date": start, "created_at": now - timedelta(days=plan.days),
         "stopped_at": datetime.combine(sam_end, time(12), UTC) if g == plan.evening_id else None}
        for g, t in [(plan.evening_id, plan.therapist_id), *plan.groups.items()]
        for qid in slugs.values()
    ]  # fmt: skip
    _insert(conn, CheckinSchedule, schedules, plan)

    def answers():
        for p in plan.people:
            today = now.astimezone(p.zone).date()
            level = rng.uniform(0.3, 2.0)
            for slug, qid in slugs.items():
                form = BUILTIN[slug]
                due = start
                while due <= today:
                    if (p.id != plan.sam_id or due < sam_end) and rng.random() < 0.9:
                        values = [
                            0 if (slug == "phq9" and i == SAFETY_ITEM)
                            else max(0, min(3, round(rng.gauss(level, 0.8))))
                            for i in range(len(form.items))
                        ]  # fmt: skip
                        day = min(today, due + timedelta(days=rng.randrange(0, 3)))
                        score = sum(values)
                        yield {
                            "participant_id": p.id, "questionnaire_id": qid,
                            "client_id": f"lg-q-{qid}-{due.toordinal()}", "due_on": due,
                            "answers": ",".join(map(str, values)), "score": score,
                            "band": form.band(score), "local_date": day,
                            "answered_at": min(now, _at(day, 19, 30, p.zone)),
                            "received_at": min(now, _at(day, 19, 30, p.zone)),
                        }  # fmt: skip
                    due += timedelta(weeks=2)
                level = max(0.2, level * 0.97)

    _insert(conn, CheckinAnswer, answers(), plan)


# --- notifications and flags -------------------------------------------------------------------


def _notifications_and_flags(conn: Connection, plan: Plan) -> None:
    """Two notifications a week for each participant (feedback, a care-team answer) and one a
    week per person on a therapist's caseload for the therapist; all read but the last few.
    A seen care flag every two months, and an open one for every tenth participant."""
    rng, now = plan.rng, plan.now

    def rows():
        for p in plan.people:
            weeks = range(plan.days // 7, max(p.first_day, 1) // 7, -1)
            for week in weeks:
                at = now - timedelta(weeks=week, hours=rng.randrange(0, 72))
                unread = week <= 1 and rng.random() < 0.5
                for user, kind, obj in (
                    (p.id, "feedback", p.individual_assignment),
                    (p.id, "message", p.care_id),
                    (p.therapist_id, "message", p.care_id),
                ):
                    yield {
                        "user_id": user, "kind": kind, "text": "You have something new.",
                        "object_id": obj, "created_at": at,
                        "read_at": None if unread else at + timedelta(hours=5),
                    }  # fmt: skip

    _insert(conn, Notification, rows(), plan)
    flags = []
    for n, p in enumerate(plan.people):
        if p.first_day:
            continue  # the demo's people keep the demo's flags
        for week in range(plan.days // 7, 1, -9):
            at = now - timedelta(weeks=week)
            flags.append(
                {"participant_id": p.id, "reason": "crisis_language",
                 "source_type": "journal_entry",
                 "source_id": None, "raised_at": at, "seen_at": at + timedelta(hours=6),
                 "seen_by_id": p.therapist_id}
            )  # fmt: skip
        if n % 10 == 0:
            flags.append(
                {"participant_id": p.id, "reason": "crisis_language",
                 "source_type": "journal_entry",
                 "source_id": None, "raised_at": now - timedelta(days=1), "seen_at": None,
                 "seen_by_id": None}
            )  # fmt: skip
    _insert(conn, CareFlag, flags, plan)


def table_sizes(engine: Engine) -> dict[str, int]:
    """Rows in every table, for the report."""
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }
