"""Journal services: keyword-only, typed, take the session and never commit (the caller does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Integer, bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, or_, select

from iop_pwa.accounts.models import User
from iop_pwa.db import utcnow
from iop_pwa.journal.models import FEELINGS, MOODS, JournalEntry
from iop_pwa.safety import has_crisis_language, raise_flag

PROMPTS_FILE = Path(__file__).with_name("prompts.txt")
PAGE_SIZE = 20


@cache
def prompts() -> tuple[str, ...]:
    lines = PROMPTS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def prompt_for(day: date, skip: int = 0) -> tuple[int, str]:
    """The prompt of the day (the same for everyone on a date), or a later one after skips."""
    index = (day.toordinal() + skip) % len(prompts())
    return index, prompts()[index]


@dataclass
class SaveResult:
    entry: JournalEntry
    created: bool  # False when this was a replay of a write already stored
    crisis: bool  # the text holds crisis language: show resources at once


def _clean_feelings(feelings: list[str]) -> str:
    return ",".join(f for f in FEELINGS if f in set(feelings))


def save_entry(
    db: Session,
    *,
    user: User,
    client_id: str,
    kind: str = "entry",
    mood: int | None,
    feelings: list[str] | None = None,
    own_words: str = "",
    prompt: str | None = None,
    body: str = "",
    shared: bool = False,
    written_at: datetime,
) -> SaveResult:
    """Store a new entry or check-in once; a replay (same client id) returns the original."""
    existing = _by_client_id(db, user, client_id)
    if existing:
        return _replayed(existing)
    entry = JournalEntry(
        user_id=user.id,
        client_id=client_id,
        kind=kind,
        mood=mood,
        feelings=_clean_feelings(feelings or []),
        own_words=own_words.strip(),
        prompt=prompt,
        body=body.strip(),
        shared=shared,
        written_at=written_at,
        local_date=written_at.astimezone(ZoneInfo(user.timezone)).date(),
    )
    try:
        with db.begin_nested():  # the same write may arrive twice at once (page and worker)
            db.add(entry)
            db.flush()
            # The flag goes in with the entry, in the same savepoint: an entry stored without its
            # flag would never flag (a replay doesn't).
            crisis = _check_safety(db, entry)
    except IntegrityError:
        return _replayed(_by_client_id(db, user, client_id))
    return SaveResult(entry, created=True, crisis=crisis)


def _by_client_id(db: Session, user: User, client_id: str) -> JournalEntry | None:
    return db.exec(
        select(JournalEntry).where(
            JournalEntry.user_id == user.id, JournalEntry.client_id == client_id
        )
    ).first()


def _replayed(existing: JournalEntry) -> SaveResult:
    """The answer to a write the server already has: the original, never a second row."""
    return SaveResult(
        existing, created=False, crisis=has_crisis_language(existing.body, existing.own_words)
    )


def update_entry(
    db: Session,
    *,
    entry: JournalEntry,
    mood: int | None,
    feelings: list[str],
    own_words: str,
    body: str,
    shared: bool,
) -> bool:
    """Change an entry; returns whether its text holds crisis language."""
    entry.mood = mood
    entry.feelings = _clean_feelings(feelings)
    entry.own_words = own_words.strip()
    entry.body = body.strip()
    entry.shared = shared
    entry.updated_at = utcnow()
    db.add(entry)
    db.flush()
    return _check_safety(db, entry)


def _check_safety(db: Session, entry: JournalEntry) -> bool:
    """Crisis language always gets resources on screen; only a shared entry raises a flag."""
    crisis = has_crisis_language(entry.body, entry.own_words)
    if crisis and entry.shared:
        raise_flag(
            db,
            participant_id=entry.user_id,
            reason="crisis_language",
            source_type="journal_entry",
            source_id=entry.id,
        )
    return crisis


@dataclass
class Filters:
    q: str = ""
    mood: int | None = None
    feeling: str = ""
    date_from: date | None = None
    date_to: date | None = None

    @property
    def active(self) -> bool:
        return bool(self.q or self.mood or self.feeling or self.date_from or self.date_to)


def list_entries(
    db: Session, *, user: User, filters: Filters, page: int = 1
) -> tuple[list[JournalEntry], int]:
    """A page of the participant's entries, newest first, and the total that match: two queries."""
    query = select(JournalEntry).where(JournalEntry.user_id == user.id)
    if filters.q:
        query = query.where(
            col(JournalEntry.body).icontains(filters.q, autoescape=True)
            | col(JournalEntry.own_words).icontains(filters.q, autoescape=True)
        )
    if filters.mood:
        query = query.where(JournalEntry.mood == filters.mood)
    if filters.feeling in FEELINGS:
        query = query.where(col(JournalEntry.feelings).contains(filters.feeling, autoescape=True))
    if filters.date_from:
        query = query.where(JournalEntry.local_date >= filters.date_from)
    if filters.date_to:
        query = query.where(JournalEntry.local_date <= filters.date_to)
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    entries = db.exec(
        query.order_by(col(JournalEntry.written_at).desc(), col(JournalEntry.id).desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return list(entries), total


def latest_checkin(db: Session, *, user: User, day: date) -> JournalEntry | None:
    """The participant's most recent mood check-in on their local `day`, if any."""
    return db.exec(_latest_checkin_statement(), params={"user_id": user.id, "day": day}).first()


@cache
def _latest_checkin_statement():
    """`latest_checkin`'s query (Today asks it on every load), built once."""
    return (
        select(JournalEntry)
        .where(
            JournalEntry.user_id == bindparam("user_id", type_=Integer),
            JournalEntry.kind == "checkin",
            JournalEntry.local_date == bindparam("day", type_=Date),
        )
        .order_by(col(JournalEntry.written_at).desc())
        .limit(1)
    )


def shared_entries(db: Session, *, participant_id: int, limit: int = 20) -> list[JournalEntry]:
    """What a participant chose to share with the care team, newest first. Private entries are
    never selected, so they cannot be shown, counted or hinted at."""
    return list(
        db.exec(
            select(JournalEntry)
            .where(JournalEntry.user_id == participant_id, col(JournalEntry.shared))
            .order_by(col(JournalEntry.written_at).desc())
            .limit(limit)
        )
    )


@dataclass
class MoodDay:
    day: date
    mood: float | None  # the day's average, None when nothing was recorded
    wrote: bool  # wrote a journal entry (not only a check-in) that day
    practised: bool = False  # marked practice done for that day


def mood_days(
    db: Session,
    *,
    user: User,
    today: date,
    days: int,
    practised: frozenset[date] = frozenset(),
    care_team: bool = False,
) -> list[MoodDay]:
    """One row per day for the last `days` days, oldest first: one query. `practised` holds the
    dates the participant did their practice (from the practice feature). `care_team` keeps to
    what the care team may see: mood check-ins and shared entries, never a private entry's mood."""
    start = today - timedelta(days=days - 1)
    query = (
        select(
            JournalEntry.local_date,
            func.avg(JournalEntry.mood),
            func.max(func.length(JournalEntry.body)),
        )
        .where(
            JournalEntry.user_id == user.id,
            JournalEntry.local_date >= start,
            JournalEntry.local_date <= today,
        )
        .group_by(JournalEntry.local_date)
    )
    if care_team:
        query = query.where(or_(JournalEntry.kind == "checkin", col(JournalEntry.shared)))
    rows = db.exec(query).all()
    by_day = {d: (float(m) if m is not None else None, bool(length)) for d, m, length in rows}
    return [
        MoodDay(day, *by_day.get(day, (None, False)), practised=day in practised)
        for day in (start + timedelta(days=i) for i in range(days))
    ]


def _average(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def mood_summary(days: list[MoodDay]) -> list[str]:
    """Plain sentences about the period, kind in tone; empty when there is too little to say."""
    moods = [d.mood for d in days if d.mood is not None]
    if len(moods) < 3:
        return []
    sentences = []
    average = _average(moods)
    sentences.append(
        f"You checked in on {len(moods)} of the last {len(days)} days. Your average mood was "
        f"{average:.1f} ({MOODS[round(average)]})."
    )
    half = len(days) // 2
    first = _average([d.mood for d in days[:half] if d.mood is not None])
    second = _average([d.mood for d in days[half:] if d.mood is not None])
    if first is not None and second is not None and abs(second - first) >= 0.3:
        trend = "higher" if second > first else "lower"
        sentences.append(f"It was {trend} in the second half of this period than in the first.")
    for attribute, doing in (("practised", "practised"), ("wrote", "wrote in your journal")):
        on = _average([d.mood for d in days if d.mood is not None and getattr(d, attribute)])
        off = _average([d.mood for d in days if d.mood is not None and not getattr(d, attribute)])
        if on is not None and off is not None and abs(on - off) >= 0.3:
            word = "higher" if on > off else "lower"
            sentences.append(f"Your mood was {word} on days you {doing}.")
    return sentences


def export_records(db: Session, *, user: User) -> list[dict]:
    """Every entry and check-in the participant wrote, oldest first, for "My data"."""
    entries = db.exec(
        select(JournalEntry)
        .where(JournalEntry.user_id == user.id)
        .order_by(col(JournalEntry.written_at))
    ).all()
    return [
        {
            "kind": e.kind,
            "date": e.local_date.isoformat(),
            "written_at": e.written_at.isoformat(),
            "mood": e.mood,
            "mood_word": e.mood_word,
            "feelings": e.feeling_list,
            "own_words": e.own_words,
            "prompt": e.prompt,
            "text": e.body,
            "shared_with_care_team": e.shared,
        }
        for e in entries
    ]


def erase_records(db: Session, *, user: User) -> None:
    """Delete every entry a person wrote (account deletion; the entries go before the person)."""
    db.exec(delete(JournalEntry).where(JournalEntry.user_id == user.id))
