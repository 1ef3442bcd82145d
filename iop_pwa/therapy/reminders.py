"""Session reminders, as a `features.ReminderSource`: 60 and 10 minutes before by default (each
person chooses, Account → Reminders).

Reminders are worked out when they are due, from the session as it is then: a session moved
before its reminder is reminded at its new time (the key holds the start), a cancelled one is
not reminded at all, and a participant who left the group is no longer among its attendees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from flask import current_app
from sqlmodel import Session, col, select

from iop_pwa import access
from iop_pwa.features import Reminder, ReminderSettings
from iop_pwa.therapy import services
from iop_pwa.therapy.models import TherapySession

LONGEST_AHEAD = timedelta(days=1)  # the earliest reminder anyone may choose
URGENT_WITHIN = timedelta(minutes=15)  # "starting soon": sent with Urgency high


def due(
    db: Session,
    *,
    start: datetime,
    end: datetime,
    settings: Callable[[int], ReminderSettings],
) -> Iterator[Reminder]:
    """The session reminders whose time (the start less the person's minutes) is in [start, end)."""
    sessions = db.exec(
        select(TherapySession).where(
            col(TherapySession.cancelled_at).is_(None),
            col(TherapySession.starts_at) > start,
            col(TherapySession.starts_at) < end + LONGEST_AHEAD,
        )
    ).all()
    adapter = current_app.url_map.bind("localhost")
    for session in sessions:
        url = adapter.build("sessions.show", {"session_id": session.id})
        for person in services.attendees(db, session):
            if not access.open_to_new_work(person):  # alumni keep their sessions' reminders
                continue
            for minutes in settings(person.id).session_minutes:
                before = timedelta(minutes=minutes)
                at = session.starts_at - before
                if not start <= at < end:
                    continue
                yield Reminder(
                    user_id=person.id,
                    key=f"{session.id}:{session.starts_at:%Y%m%dT%H%M}:{minutes}",
                    at=at,
                    url=url,
                    category="sessions",
                    topic=f"session-{session.id}",
                    urgent=before <= URGENT_WITHIN,
                    expires_at=session.starts_at + timedelta(minutes=10),
                )
