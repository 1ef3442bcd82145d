"""One definition of who may see what, checked on generated programs (issue #23).

hypothesis builds whole small programs (tests/worlds.py): therapists and caseloads, groups with
facilitators and join times (discharge to alumni and re-admission leave a latest join), hidden
messages, direct messages, blocks and mutes, shared and private journal entries, individual,
group and family sessions with guests, check-in answers, individual and group practice with
completions, care flags. For every reader and every object of every kind, each test asserts
that the object check (`Policy.allows`, view and change), every list or count that shows that
kind to that reader, and the poll's "may ask" say the same, and that all of them agree with
`Oracle`: the rules in plain Python over the world, written independently of the app.

A failure prints the world (hypothesis' falsifying example) and the disagreements, each as
"what / reader / object: app said X, the rule says Y".

To see it bite, make `since_joined` in iop_pwa/messages/rules.py return `true()`, or let
`access._participant_record` ignore the caseload, and run this file (see the README).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from sqlmodel import Session, select

from iop_pwa import access
from iop_pwa.access import Action
from iop_pwa.accounts import passwords
from iop_pwa.accounts import services as accounts
from iop_pwa.accounts.models import Group, ParticipantStatus, User
from iop_pwa.checkins import services as checkins
from iop_pwa.checkins.models import CheckinAnswer
from iop_pwa.checkins.policies import ANSWER
from iop_pwa.dashboard import services as dashboard
from iop_pwa.db import utcnow
from iop_pwa.journal import services as journal
from iop_pwa.journal.models import JournalEntry
from iop_pwa.journal.policies import JOURNAL_ENTRY
from iop_pwa.messages import services as messages
from iop_pwa.messages.models import Conversation, ConversationKind, Message, MessageReport
from iop_pwa.messages.policies import CONVERSATION, GROUP_ROOM, MESSAGE, MESSAGE_REPORT
from iop_pwa.practice import services as practice
from iop_pwa.practice.models import Assignment, AssignmentStatus, Completion
from iop_pwa.practice.policies import ASSIGNMENT, COMPLETION
from iop_pwa.safety import CARE_FLAG, CareFlag
from iop_pwa.therapy import services as therapy
from iop_pwa.therapy.models import FamilyGuest, TherapySession
from iop_pwa.therapy.policies import FAMILY_GUEST, THERAPY_SESSION
from tests import conftest
from tests.conftest import PASSWORD, STAFF_TOTP_SECRET, _empty_tables
from tests.worlds import Built, World, at, build, worlds

BOUNDED = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_HASH: list[str] = []


def password_hash() -> str:
    if not _HASH:
        _HASH.append(passwords.hash_password(PASSWORD))
    return _HASH[0]


# --- The rules, in plain Python over the world ---------------------------------------------------


class Oracle:
    """Who may see what in `world`, said from the world alone. A reader is ("t", i), therapist i,
    or ("p", i), participant i (never a deactivated one: they cannot sign in)."""

    def __init__(self, world: World):
        self.w = world

    def status(self, p: int) -> ParticipantStatus:
        return self.w.people[p].status

    def readers(self):
        yield from (("t", t) for t in range(self.w.therapists))
        for p, person in enumerate(self.w.people):
            if person.status != ParticipantStatus.deactivated:
                yield ("p", p)

    def on_caseload(self, reader, p: int) -> bool:
        return reader[0] == "t" and (reader[1], p) in self.w.caseload

    def facilitates(self, reader, g: int | None) -> bool:
        return reader[0] == "t" and (reader[1], g) in self.w.facilitates

    def joined_at(self, p: int, g: int | None) -> datetime | None:
        hour = self.w.joined.get((p, g))
        return None if hour is None else at(hour)

    # Participant records, groups.
    def record(self, reader, p: int, action: Action) -> bool:
        """Staff see a participant's record iff on their caseload; they add to it unless the
        person is deactivated."""
        if not self.on_caseload(reader, p):
            return False
        return action == Action.view or self.status(p) != ParticipantStatus.deactivated

    def group(self, reader, g: int, action: Action) -> bool:
        if reader[0] == "t":
            return self.facilitates(reader, g)
        return action == Action.view and (reader[1], g) in self.w.joined

    # Conversations and messages.
    def conversation(self, reader, c: int, action: Action = Action.view) -> bool:
        conv = self.w.conversations[c]
        if conv.kind == ConversationKind.care_team:
            if reader[0] == "p":
                return reader[1] == conv.participant
            if not self.on_caseload(reader, conv.participant):
                return False
            return (
                action == Action.view
                or self.status(conv.participant) != ParticipantStatus.deactivated
            )
        if conv.kind == ConversationKind.group:
            if reader[0] == "t":
                return self.facilitates(reader, conv.group)
            return (reader[1], conv.group) in self.w.joined
        return reader[0] == "p" and reader[1] in conv.peers

    def message_time(self, n: int) -> datetime:
        return at(self.w.messages[n].hour, minutes=n % 60)

    def in_history(self, reader, n: int) -> bool:
        """A member's history of a group's room starts at their latest join of the group."""
        m = self.w.messages[n]
        conv = self.w.conversations[m.conversation]
        if not self.conversation(reader, m.conversation):
            return False
        if reader[0] == "p" and conv.kind == ConversationKind.group:
            return self.message_time(n) >= self.joined_at(reader[1], conv.group)
        return True

    def sees_message(self, reader, n: int) -> bool:
        """...and a removed message's words only for its author and the facilitators."""
        m = self.w.messages[n]
        return self.in_history(reader, n) and (
            not m.hidden or m.author == reader or reader[0] == "t"
        )

    def moderates_message(self, reader, n: int) -> bool:
        m = self.w.messages[n]
        conv = self.w.conversations[m.conversation]
        if not self.facilitates(reader, conv.group):
            return False
        return conv.kind == ConversationKind.group or (
            conv.kind == ConversationKind.direct and m.reported
        )

    def unread(self, reader, c: int) -> int:
        ids = [n for n, m in enumerate(self.w.messages) if m.conversation == c]
        read_up_to = self.w.cursors.get((reader[0], reader[1], c), 0)
        return sum(
            1
            for position, n in enumerate(ids)
            if position >= read_up_to
            and self.sees_message(reader, n)
            and not self.w.messages[n].hidden
            and self.w.messages[n].author != reader
        )

    # Journal.
    def entry(self, reader, e: int) -> bool:
        """A participant sees a journal entry iff they wrote it (staff never by its id)."""
        return reader == ("p", self.w.entries[e].author)

    def entry_on_timeline(self, reader, e: int) -> bool:
        """Staff see an entry through the participant's timeline iff on caseload and shared (a
        mood check-in is always the care team's)."""
        entry = self.w.entries[e]
        return self.on_caseload(reader, entry.author) and (entry.shared or entry.kind == "checkin")

    # Sessions.
    def session(self, reader, s: int) -> bool:
        sess = self.w.sessions[s]
        if reader[0] == "t":
            if sess.group is not None:
                return self.facilitates(reader, sess.group)
            return self.on_caseload(reader, sess.participant)
        if sess.participant == reader[1]:
            return True
        joined = self.joined_at(reader[1], sess.group)
        if joined is None:
            return False
        zone = ZoneInfo(self.w.people[reader[1]].zone)
        first_day = datetime.combine(joined.astimezone(zone).date(), time(0), tzinfo=zone)
        return first_day <= at(sess.hour)

    # Practice.
    def task(self, reader, t: int, action: Action) -> bool:
        task = self.w.tasks[t]
        if reader[0] == "p":
            if task.participant == reader[1]:
                return True
            return (
                self.status(reader[1]) != ParticipantStatus.alumni
                and (reader[1], task.group) in self.w.joined
            )
        if task.participant is not None:
            if not self.on_caseload(reader, task.participant):
                return False
            return (
                action == Action.view or self.status(task.participant) == ParticipantStatus.active
            )
        return self.facilitates(reader, task.group)

    def completion(self, reader, c: int) -> bool:
        p = self.w.completions[c][1]
        return reader == ("p", p) or self.on_caseload(reader, p)

    # Check-ins, flags.
    def answer(self, reader, a: int) -> bool:
        p = self.w.answers[a][0]
        return reader == ("p", p) or self.on_caseload(reader, p)

    def flag(self, reader, f: int) -> bool:
        return self.on_caseload(reader, self.w.flags[f][0])


