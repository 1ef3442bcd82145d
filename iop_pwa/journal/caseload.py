"""The journal's parts of the therapist's dashboard: falling mood (a reason to need attention),
a 14-day mood sparkline per row, and shared entries and mood check-ins on the timeline. Only what
the care team may see counts: mood check-ins and shared entries, never a private entry."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache

from markupsafe import Markup, escape
from sqlalchemy import Date, bindparam
from sqlmodel import Session, col, or_, select

from iop_pwa.accounts.models import User
from iop_pwa.features import RANK_MOOD, Fact, Need, TimelineEntry
from iop_pwa.journal.models import MOODS, JournalEntry
from iop_pwa.web import local_today, once_per_request

SPARK_DAYS = 14
LOW = 2  # "Low" or "Very low"
RECENT_DAYS = 3  # "the last 3 days"
DROP = 1.0  # the last 3 days' average this far below the 11 days before: falling


def _care_team_moods(db: Session, ids: list[int], since: date):
    """(user_id, local_date, written_at, mood) of check-ins and shared entries with a mood since
    a date, oldest first: one query for the whole caseload."""
    return db.exec(_moods_statement(), params={"ids": ids, "since": since}).all()


@cache
def _moods_statement():
    return (
        select(
            JournalEntry.user_id,
            JournalEntry.local_date,
            JournalEntry.written_at,
            JournalEntry.mood,
        )
        .where(
            col(JournalEntry.user_id).in_(bindparam("ids", expanding=True)),
            col(JournalEntry.mood).is_not(None),
            JournalEntry.local_date >= bindparam("since", type_=Date),
            or_(JournalEntry.kind == "checkin", col(JournalEntry.shared)),
        )
        .order_by(col(JournalEntry.user_id), col(JournalEntry.written_at))
    )


def _by_person(db: Session, participants: list[User], now: datetime):
    """Each participant's moods in their own last 14 days (their local dates): {id: [(local_date,
    written_at, mood)]}, and their local today. The needs (the whole caseload) and the sparkline
    column (those still in the program) of one dashboard both ask: each person's moods are read
    once per request, and a second ask reads only the people the first did not."""
    known = once_per_request(("journal.moods", now.date()), dict)
    missing = [p for p in participants if p.id not in known]
    if missing:
        known.update(_read_by_person(db, missing, now))
    found = {p.id: known[p.id][0] for p in participants}
    return found, {p.id: known[p.id][1] for p in participants}


def _read_by_person(db: Session, participants: list[User], now: datetime):
    """{id: ([(local_date, written_at, mood)], local today)}: one query."""
    # A day earlier than anyone's first day, whatever their zone; each person's window below.
    since = now.date() - timedelta(days=SPARK_DAYS + 1)
    found = {p.id: ([], local_today(p.timezone)) for p in participants}
    for user_id, day, written_at, mood in _care_team_moods(db, list(found), since):
        moods, today = found[user_id]
        if today - timedelta(days=SPARK_DAYS - 1) <= day <= today:
            moods.append((day, written_at, mood))
    return found


def _average(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _word(mood: float) -> str:
    return MOODS[min(5, max(1, round(mood)))].lower()


def falling_mood(
    moods: list[tuple[date, datetime, int]], today: date
) -> tuple[str, datetime] | None:
    """Why mood looks to be falling, in words, and since when (None: it does not): three low
    check-ins in a row, or the last 3 days' average well below the 11 days before them."""
    last_three = moods[-3:]
    if len(last_three) == 3 and all(mood <= LOW for _, _, mood in last_three):
        latest = MOODS[last_three[-1][2]].lower()
        return f"Falling mood: three low check-ins in a row (latest {latest})", last_three[0][1]
    recent_start = today - timedelta(days=RECENT_DAYS - 1)
    recent = [(at, m) for day, at, m in moods if day >= recent_start]
    before = [m for day, _, m in moods if day < recent_start]
    if recent and len(before) >= 3:
        now_avg = _average([m for _, m in recent])
        usual = _average(before)
        if now_avg <= usual - DROP:
            return (
                f"Falling mood: {_word(now_avg)} these last {RECENT_DAYS} days, usually "
                f"{_word(usual)}",
                recent[0][0],
            )
    return None


