"""The sessions feature's parts of other pages: the next session on Today, the calendar link on
Account, and upcoming sessions and past ones with attendance on the therapist's participant page."""

from __future__ import annotations

from datetime import datetime

from flask import session, url_for
from flask_login import current_user
from sqlmodel import Session, col, select

from iop_pwa.accounts.models import User
from iop_pwa.db import utcnow
from iop_pwa.therapy import services
from iop_pwa.therapy.forms import FeedForm
from iop_pwa.therapy.models import ATTENDANCE, CalendarFeed, TherapySession
from iop_pwa.therapy.policies import THERAPY_SESSION

SHOWN_FEED = "feed_link"  # the raw feed token, kept only in the person's own signed session


def today(*, db: Session, person: User, now: datetime) -> dict:
    moment = utcnow()
    return {
        "next_session": services.next_for_participant(db, participant=person, now=moment),
        "utcnow": moment,
        "provider": services.provider_name,
    }


def account(*, db: Session, person: User) -> dict | None:
    """The calendar subscription (participants only): whether a feed exists, and its link if
    this browser made it."""
    if not person.is_participant:
        return None
    feed = db.exec(select(CalendarFeed).where(CalendarFeed.user_id == person.id)).first()
    token = session.get(SHOWN_FEED) if feed else None
    return {
        "has_feed": feed is not None,
        "feed_link": url_for("sessions.feed", token=token, _external=True) if token else None,
        "feed_form": FeedForm(include_links=feed.include_links if feed else False),
    }


def participant_page(*, db: Session, person: User) -> dict:
    """The participant's next few sessions and their latest past ones with attendance (limited in
    SQL). A session links to its page only for those who may open it (a group's session: its
    facilitators): anyone else would be refused there."""
    found = services.overview(db, participant=person, now=utcnow())
    return {
        "person": person,
        "upcoming": found.upcoming,
        "attendance": found.past,
        "attendance_words": ATTENDANCE,
        # The sessions whose page the therapist may open (THERAPY_SESSION): one query.
        "managed": set(
            db.exec(
                select(TherapySession.id).where(
                    col(TherapySession.id).in_(
                        [s.id for s in found.upcoming] + [row.session.id for row in found.past]
                    ),
                    THERAPY_SESSION.where(current_user, db=db),
                )
            )
        ),
    }