# --- Running a world ----------------------------------------------------------------------------


class Run:
    """A built world, its oracle, the readers as the app loads them, and the disagreements."""

    def __init__(self, app, db, world: World):
        _empty_tables(app.extensions["db_engine"])
        conftest._used_steps.clear()
        self.app, self.db, self.w = app, db, world
        with Session(app.extensions["db_engine"]) as writing:
            self.ids: Built = build(writing, world, password_hash(), STAFF_TOTP_SECRET)
        self.rule = Oracle(world)
        self.problems: list[str] = []

    def user(self, reader) -> User:
        return self.db.get(User, self.ids.person(reader))

    def name(self, reader) -> str:
        return f"{'therapist' if reader[0] == 't' else 'participant'} {reader[1]}"

    def same(self, what: str, reader, thing, app_says, rule_says) -> None:
        if app_says != rule_says:
            self.problems.append(
                f"{what} / {self.name(reader)} / {thing}: app says {app_says!r}, "
                f"the rule says {rule_says!r}"
            )

    def subset(self, what: str, reader, shown: set, allowed: set, label) -> None:
        for extra in sorted(shown - allowed):
            self.problems.append(
                f"{what} / {self.name(reader)} shows {label(extra)}, which the object check refuses"
            )

    def done(self) -> None:
        if self.problems:
            raise AssertionError("\n".join(["the app and the rules disagree:", *self.problems]))

    def staff(self):
        return [r for r in self.rule.readers() if r[0] == "t"]

    def participants(self):
        return [r for r in self.rule.readers() if r[0] == "p"]

    def records_of(self, reader) -> list[User]:
        """The participants whose record the staff member opens (PARTICIPANT, view)."""
        return [
            self.db.get(User, pid)
            for pid in self.ids.people
            if access.PARTICIPANT.allows(self.db, self.user(reader), self.db.get(User, pid))
        ]

    def timeline_keys(self, reader) -> set[str]:
        """Every key of every page of the timelines of the records the reader may open."""
        keys: set[str] = set()
        with self.app.test_request_context():
            for person in self.records_of(reader):
                before = None
                while True:
                    page = dashboard.timeline(self.db, person=person, before=before)
                    keys |= {e.key for e in page.entries}
                    if page.older is None:
                        break
                    before = page.older
        return keys


