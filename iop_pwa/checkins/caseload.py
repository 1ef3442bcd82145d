"""Check-ins' parts of the therapist's dashboard: a rising PHQ-9 as a reason to need attention,
each row's last check-in (in the program and in the alumni list), and answers on the timeline.
The item-9 answer is not here: it raises a safety flag, which ranks first on its own."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from iop_pwa import dates
from iop_pwa.accounts.models import User
from iop_pwa.checkins import services
from iop_pwa.features import RANK_MOOD, Fact, Need, TimelineEntry


def rising_needs(*, db: Session, participants: list[User], now: datetime) -> list[Need]:
    """PHQ-9 up by 5 or more, or newly moderately severe or severe: one query."""
    return [
        Need(participant_id, RANK_MOOD, why)
        for participant_id, why in services.rising(db, [p.id for p in participants]).items()
    ]


def last_facts(*, db: Session, participants: list[User], now: datetime) -> dict[int, Fact]:
    """Each participant's latest check-in, its score and band, and when: one query."""
    latest = services.latest_for(db, [p.id for p in participants])
    return {
        participant_id: Fact(
            f"{title} {score}" + (f" ({band})" if band else "") + f", {dates.short_date(at)}"
        )
        for participant_id, (title, score, band, at) in latest.items()
    }


def timeline(*, db: Session, person: User, before: datetime, limit: int) -> list[TimelineEntry]:
    """The participant's check-in answers with their scores, newest first: one query."""
    return [
        TimelineEntry(at=at, kind="checkin", key=f"checkin:{answer_id}", title=words, url=url)
        for answer_id, at, words, url in services.timeline(db, person, limit=limit, before=before)
    ]
