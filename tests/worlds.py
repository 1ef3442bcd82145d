"""Whole small programs for the property test of the access rules (tests/test_access_property.py).

`worlds()` is a hypothesis strategy for a `World`: a plain description of a program (therapists,
participants and their status, caseloads, groups with facilitators and join times, the
conversations and their messages, journal entries, sessions and guests, check-in answers,
practice, care flags). Everything in it is an index into the world's own lists and an hour
offset from `T0`, so a counterexample reads as a story. `build(db, world)` writes it straight
into the tables through the models, in one transaction, and returns the ids (`Built`).

The rules the test checks the app against are NOT here: see `Oracle` in the test module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from iop_pwa.accounts.models import (
    CareTeamLink,
    Group,
    GroupKind,
    GroupMembership,
    ParticipantStatus,
    Role,
    TotpFactor,
    User,
)
from iop_pwa.checkins.models import CheckinAnswer, Questionnaire
from iop_pwa.journal.models import JournalEntry
from iop_pwa.messages.models import (
    Block,
    Conversation,
    ConversationKind,
    Message,
    MessageReport,
    Mute,
    ReadCursor,
)
from iop_pwa.practice.models import Assignment, AssignmentStatus, Completion, Exercise, Schedule
from iop_pwa.safety import CareFlag
from iop_pwa.therapy.models import FamilyGuest, SessionKind, TherapySession

# Every moment of a world is T0 plus some hours: T0 is three days ago (on the hour), so a world
# has a past, a present and a future, and the therapist's session list (the last 14 days on)
# shows all of it.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
HOURS = 72  # up to now: what has been written has been written by now
ZONES = ("America/New_York", "Asia/Tokyo", "UTC")


def at(hours: int, minutes: int = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes)


@dataclass
class Person:
    status: ParticipantStatus
    zone: str


@dataclass
class Msg:
    conversation: int  # index into World.conversations
    author: tuple[str, int]  # ("t", i) a therapist, ("p", i) a participant
    hour: int
    hidden: bool
    reported: bool = False  # a member reported it (the other peer in a direct conversation)


@dataclass
class Conv:
    kind: ConversationKind
    participant: int | None = None  # care team
    group: int | None = None  # group room, or the group a direct conversation started in
    peers: tuple[int, int] | None = None  # direct


@dataclass
class Entry:
    author: int
    kind: str  # "entry" or "checkin"
    shared: bool
    hour: int


@dataclass
class Sess:
    kind: SessionKind
    therapist: int
    participant: int | None
    group: int | None
    hour: int
    cancelled: bool
    guest: bool = False


@dataclass
class Task:
    therapist: int
    participant: int | None
    group: int | None
    status: AssignmentStatus


@dataclass
class World:
    therapists: int
    people: list[Person]
    groups: list[GroupKind]
    caseload: set[tuple[int, int]]  # (therapist, participant)
    facilitates: set[tuple[int, int]]  # (therapist, group)
    joined: dict[tuple[int, int], int]  # (participant, group) -> hour of their latest join
    conversations: list[Conv]
    messages: list[Msg]
    cursors: dict[tuple[str, int, int], int]  # (role, person, conversation) -> read up to nth msg
    blocks: set[tuple[int, int]]
    mutes: set[tuple[int, int]]  # (conversation, participant)
    entries: list[Entry]
    sessions: list[Sess]
    answers: list[tuple[int, int]]  # (participant, hour)
    tasks: list[Task]
    completions: list[tuple[int, int]]  # (task, participant)
    flags: list[tuple[int, bool]]  # (participant, seen)
    http: tuple[int, int] = (0, 0)  # (therapist, participant) who also ask over HTTP

    def conversations_of(self, kind: ConversationKind) -> list[int]:
        return [i for i, c in enumerate(self.conversations) if c.kind == kind]

    def __repr__(self) -> str:
        """The world as a short story (hypothesis prints it for a counterexample): t0 is
        therapist 0, p1 participant 1, g0 group 0, c3 conversation 3 (each participant's care
        team thread comes first, then each group's room, then direct conversations), h5 is
        five hours after T0 (now is h72)."""

        def who(person: tuple[str, int]) -> str:
            return f"{person[0]}{person[1]}"

        def conv(c: int) -> str:
            x = self.conversations[c]
            if x.kind == ConversationKind.care_team:
                return f"c{c}(care team of p{x.participant})"
            if x.kind == ConversationKind.group:
                return f"c{c}(room of g{x.group})"
            return f"c{c}(direct p{x.peers[0]}-p{x.peers[1]} from g{x.group})"

        lines = [
            f"{self.therapists} therapists",
            "people: " + ", ".join(f"p{p} {x.status} {x.zone}" for p, x in enumerate(self.people)),
            "groups: " + ", ".join(f"g{g} {k}" for g, k in enumerate(self.groups)),
            "caseload: " + ", ".join(f"t{t}-p{p}" for t, p in sorted(self.caseload)),
            "facilitates: " + ", ".join(f"t{t}-g{g}" for t, g in sorted(self.facilitates)),
            "joined (latest): "
            + ", ".join(f"p{p} g{g} h{h}" for (p, g), h in sorted(self.joined.items())),
            "conversations: " + ", ".join(conv(c) for c in range(len(self.conversations))),
            "messages: "
            + ", ".join(
                f"m{n} in c{m.conversation} by {who(m.author)} h{m.hour}"
                + (" hidden" if m.hidden else "")
                + (" reported" if m.reported else "")
                for n, m in enumerate(self.messages)
            ),
            "read cursors: "
            + ", ".join(f"{r}{p} c{c} up to #{k}" for (r, p, c), k in sorted(self.cursors.items())),
            "blocks: " + ", ".join(f"p{a} blocks p{b}" for a, b in sorted(self.blocks)),
            "mutes: " + ", ".join(f"p{p} in c{c}" for c, p in sorted(self.mutes)),
            "journal: "
            + ", ".join(
                f"e{n} by p{e.author} {e.kind}{' shared' if e.shared else ''} h{e.hour}"
                for n, e in enumerate(self.entries)
            ),
            "sessions: "
            + ", ".join(
                f"s{n} {s.kind} by t{s.therapist} for "
                + (f"p{s.participant}" if s.participant is not None else f"g{s.group}")
                + f" h{s.hour}"
                + (" cancelled" if s.cancelled else "")
                + (" +guest" if s.guest else "")
                for n, s in enumerate(self.sessions)
            ),
            "check-in answers: "
            + ", ".join(f"a{n} by p{p} h{h}" for n, (p, h) in enumerate(self.answers)),
            "assignments: "
            + ", ".join(
                f"a{n} by t{x.therapist} for "
                + (f"p{x.participant}" if x.participant is not None else f"g{x.group}")
                + f" {x.status}"
                for n, x in enumerate(self.tasks)
            ),
            "completions: " + ", ".join(f"of a{t} by p{p}" for t, p in self.completions),
            "care flags: "
            + ", ".join(
                f"f{n} p{p}{' seen' if seen else ''}" for n, (p, seen) in enumerate(self.flags)
            ),
            f"over HTTP: t{self.http[0]}, p{self.http[1]}",
        ]
        return "World(\n  " + "\n  ".join(line for line in lines if not line.endswith(": ")) + ")"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def _pick(draw, options):
    return options[draw(st.integers(0, len(options) - 1))] if options else None


@st.composite
def worlds(draw) -> World:
    therapists = draw(st.integers(2, 3))
    people = [
        Person(
            draw(
                st.sampled_from(
                    [ParticipantStatus.active] * 3
                    + [ParticipantStatus.alumni, ParticipantStatus.deactivated]
                )
            ),
            draw(st.sampled_from(ZONES)),
        )
        for _ in range(draw(st.integers(3, 5)))
    ]
    groups = [
        draw(st.sampled_from([GroupKind.cohort, GroupKind.cohort, GroupKind.alumni]))
        for _ in range(draw(st.integers(1, 3)))
    ]
    caseload = {
        (t, p) for t in range(therapists) for p in range(len(people)) if draw(st.booleans())
    }
    facilitates = {
        (t, g) for t in range(therapists) for g in range(len(groups)) if draw(st.booleans())
    }
    # Membership as discharge and re-admission leave it: cohorts for people in the program,
    # alumni groups for alumni, none for the deactivated; the hour is their latest join.
    joined = {}
    for p, person in enumerate(people):
        for g, kind in enumerate(groups):
            fits = person.status != ParticipantStatus.deactivated and (
                kind == GroupKind.alumni
            ) == (person.status == ParticipantStatus.alumni)
            if fits and draw(st.booleans()):
                joined[(p, g)] = draw(st.integers(0, HOURS))

    conversations = [Conv(ConversationKind.care_team, participant=p) for p in range(len(people))]
    conversations += [Conv(ConversationKind.group, group=g) for g in range(len(groups))]
    for _ in range(draw(st.integers(0, 2))):
        a, b = sorted(
            draw(st.lists(st.integers(0, len(people) - 1), min_size=2, max_size=2, unique=True))
        )
        g = draw(st.integers(0, len(groups) - 1))
        if all(c.peers != (a, b) or c.group != g for c in conversations):
            conversations.append(Conv(ConversationKind.direct, group=g, peers=(a, b)))

    everyone = [("t", t) for t in range(therapists)] + [("p", p) for p in range(len(people))]
    messages = []
    for _ in range(draw(st.integers(0, 10))):
        c = draw(st.integers(0, len(conversations) - 1))
        conv = conversations[c]
        if conv.kind == ConversationKind.care_team:
            authors = [("p", conv.participant)] + [("t", t) for t in range(therapists)]
        elif conv.kind == ConversationKind.direct:
            authors = [("p", conv.peers[0]), ("p", conv.peers[1])]
        else:  # anyone who is or once was in the room
            authors = everyone
        hidden = conv.kind != ConversationKind.care_team and draw(st.booleans())
        reported = conv.kind != ConversationKind.care_team and draw(st.booleans())
        messages.append(Msg(c, _pick(draw, authors), draw(st.integers(0, HOURS)), hidden, reported))
    messages.sort(key=lambda m: m.hour)  # ids grow with time, as they do when people post

    cursors = {}
    for _ in range(draw(st.integers(0, 3))):
        who = _pick(draw, everyone)
        c = draw(st.integers(0, len(conversations) - 1))
        cursors[(who[0], who[1], c)] = draw(st.integers(0, len(messages)))

    blocks = set()
    mutes = set()
    for conv_index in range(len(conversations)):
        conv = conversations[conv_index]
        if conv.kind == ConversationKind.direct and draw(st.booleans()):
            blocks.add(conv.peers if draw(st.booleans()) else conv.peers[::-1])
        if conv.kind == ConversationKind.group and draw(st.booleans()):
            mutes.add((conv_index, draw(st.integers(0, len(people) - 1))))

    entries = [
        Entry(
            draw(st.integers(0, len(people) - 1)),
            draw(st.sampled_from(["entry", "entry", "checkin"])),
            draw(st.booleans()),
            draw(st.integers(0, HOURS)),
        )
        for _ in range(draw(st.integers(0, 6)))
    ]

    sessions = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(list(SessionKind)))
        therapist = draw(st.integers(0, therapists - 1))
        if kind == SessionKind.group:
            participant, group = None, draw(st.integers(0, len(groups) - 1))
        else:
            participant, group = draw(st.integers(0, len(people) - 1)), None
        sessions.append(
            Sess(
                kind,
                therapist,
                participant,
                group,
                draw(st.integers(-24, HOURS + 48)),  # sessions to come too
                draw(st.booleans()),
                kind == SessionKind.family and draw(st.booleans()),
            )
        )

    answers = [
        (draw(st.integers(0, len(people) - 1)), draw(st.integers(0, HOURS)))
        for _ in range(draw(st.integers(0, 4)))
    ]

    tasks = []
    for _ in range(draw(st.integers(0, 5))):
        therapist = draw(st.integers(0, therapists - 1))
        if draw(st.booleans()):
            participant, group = draw(st.integers(0, len(people) - 1)), None
        else:
            participant, group = None, draw(st.integers(0, len(groups) - 1))
        status = draw(st.sampled_from(list(AssignmentStatus)))
        tasks.append(Task(therapist, participant, group, status))
    completions = []
    for t, task in enumerate(tasks):
        if task.participant is not None:
            doers = [task.participant]
        else:
            doers = [p for (p, g) in joined if g == task.group]
        if doers and draw(st.booleans()):
            completions.append((t, _pick(draw, doers)))

    flags = [
        (draw(st.integers(0, len(people) - 1)), draw(st.booleans()))
        for _ in range(draw(st.integers(0, 4)))
    ]
    signers = [
        p for p, person in enumerate(people) if person.status != ParticipantStatus.deactivated
    ]
    http = (draw(st.integers(0, therapists - 1)), _pick(draw, signers) if signers else -1)
    return World(
        therapists,
        people,
        groups,
        caseload,
        facilitates,
        joined,
        conversations,
        messages,
        cursors,
        blocks,
        mutes,
        entries,
        sessions,
        answers,
        tasks,
        completions,
        flags,
        http,
    )


# --- Writing a world into the database ----------------------------------------------------------


@dataclass
class Built:
    """The ids the database gave each thing of a world, in the world's order."""

    therapists: list[int] = field(default_factory=list)
    people: list[int] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    conversations: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)
    guests: dict[int, int] = field(default_factory=dict)  # session index -> guest id
    answers: list[int] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)
    completions: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)

    def person(self, who: tuple[str, int]) -> int:
        return (self.therapists if who[0] == "t" else self.people)[who[1]]