def ids_of(rows) -> set[int]:
    return {row.id for row in rows}


def _index(ids: list[int]):
    return {i: n for n, i in enumerate(ids)}


@pytest.fixture
def run_world(app, db):
    return lambda world: Run(app, db, world)


# --- The tests, one per kind of object ------------------------------------------------------------


@BOUNDED
@given(world=worlds())
def test_participant_records_groups_and_care_flags(run_world, world):
    run = run_world(world)
    db, rule, ids = run.db, run.rule, run.ids
    for reader in rule.readers():
        user = run.user(reader)
        for p, pid in enumerate(ids.people):
            person = db.get(User, pid)
            for action in Action:
                run.same(
                    f"PARTICIPANT {action}",
                    reader,
                    f"participant {p}",
                    access.PARTICIPANT.allows(db, user, person, action),
                    rule.record(reader, p, action),
                )
        for g, gid in enumerate(ids.groups):
            for action in Action:
                run.same(
                    f"GROUP {action}",
                    reader,
                    f"group {g}",
                    access.GROUP.allows(db, user, db.get(Group, gid), action),
                    rule.group(reader, g, action),
                )
        for f, fid in enumerate(ids.flags):
            run.same(
                "CARE_FLAG view",
                reader,
                f"flag {f}",
                CARE_FLAG.allows(db, user, db.get(CareFlag, fid)),
                rule.flag(reader, f),
            )
    people, flags = _index(ids.people), _index(ids.flags)
    for reader in run.staff():
        staff_id = ids.person(reader)
        mine = {p for p in range(len(world.people)) if rule.record(reader, p, Action.view)}
        run.same(
            "caseload list",
            reader,
            "participants",
            {people[u.id] for u in accounts.caseload(db, staff_id)},
            mine,
        )
        with run.app.test_request_context():
            sorted_rows = dashboard.sorted_caseload(db, staff_id)
        run.same(
            "dashboard (sorted by need)",
            reader,
            "participants",
            {people[r.participant.id] for r in (*sorted_rows.active, *sorted_rows.alumni)},
            mine,
        )
        rows = dashboard.caseload(db, staff_id)
        run.same(
            "dashboard caseload",
            reader,
            "participants",
            {people[r.participant.id] for r in rows},
            mine,
        )
        open_flags = {
            f for f, (p, seen) in enumerate(world.flags) if not seen and rule.flag(reader, f)
        }
        run.same(
            "dashboard open care flags",
            reader,
            "flags",
            {flags[flag.id] for r in rows for flag in r.flags},
            open_flags,
        )
        run.same(
            "my_groups (form choices)",
            reader,
            "groups",
            {_index(ids.groups)[g.id] for g in access.my_groups(db, staff_id)},
            {g for g in range(len(world.groups)) if rule.group(reader, g, Action.change)},
        )
        shown = {k for k in run.timeline_keys(reader) if k.startswith("flag:")}
        run.same(
            "timeline care flags",
            reader,
            "flags",
            {flags[int(k.split(":")[1])] for k in shown},
            {f for f in range(len(world.flags)) if rule.flag(reader, f)},
        )
    run.done()


