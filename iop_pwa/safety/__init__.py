"""Safety: recognising crisis language and raising a flag for the care team.

The phrase list lives in `crisis_phrases.txt` beside this file, one phrase a line, maintained by the
clinical team. Matching is on whole words (after lower-casing and folding apostrophes), so "skill"
never matches "kill" and "diet" never matches "die".
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path

from sqlalchemy import false
from sqlmodel import Field, Session, SQLModel, col, select

from iop_pwa import audit
from iop_pwa.access import Policy, caseload_ids
from iop_pwa.accounts.models import CareTeamLink
from iop_pwa.db import UTCDateTime, utcnow
from iop_pwa.notifications import notify

PHRASES_FILE = Path(__file__).with_name("crisis_phrases.txt")
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    folded = text.lower().replace("\u2019", "'").replace("'", "")
    return _WORD.findall(folded)


@cache
def _phrases() -> tuple[tuple[str, ...], ...]:
    phrases = []
    for line in PHRASES_FILE.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            phrases.append(tuple(_words(line)))
    return tuple(p for p in phrases if p)


def has_crisis_language(*texts: str | None) -> bool:
    """Whether any text contains a crisis phrase as a run of whole words."""
    for text in texts:
        if not text:
            continue
        words = _words(text)
        positions: dict[str, list[int]] = {}
        for i, word in enumerate(words):
            positions.setdefault(word, []).append(i)
        for phrase in _phrases():
            for start in positions.get(phrase[0], ()):
                if tuple(words[start : start + len(phrase)]) == phrase:
                    return True
    return False


class CareFlag(SQLModel, table=True):
    """A sign on the therapist's dashboard that a participant may need contact soon.

    Raised only from what the participant chose to share with the care team; stays until a
    therapist marks it seen. It names the source (a journal entry) but copies none of its text.
    """

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    reason: str = Field(max_length=40)  # e.g. "crisis_language"
    source_type: str = Field(max_length=40)  # e.g. "journal_entry"
    source_id: int | None = None
    raised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    seen_by_id: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")

    @property
    def source_words(self) -> str:
        """Where the words were, for the therapist ("a message"), never the words."""
        return SOURCE_WORDS.get(self.source_type, "something they wrote")

    @property
    def words(self) -> str:
        """Why the flag is there, for the therapist ("Crisis language in a message"), never the
        words themselves."""
        template = REASON_WORDS.get(self.reason, REASON_WORDS["crisis_language"])
        return template.format(source=self.source_words)


# How the dashboard names a flag's reason ("crisis_language" when not listed).
REASON_WORDS = {
    "crisis_language": "Crisis language in {source}",
    "risk_answer": "PHQ-9 item 9 (thoughts of death or self-harm) above 0 in {source}",
    # Someone in their group reported one of their messages as "Worried about someone's safety".
    "peer_report": "A group member is worried about their safety, after {source}",
}

# How the dashboard names a flag's source; a feature raising flags uses one of these types.
SOURCE_WORDS = {
    "journal_entry": "a shared journal entry",
    "message": "a message",
    "checkin_answer": "a check-in answer",
}


def raise_flag(
    db: Session, *, participant_id: int, reason: str, source_type: str, source_id: int | None
) -> CareFlag:
    """Raise a flag unless the same source already has an open one."""
    existing = db.exec(
        select(CareFlag).where(
            CareFlag.participant_id == participant_id,
            CareFlag.source_type == source_type,
            CareFlag.source_id == source_id,
            col(CareFlag.seen_at).is_(None),
        )
    ).first()
    if existing:
        return existing
    flag = CareFlag(
        participant_id=participant_id, reason=reason, source_type=source_type, source_id=source_id
    )
    db.add(flag)
    db.flush()
    _alert_care_team(db, flag)
    return flag


def _alert_care_team(db: Session, flag: CareFlag) -> None:
    """Tell every therapist with the participant on their caseload: a "care_flag" notification
    (an alert: those who turned alerts on get a push saying only "New alert in IOP Companion").
    The text names no one; the dashboard shows the flag itself at once."""
    for therapist_id in db.exec(
        select(CareTeamLink.therapist_id).where(CareTeamLink.participant_id == flag.participant_id)
    ):
        notify(
            db,
            user_id=therapist_id,
            kind="care_flag",
            text="A participant on your caseload may need contact soon.",
            object_id=flag.id,
        )


def open_flags_for(db: Session, participant_ids: list[int]) -> dict[int, list[CareFlag]]:
    """Open flags by participant, for a caseload (one query)."""
    if not participant_ids:
        return {}
    flags: dict[int, list[CareFlag]] = {}
    for flag in db.exec(
        select(CareFlag)
        .where(col(CareFlag.participant_id).in_(participant_ids), col(CareFlag.seen_at).is_(None))
        .order_by(col(CareFlag.raised_at).desc())
    ):
        flags.setdefault(flag.participant_id, []).append(flag)
    return flags


def mark_seen(db: Session, *, flag: CareFlag, therapist_id: int) -> None:
    """A therapist marks a flag seen (after reaching out); the write is audited."""
    flag.seen_at = utcnow()
    flag.seen_by_id = therapist_id
    db.add(flag)
    audit.record(
        db,
        "flag_seen",
        actor_id=therapist_id,
        subject_id=flag.participant_id,
        object_type="care_flag",
        object_id=flag.id,
    )


CARE_FLAG = Policy(
    "care_flag",
    CareFlag,
    lambda user, _action: (
        col(CareFlag.participant_id).in_(caseload_ids(user.id)) if user.is_staff else false()
    ),
    subject=lambda flag: flag.participant_id,
)
"""A safety flag: staff with the participant on their caseload."""