def needs(*, db: Session, participants: list[User], now: datetime) -> list[Need]:
    """Falling mood for the whole caseload: one query."""
    found, todays = _by_person(db, participants, now)
    result = []
    for participant_id, moods in found.items():
        falling = falling_mood(moods, todays[participant_id])
        if falling:
            result.append(Need(participant_id, RANK_MOOD, falling[0], falling[1]))
    return result


def describe(days: list[float | None]) -> str:
    """The sparkline's words: "Mood over 14 days: low, rising to okay"."""
    recorded = [m for m in days if m is not None]
    n = len(days)
    if not recorded:
        return f"No mood check-ins in {n} days"
    if len(recorded) == 1:
        return f"Mood over {n} days: one check-in, {_word(recorded[0])}"
    half = n // 2
    first = _average([m for m in days[:half] if m is not None])
    last = _average([m for m in days[half:] if m is not None])
    if first is None or last is None:
        first, last = recorded[0], recorded[-1]
    if _word(first) == _word(last):
        return f"Mood over {n} days: steady around {_word(last)}"
    direction = "rising" if last > first else "falling"
    return f"Mood over {n} days: {_word(first)}, {direction} to {_word(last)}"


W, H, PAD = 112, 32, 3


def sparkline(days: list[float | None], words: str) -> Markup:
    """An inline SVG line of daily mood (1 at the bottom, 5 at the top), broken where a day has
    nothing; its `<title>` carries the same words for a screen reader."""
    n = len(days)

    def point(i: int, mood: float) -> tuple[float, float]:
        x = PAD + (W - 2 * PAD) * i / (n - 1)
        y = PAD + (H - 2 * PAD) * (5 - mood) / 4
        return x, y

    runs: list[list[tuple[float, float]]] = [[]]
    for i, mood in enumerate(days):
        if mood is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point(i, mood))
    parts = [
        f'<svg class="sparkline" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">'
        f"<title>{escape(words)}</title>",
        f'<line class="spark-mid" x1="0" x2="{W}" y1="{H / 2}" y2="{H / 2}"/>',
    ]
    for run in runs:
        if len(run) == 1:
            x, y = run[0]
            parts.append(f'<circle class="spark-dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>')
        elif run:
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            parts.append(f'<polyline class="spark-line" points="{points}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped words only


def mood_facts(*, db: Session, participants: list[User], now: datetime) -> dict[int, Fact]:
    """Each row's 14-day mood sparkline with its words: one query."""
    found, todays = _by_person(db, participants, now)
    facts = {}
    for participant_id, moods in found.items():
        today = todays[participant_id]
        per_day: dict[date, list[int]] = {}
        for day, _, mood in moods:
            per_day.setdefault(day, []).append(mood)
        days = [
            _average(per_day.get(today - timedelta(days=SPARK_DAYS - 1 - i), []))
            for i in range(SPARK_DAYS)
        ]
        words = describe(days)
        facts[participant_id] = Fact(words, sparkline(days, words) if moods else None)
    return facts


def timeline(*, db: Session, person: User, before: datetime, limit: int) -> list[TimelineEntry]:
    """Shared journal entries and mood check-ins before a moment, newest first: one query."""
    rows = db.exec(
        select(JournalEntry)
        .where(
            JournalEntry.user_id == person.id,
            JournalEntry.written_at < before,
            or_(JournalEntry.kind == "checkin", col(JournalEntry.shared)),
        )
        .order_by(col(JournalEntry.written_at).desc(), col(JournalEntry.id).desc())
        .limit(limit)
    ).all()
    entries = []
    for entry in rows:
        mood = f"Mood: {entry.mood_word}" if entry.mood_word else ""
        if entry.kind == "checkin":
            entries.append(
                TimelineEntry(
                    entry.written_at,
                    "mood",
                    f"journal:{entry.id}",
                    f"Mood check-in: {entry.mood_word or 'no mood chosen'}",
                )
            )
            continue
        feelings = ", ".join(entry.feeling_list + ([entry.own_words] if entry.own_words else []))
        title = "Shared a journal entry" + (f" ({mood.lower()})" if mood else "")
        detail = entry.body
        if feelings:
            detail = f"Feelings: {feelings}. {detail}".strip()
        entries.append(
            TimelineEntry(entry.written_at, "journal", f"journal:{entry.id}", title, detail)
        )
    return entries