@BOUNDED
@given(world=worlds())
def test_conversations_and_messages(run_world, world):
    run = run_world(world)
    db, rule, ids = run.db, run.rule, run.ids
    convs, msgs = _index(ids.conversations), _index(ids.messages)
    for reader in rule.readers():
        user = run.user(reader)
        for c, cid in enumerate(ids.conversations):
            conversation = db.get(Conversation, cid)
            for action in Action:
                run.same(
                    f"CONVERSATION {action}",
                    reader,
                    f"conversation {c}",
                    CONVERSATION.allows(db, user, conversation, action),
                    rule.conversation(reader, c, action),
                )
        for n, mid in enumerate(ids.messages):
            message = db.get(Message, mid)
            run.same(
                "MESSAGE view",
                reader,
                f"message {n}",
                MESSAGE.allows(db, user, message, Action.view),
                rule.sees_message(reader, n),
            )
            run.same(
                "MESSAGE change (moderate)",
                reader,
                f"message {n}",
                MESSAGE.allows(db, user, message, Action.change),
                rule.moderates_message(reader, n),
            )

        # The Messages list: its conversations and their unread counts; the navigation's total.
        rows = messages.conversation_rows(db, user=user)
        listed = {convs[r.conversation.id]: r.unread for r in rows}
        mine = {c for c in range(len(ids.conversations)) if rule.conversation(reader, c)}
        run.same("Messages list", reader, "conversations", set(listed), mine)
        for c in mine & set(listed):
            run.same("unread count", reader, f"conversation {c}", listed[c], rule.unread(reader, c))
        run.same(
            "unread total",
            reader,
            "navigation",
            messages.unread_total(db, user),
            sum(rule.unread(reader, c) for c in mine),
        )
        if reader[0] == "p":
            care = next(
                c
                for c, conv in enumerate(world.conversations)
                if conv.kind == ConversationKind.care_team and conv.participant == reader[1]
            )
            run.same(
                "care team unread (Today)",
                reader,
                f"conversation {care}",
                messages.care_team_unread(db, participant=user),
                rule.unread(reader, care),
            )

        for c, cid in enumerate(ids.conversations):
            in_c = {n for n, m in enumerate(world.messages) if m.conversation == c}
            seen = {n for n in in_c if rule.sees_message(reader, n)}
            history = {n for n in in_c if rule.in_history(reader, n)}
            # The room's list as the page builds it (only for those the page opens for).
            if CONVERSATION.allows(db, user, db.get(Conversation, cid)):
                conversation = db.get(Conversation, cid)
                since = messages.history_start(db, conversation=conversation, user=user)
                shown, _more = messages.latest(
                    db, conversation=conversation, reader=user, since=since
                )
                run.same(
                    "room list",
                    reader,
                    f"conversation {c}",
                    {msgs[s.message.id] for s in shown},
                    history,
                )
                words = {
                    msgs[s.message.id] for s in shown if not s.hidden or s.mine or user.is_staff
                }
                run.same("room list, words shown", reader, f"conversation {c}", words, seen)
            # The poll, from the start: None means 404.
            polled = messages.poll(db, conversation_id=cid, after_id=0, reader=user)
            run.same(
                "poll may ask",
                reader,
                f"conversation {c}",
                polled is not None,
                rule.conversation(reader, c),
            )
            if polled is not None:
                run.same(
                    "poll's messages",
                    reader,
                    f"conversation {c}",
                    {msgs[s.message.id] for s in polled},
                    history,
                )

    # A room as its facilitators run it, and their moderation queue of reported messages.
    for reader in rule.readers():
        user = run.user(reader)
        for c, cid in enumerate(ids.conversations):
            conv = world.conversations[c]
            run.same(
                "GROUP_ROOM change",
                reader,
                f"conversation {c}",
                GROUP_ROOM.allows(db, user, db.get(Conversation, cid), Action.change),
                conv.kind == ConversationKind.group and rule.facilitates(reader, conv.group),
            )
        for report in db.exec(select(MessageReport)):
            n = msgs[report.message_id]
            run.same(
                "MESSAGE_REPORT change",
                reader,
                f"report of message {n}",
                MESSAGE_REPORT.allows(db, user, report, Action.change),
                rule.moderates_message(reader, n),
            )
    for reader in run.staff():
        user = run.user(reader)
        queue = {msgs[row.message.id] for row in messages.open_reports(db, staff=user)}
        expected = {
            n
            for n, m in enumerate(world.messages)
            if m.reported and rule.facilitates(reader, world.conversations[m.conversation].group)
        }
        run.same("moderation queue", reader, "messages", queue, expected)
        run.same(
            "moderation count",
            reader,
            "reports",
            messages.open_report_count(db, staff=user),
            len(expected),
        )
        run.subset(
            "moderation queue",
            reader,
            queue,
            {
                n
                for n, mid in enumerate(ids.messages)
                if MESSAGE.allows(db, user, db.get(Message, mid), Action.change)
            },
            lambda n: f"message {n}",
        )

    # Staff read a care-team thread's messages on the participant's timeline.
    for reader in run.staff():
        shown = {
            msgs[int(k.split(":")[1])]
            for k in run.timeline_keys(reader)
            if k.startswith("message:")
        }
        expected = {
            n
            for n, m in enumerate(world.messages)
            if world.conversations[m.conversation].kind == ConversationKind.care_team
            and m.author == ("p", world.conversations[m.conversation].participant)
            and not m.hidden
            and rule.on_caseload(reader, m.author[1])
        }
        run.same("timeline messages", reader, "messages", shown, expected)
        user = run.user(reader)
        run.subset(
            "timeline messages",
            reader,
            shown,
            {
                n
                for n, mid in enumerate(ids.messages)
                if MESSAGE.allows(db, user, db.get(Message, mid))
            },
            lambda n: f"message {n}",
        )

    # Over HTTP, through the quick answer and the app: 404 outside, 204 nothing, 200 messages.
    for reader in [("t", world.http[0]), ("p", world.http[1])]:
        if reader[1] < 0:
            continue
        client = run.app.test_client()
        signed = client.post_form(
            "/sign-in", {"email": run.user(reader).email, "password": PASSWORD}
        )
        assert signed.status_code == 303, signed.status_code
        for c, cid in enumerate(ids.conversations):
            history = [
                n
                for n, m in enumerate(world.messages)
                if m.conversation == c and rule.in_history(reader, n)
            ]
            expected = 404 if not rule.conversation(reader, c) else 200 if history else 204
            status = client.get(f"/messages/{cid}/poll?after=0").status_code
            run.same("GET poll?after=0", reader, f"conversation {c}", status, expected)
    run.done()


