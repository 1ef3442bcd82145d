"""What the therapist's dashboard shows: the caseload sorted by need, a participant's timeline.

Each function runs a fixed number of queries however large the caseload is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import url_for
from sqlmodel import Session, col, select

from iop_pwa.accounts import services as accounts
from iop_pwa.accounts.models import (
    Group,
    GroupMembership,
    Invitation,
    ParticipantStatus,
    User,
)
from iop_pwa.db import utcnow
from iop_pwa.features import (
    RANK_QUIET,
    RANK_SAFETY,
    CaseloadColumn,
    Fact,
    Need,
    NeedSource,
    TimelineEntry,
    TimelineSource,
    registry,
)
from iop_pwa.safety import CareFlag, open_flags_for

# A participant who has not opened the app for this long needs attention.
QUIET_AFTER = timedelta(days=3)
TIMELINE_PAGE = 20  # entries per page of a participant's timeline


@dataclass
class CaseloadRow:
    participant: User
    groups: list[str] = field(default_factory=list)
    flags: list[CareFlag] = field(default_factory=list)  # open safety flags, newest first
    needs: list[Need] = field(default_factory=list)  # most urgent first
    facts: dict[str, Fact] = field(default_factory=dict)  # by column key

    @property
    def quiet_days(self) -> int | None:
        """Whole days since the participant last used the app (None: never signed in)."""
        if self.participant.last_seen_at is None:
            return None
        return (utcnow() - self.participant.last_seen_at).days

    @property
    def rank(self) -> int | None:
        """The most urgent need's rank (None: nothing needs attention)."""
        return self.needs[0].rank if self.needs else None

    @property
    def needs_attention(self) -> bool:
        return bool(self.needs)


def flag_words(flag: CareFlag, *, timeline: bool = False) -> str:
    """What a flag is about, without the words (`CareFlag.words`): "Crisis language in a
    message", "PHQ-9 item 9 (...) above 0 in a check-in answer"; on the timeline after "Safety
    flag: "."""
    words = flag.words
    if not timeline:
        return words
    return "Safety flag: " + (words[0].lower() + words[1:] if words.startswith("Crisis") else words)


def _safety_needs(*, db: Session, participants: list[User], now: datetime) -> list[Need]:
    """Core's first reason: open safety flags (one query), in words without the words."""
    found = []
    for participant_id, flags in open_flags_for(db, [p.id for p in participants]).items():
        reason = "; ".join(dict.fromkeys(flag_words(f) for f in flags))
        if len(flags) > 1:
            reason += f" ({len(flags)} open)"
        found.append(Need(participant_id, RANK_SAFETY, reason, flags[-1].raised_at))
    return found


def _quiet_needs(*, db: Session, participants: list[User], now: datetime) -> list[Need]:
    """Core: active participants who have not used the app for 3+ days, or never signed in.
    No query: `last_seen_at` is on the row."""
    found = []
    for person in participants:
        if person.status != ParticipantStatus.active:
            continue
        seen = person.last_seen_at
        if seen is None:
            found.append(Need(person.id, RANK_QUIET, "Has not signed in yet"))
        elif now - seen > QUIET_AFTER:
            found.append(
                Need(person.id, RANK_QUIET, f"No activity for {(now - seen).days} days", seen)
            )
    return found


CORE_NEEDS = (NeedSource("safety", _safety_needs), NeedSource("quiet", _quiet_needs))


@dataclass
class Caseload:
    # In the program (and deactivated), sorted by need; alumni with an open safety flag too:
    # every open flag belongs in the top tier, whoever raised it.
    active: list[CaseloadRow]
    alumni: list[CaseloadRow]  # after discharge, with no open safety flag, sorted by need
    active_columns: list[CaseloadColumn]
    alumni_columns: list[CaseloadColumn]

    @property
    def alumni_count(self) -> int:
        """Everyone discharged to alumni, in either list."""
        return sum(
            r.participant.status == ParticipantStatus.alumni for r in (*self.active, *self.alumni)
        )

    def columns_for(self, row: CaseloadRow) -> list[CaseloadColumn]:
        """A row's columns are those of its person's status, whichever list it is in."""
        alumni = row.participant.status == ParticipantStatus.alumni
        return self.alumni_columns if alumni else self.active_columns


def _by_need(rows: list[CaseloadRow]) -> list[CaseloadRow]:
    """People with a need first, most urgent rank first (the longest-standing need first within
    a rank), then everyone else by name (the caseload's own order)."""

    def key(row: CaseloadRow):
        if not row.needs:
            return (1, 0, 0.0)
        since = row.needs[0].since
        return (0, row.rank, since.timestamp() if since else float("-inf"))

    return sorted(rows, key=key)


def caseload(db: Session, therapist_id: int) -> list[CaseloadRow]:
    """The therapist's participants with their groups and open flags: three queries."""
    participants = accounts.caseload(db, therapist_id)
    rows = {p.id: CaseloadRow(p) for p in participants}
    if rows:
        memberships = db.exec(
            select(GroupMembership.user_id, Group.name)
            .join(Group, col(Group.id) == GroupMembership.group_id)
            .where(col(GroupMembership.user_id).in_(list(rows)))
            .order_by(Group.name)
        ).all()
        for user_id, name in memberships:
            rows[user_id].groups.append(name)
        for user_id, flags in open_flags_for(db, list(rows)).items():
            rows[user_id].flags = flags
    return list(rows.values())