_serial = [0]


def build(db, world: World, password_hash: str, totp_secret: str) -> Built:
    """Write `world` into the tables (one transaction, timestamps set explicitly)."""
    _serial[0] += 1
    run = _serial[0]
    out = Built()

    def add(row):
        db.add(row)
        db.flush()
        return row.id

    for t in range(world.therapists):
        user_id = add(
            User(
                email=f"t{t}.w{run}@example.test",
                name=f"Therapist {t}",
                password_hash=password_hash,
                role=Role.therapist,
                created_at=at(-48),
            )
        )
        db.add(TotpFactor(user_id=user_id, secret=totp_secret, confirmed_at=at(-48)))
        out.therapists.append(user_id)
    for p, person in enumerate(world.people):
        out.people.append(
            add(
                User(
                    email=f"p{p}.w{run}@example.test",
                    name=f"Participant {p}",
                    password_hash=password_hash,
                    role=Role.participant,
                    status=person.status,
                    timezone=person.zone,
                    created_at=at(-48),
                    discharged_on=(
                        date(2026, 1, 5) if person.status == ParticipantStatus.alumni else None
                    ),
                )
            )
        )
    for g, kind in enumerate(world.groups):
        out.groups.append(add(Group(name=f"Group {g}", kind=kind, created_at=at(-48))))
    for t, p in sorted(world.caseload):
        db.add(CareTeamLink(therapist_id=out.therapists[t], participant_id=out.people[p]))
    for t, g in sorted(world.facilitates):
        db.add(
            GroupMembership(
                group_id=out.groups[g],
                user_id=out.therapists[t],
                is_facilitator=True,
                joined_at=at(-48),
            )
        )
    for (p, g), hour in sorted(world.joined.items()):
        db.add(GroupMembership(group_id=out.groups[g], user_id=out.people[p], joined_at=at(hour)))

    for conv in world.conversations:
        if conv.kind == ConversationKind.care_team:
            key, fields = (
                f"care:{out.people[conv.participant]}",
                {"participant_id": out.people[conv.participant]},
            )
        elif conv.kind == ConversationKind.group:
            key, fields = f"group:{out.groups[conv.group]}", {"group_id": out.groups[conv.group]}
        else:
            a, b = sorted((out.people[conv.peers[0]], out.people[conv.peers[1]]))
            key = f"direct:{out.groups[conv.group]}:{a}:{b}"
            fields = {"group_id": out.groups[conv.group], "peer_a_id": a, "peer_b_id": b}
        out.conversations.append(
            add(Conversation(key=key, kind=conv.kind, created_at=at(-48), **fields))
        )
    for n, m in enumerate(world.messages):
        moment = at(m.hour, minutes=n % 60)
        author = out.person(m.author)
        message_id = add(
            Message(
                conversation_id=out.conversations[m.conversation],
                author_id=author,
                client_id=f"m{n}",
                body=f"message {n}",
                written_at=moment,
                received_at=moment,
                hidden_at=moment + timedelta(minutes=1) if m.hidden else None,
            )
        )
        out.messages.append(message_id)
        conv = world.conversations[m.conversation]
        if m.reported:
            if conv.kind == ConversationKind.direct:
                other = conv.peers[1] if m.author == ("p", conv.peers[0]) else conv.peers[0]
            else:
                other = 1 if m.author == ("p", 0) else 0
            db.add(
                MessageReport(message_id=message_id, reporter_id=out.people[other], reason="unkind")
            )
    for c in range(len(world.conversations)):
        last = [m.hour for m in world.messages if m.conversation == c]
        if last:
            row = db.get(Conversation, out.conversations[c])
            n = max(i for i, m in enumerate(world.messages) if m.conversation == c)
            row.last_message_at = at(world.messages[n].hour, minutes=n % 60)
    for (role, who, c), nth in sorted(world.cursors.items()):
        ids = [out.messages[i] for i, m in enumerate(world.messages) if m.conversation == c]
        if ids and nth:
            db.add(
                ReadCursor(
                    conversation_id=out.conversations[c],
                    user_id=out.person((role, who)),
                    last_read_id=ids[min(nth, len(ids)) - 1],
                )
            )
    for a, b in sorted(world.blocks):
        db.add(Block(blocker_id=out.people[a], blocked_id=out.people[b]))
    for c, p in sorted(world.mutes):
        db.add(
            Mute(conversation_id=out.conversations[c], user_id=out.people[p], until=at(HOURS + 24))
        )

    for n, e in enumerate(world.entries):
        moment = at(e.hour)
        out.entries.append(
            add(
                JournalEntry(
                    user_id=out.people[e.author],
                    client_id=f"j{n}",
                    kind=e.kind,
                    mood=3,
                    body="" if e.kind == "checkin" else f"entry {n}",
                    shared=e.shared,
                    local_date=moment.date(),
                    written_at=moment,
                    received_at=moment,
                )
            )
        )

    for n, s in enumerate(world.sessions):
        session_id = add(
            TherapySession(
                therapist_id=out.therapists[s.therapist],
                kind=s.kind,
                title=f"Session {n}",
                starts_at=at(s.hour),
                duration_minutes=60,
                video_url="https://zoom.us/j/1",
                participant_id=None if s.participant is None else out.people[s.participant],
                group_id=None if s.group is None else out.groups[s.group],
                cancelled_at=at(s.hour - 2) if s.cancelled else None,
                created_at=at(-48),
            )
        )
        out.sessions.append(session_id)
        if s.guest:
            out.guests[n] = add(
                FamilyGuest(session_id=session_id, name="Guest", token_hash=f"g{run}-{n}")
            )

    if world.answers:
        questionnaire = add(
            Questionnaire(
                title="Weekly", questions="How was your week?", owner_id=out.therapists[0]
            )
        )
        for n, (p, hour) in enumerate(world.answers):
            moment = at(hour)
            out.answers.append(
                add(
                    CheckinAnswer(
                        participant_id=out.people[p],
                        questionnaire_id=questionnaire,
                        client_id=f"a{n}",
                        due_on=T0.date() + timedelta(days=n),
                        answers="1",
                        score=1,
                        local_date=moment.date(),
                        answered_at=moment,
                    )
                )
            )

    if world.tasks:
        exercise = add(
            Exercise(
                slug=f"walk-{run}",
                title="Walk",
                skill="mindfulness",
                why="Why.",
                steps="1. Walk.",
            )
        )
        for t in world.tasks:
            out.tasks.append(
                add(
                    Assignment(
                        exercise_id=exercise,
                        therapist_id=out.therapists[t.therapist],
                        participant_id=None if t.participant is None else out.people[t.participant],
                        group_id=None if t.group is None else out.groups[t.group],
                        schedule=Schedule.daily,
                        start_date=T0.date(),
                        status=t.status,
                        created_at=at(-48),
                    )
                )
            )
        for n, (t, p) in enumerate(world.completions):
            out.completions.append(
                add(
                    Completion(
                        assignment_id=out.tasks[t],
                        participant_id=out.people[p],
                        client_id=f"c{n}",
                        local_date=(T0 + timedelta(days=2)).date(),
                        done_at=at(48),
                    )
                )
            )

    for n, (p, seen) in enumerate(world.flags):
        out.flags.append(
            add(
                CareFlag(
                    participant_id=out.people[p],
                    reason="crisis_language",
                    source_type="journal_entry",
                    raised_at=at(n),
                    seen_at=at(n + 1) if seen else None,
                )
            )
        )
    db.commit()
    return out