@BOUNDED
@given(world=worlds())
def test_journal_entries(run_world, world):
    run = run_world(world)
    db, rule, ids = run.db, run.rule, run.ids
    entries = _index(ids.entries)
    for reader in rule.readers():
        user = run.user(reader)
        for e, eid in enumerate(ids.entries):
            entry = db.get(JournalEntry, eid)
            for action in Action:
                run.same(
                    f"JOURNAL_ENTRY {action}",
                    reader,
                    f"entry {e}",
                    JOURNAL_ENTRY.allows(db, user, entry, action),
                    rule.entry(reader, e),
                )
    for reader in run.participants():
        listed, total = journal.list_entries(db, user=run.user(reader), filters=journal.Filters())
        own = {e for e in range(len(ids.entries)) if rule.entry(reader, e)}
        run.same("Journal list", reader, "entries", {entries[x.id] for x in listed}, own)
        run.same("Journal list total", reader, "entries", total, len(own))
    for reader in run.staff():
        shared = set()
        for person in run.records_of(reader):
            shared |= {entries[x.id] for x in journal.shared_entries(db, participant_id=person.id)}
        run.same(
            "participant page, shared entries",
            reader,
            "entries",
            shared,
            {
                e
                for e, entry in enumerate(world.entries)
                if entry.shared and rule.on_caseload(reader, entry.author)
            },
        )
        shown = {
            entries[int(k.split(":")[1])]
            for k in run.timeline_keys(reader)
            if k.startswith("journal:")
        }
        run.same(
            "timeline journal",
            reader,
            "entries",
            shown,
            {e for e in range(len(ids.entries)) if rule.entry_on_timeline(reader, e)},
        )
    run.done()