def needs_of(db: Session, person: User, now: datetime | None = None) -> list[Need]:
    """Why one participant needs attention, most urgent first (for their page)."""
    now = now or utcnow()
    found = [
        need
        for source in (*CORE_NEEDS, *registry().need_sources)
        for need in source.needs(db=db, participants=[person], now=now)
        if need.participant_id == person.id
    ]
    return sorted(found, key=lambda n: n.rank)


def sorted_caseload(db: Session, therapist_id: int, now: datetime | None = None) -> Caseload:
    """The caseload sorted by need, each row with its reasons and its columns' facts: a fixed
    number of queries (one for the caseload, then one or two per registered source and column)
    however many participants there are."""
    now = now or utcnow()
    participants = accounts.caseload(db, therapist_id)
    rows = {p.id: CaseloadRow(p) for p in participants}
    found = registry()
    active_columns = found.caseload_columns("active")
    alumni_columns = found.caseload_columns("alumni")
    if rows:
        for source in (*CORE_NEEDS, *found.need_sources):
            for need in source.needs(db=db, participants=participants, now=now):
                if need.participant_id in rows:
                    rows[need.participant_id].needs.append(need)
        for row in rows.values():
            row.needs.sort(key=lambda n: n.rank)
        alumni = [p for p in participants if p.status == ParticipantStatus.alumni]
        others = [p for p in participants if p.status != ParticipantStatus.alumni]
        for people, columns in ((others, active_columns), (alumni, alumni_columns)):
            if not people:
                continue
            for column in columns:
                for participant_id, fact in column.facts(
                    db=db, participants=people, now=now
                ).items():
                    if participant_id in rows:
                        rows[participant_id].facts[column.key] = fact
    everyone = list(rows.values())

    def in_alumni_list(row: CaseloadRow) -> bool:
        return row.participant.status == ParticipantStatus.alumni and row.rank != RANK_SAFETY

    return Caseload(
        active=_by_need([r for r in everyone if not in_alumni_list(r)]),
        alumni=_by_need([r for r in everyone if in_alumni_list(r)]),
        active_columns=active_columns,
        alumni_columns=alumni_columns,
    )


# --- The participant's timeline ----------------------------------------------------------------


def _flag_entries(*, db: Session, person: User, before: datetime, limit: int):
    """Core's part of the timeline: safety flags, open ones with "Mark seen" (one query)."""
    flags = db.exec(
        select(CareFlag)
        .where(CareFlag.participant_id == person.id, CareFlag.raised_at < before)
        .order_by(col(CareFlag.raised_at).desc(), col(CareFlag.id).desc())
        .limit(limit)
    ).all()
    return [
        TimelineEntry(
            at=flag.raised_at,
            kind="flag",
            key=f"flag:{flag.id}",
            title=flag_words(flag, timeline=True) + (" (seen)" if flag.seen_at else ""),
            action_label=None if flag.seen_at else "Mark seen",
            action_url=None if flag.seen_at else url_for("dashboard.flag_seen", flag_id=flag.id),
        )
        for flag in flags
    ]


CORE_TIMELINE = (TimelineSource("flags", _flag_entries),)


@dataclass
class TimelinePage:
    entries: list[TimelineEntry]
    older: datetime | None  # `before` for the next page (None: nothing older)


def timeline(
    db: Session, *, person: User, before: datetime | None = None, limit: int = TIMELINE_PAGE
) -> TimelinePage:
    """A page of the participant's timeline, newest first: each source asked for `limit` entries
    before `before` (one query each, however long the history), merged, cut at `limit`. A cut
    never splits entries of the same moment: those all come on the next page."""
    before = before or utcnow() + timedelta(days=1)
    merged: list[TimelineEntry] = []
    for source in (*CORE_TIMELINE, *registry().timeline_sources):
        merged.extend(source.entries(db=db, person=person, before=before, limit=limit + 1))
    merged.sort(key=lambda e: (e.at, e.key), reverse=True)
    if len(merged) <= limit:
        return TimelinePage(merged, None)
    page = merged[:limit]
    boundary = merged[limit].at
    kept = [e for e in page if e.at > boundary]
    if kept:
        # Everything at `boundary` comes next: the next page asks for `< boundary + 1 µs`.
        return TimelinePage(kept, boundary + timedelta(microseconds=1))
    return TimelinePage(page, page[-1].at)


def quick_actions(db: Session, person: User) -> list[tuple[str, str]]:
    """The features' quick actions that apply to this participant: (label, url)."""
    found = []
    for action in registry().quick_actions:
        url = action.url(db=db, person=person)
        if url:
            found.append((action.label, url))
    return found


def open_invitations(
    db: Session, therapist_id: int, now: datetime | None = None
) -> list[Invitation]:
    """Invitations not yet accepted or revoked (expired ones included, to renew)."""
    return list(
        db.exec(
            select(Invitation)
            .where(
                Invitation.therapist_id == therapist_id,
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
            )
            .order_by(col(Invitation.created_at).desc())
        )
    )