@BOUNDED
@given(world=worlds())
def test_therapy_sessions_and_guests(run_world, world):
    run = run_world(world)
    db, rule, ids = run.db, run.rule, run.ids
    sessions = _index(ids.sessions)
    now = utcnow()
    for reader in rule.readers():
        user = run.user(reader)
        allowed = set()
        for s, sid in enumerate(ids.sessions):
            found = db.get(TherapySession, sid)
            for action in Action:
                says = THERAPY_SESSION.allows(db, user, found, action)
                run.same(
                    f"THERAPY_SESSION {action}",
                    reader,
                    f"session {s}",
                    says,
                    rule.session(reader, s),
                )
                if says and action == Action.view:
                    allowed.add(s)
        for s, gid in ids.guests.items():
            run.same(
                "FAMILY_GUEST change",
                reader,
                f"guest of session {s}",
                FAMILY_GUEST.allows(db, user, db.get(FamilyGuest, gid), Action.change),
                reader[0] == "t" and rule.session(reader, s),
            )
        if reader[0] == "p":
            mine = {s for s in range(len(ids.sessions)) if rule.session(reader, s)}
            run.same(
                "Sessions list (for_participant)",
                reader,
                "sessions",
                {sessions[x.id] for x in therapy.for_participant(db, participant=user)},
                mine,
            )
            upcoming, past = therapy.upcoming_and_past(db, participant=user, now=now)
            run.same(
                "Sessions page", reader, "sessions", {sessions[x.id] for x in upcoming + past}, mine
            )
    run.done()


@BOUNDED
@given(world=worlds())
def test_practice_checkins(run_world, world):
    run = run_world(world)
    db, rule, ids = run.db, run.rule, run.ids
    tasks, done, answers = _index(ids.tasks), _index(ids.completions), _index(ids.answers)
    for reader in rule.readers():
        user = run.user(reader)
        for t, tid in enumerate(ids.tasks):
            for action in Action:
                run.same(
                    f"ASSIGNMENT {action}",
                    reader,
                    f"assignment {t}",
                    ASSIGNMENT.allows(db, user, db.get(Assignment, tid), action),
                    rule.task(reader, t, action),
                )
        for c, cid in enumerate(ids.completions):
            run.same(
                "COMPLETION view",
                reader,
                f"completion {c}",
                COMPLETION.allows(db, user, db.get(Completion, cid)),
                rule.completion(reader, c),
            )
        for a, aid in enumerate(ids.answers):
            run.same(
                "ANSWER view",
                reader,
                f"answer {a}",
                ANSWER.allows(db, user, db.get(CheckinAnswer, aid)),
                rule.answer(reader, a),
            )
    day = (at(48)).date()
    for reader in run.participants():
        user = run.user(reader)
        mine = {t for t in range(len(ids.tasks)) if rule.task(reader, t, Action.view)}
        every = practice.assignments_for(db, participant=user, include_ended=True)
        run.same(
            "Practice (all)", reader, "assignments", {tasks[x.assignment.id] for x in every}, mine
        )
        current = practice.assignments_for(db, participant=user)
        run.same(
            "Practice (current)",
            reader,
            "assignments",
            {tasks[x.assignment.id] for x in current},
            {t for t in mine if world.tasks[t].status != AssignmentStatus.ended},
        )
        found = practice.completions_for(
            db, participant_id=user.id, start=day - timedelta(days=30), end=day
        )
        run.same(
            "Practice completions",
            reader,
            "completions",
            {done[x.id] for x in found.values()},
            {c for c in range(len(ids.completions)) if rule.completion(reader, c)},
        )
        series = checkins.history(db, participant_id=user.id)
        run.same(
            "Check-ins history",
            reader,
            "answers",
            {answers[a.id] for s in series for a in s.answers},
            {a for a in range(len(ids.answers)) if rule.answer(reader, a)},
        )
    for reader in run.staff():
        user = run.user(reader)
        completed, answered = set(), set()
        for person in run.records_of(reader):
            found = practice.completions_for(
                db, participant_id=person.id, start=day - timedelta(days=30), end=day
            )
            completed |= {done[x.id] for x in found.values()}
            answered |= {
                answers[a.id]
                for s in checkins.history(db, participant_id=person.id)
                for a in s.answers
            }
        run.same(
            "participant page, completions",
            reader,
            "completions",
            completed,
            {c for c in range(len(ids.completions)) if rule.completion(reader, c)},
        )
        run.same(
            "participant page, check-ins",
            reader,
            "answers",
            answered,
            {a for a in range(len(ids.answers)) if rule.answer(reader, a)},
        )
        keys = run.timeline_keys(reader)
        run.same(
            "timeline check-ins",
            reader,
            "answers",
            {answers[int(k.split(":")[1])] for k in keys if k.startswith("checkin:")},
            {a for a in range(len(ids.answers)) if rule.answer(reader, a)},
        )
        run.same(
            "timeline completions",
            reader,
            "completions",
            {done[int(k.split(":")[1])] for k in keys if k.startswith("completion:")},
            {c for c in range(len(ids.completions)) if rule.completion(reader, c)},
        )
    run.done()


@BOUNDED
@given(world=worlds())
def test_staff_pages_link_only_what_opens(run_world, world):
    """What a therapist's pages list of sessions and practice opens for them (the object check):
    their Sessions list, and a participant's page (sessions, practice)."""
    run = run_world(world)
    db, ids = run.db, run.ids
    sessions, tasks = _index(ids.sessions), _index(ids.tasks)
    opened = {}
    for reader in run.staff():
        user = run.user(reader)
        opens = {
            s
            for s, sid in enumerate(ids.sessions)
            if THERAPY_SESSION.allows(db, user, db.get(TherapySession, sid))
        }
        assigned = {
            t
            for t, tid in enumerate(ids.tasks)
            if ASSIGNMENT.allows(db, user, db.get(Assignment, tid))
        }
        opened[reader] = (opens, assigned)
    # The therapist's own Sessions list, over HTTP: every session it links to opens for them.
    reader = ("t", world.http[0])
    user = run.user(reader)
    client = run.app.test_client()
    signed = client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    assert signed.status_code == 303
    # A participant's page shows their sessions and practice (their groups' too, as their
    # record) and links each only where the object check opens it for this therapist.
    opens, assigned = opened[reader]
    for person in run.records_of(reader):
        page = client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True)
        on_page = {sessions[int(x)] for x in re.findall(r"/dashboard/sessions/(\d+)[\"#]", page)}
        practised = {tasks[int(x)] for x in re.findall(r"/dashboard/assignments/(\d+)\"", page)}
        run.subset("participant page, sessions", reader, on_page, opens, lambda s: f"session {s}")
        run.subset(
            "participant page, practice", reader, practised, assigned, lambda t: f"assignment {t}"
        )
    page = client.get("/dashboard/sessions").get_data(as_text=True)
    linked = {sessions[int(x)] for x in re.findall(r"/dashboard/sessions/(\d+)[\"#]", page)}
    run.subset(
        "Sessions (therapist's list)",
        reader,
        linked,
        {
            s
            for s, sid in enumerate(ids.sessions)
            if THERAPY_SESSION.allows(db, user, db.get(TherapySession, sid))
        },
        lambda s: f"session {s}",
    )
    run.done()
