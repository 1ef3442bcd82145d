"""Therapy session services: keyword-only, typed, take the session and never commit.

A group's sessions are a member's from the day they joined the group (their local date): earlier
ones are not on their list, their roster or their attendance record.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from icalendar import Calendar, Event
from sqlalchemy import Integer, bindparam, union_all
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from iop_pwa import access, audit, dates
from iop_pwa.access import first_moment
from iop_pwa.accounts.models import Group, GroupMembership, User
from iop_pwa.accounts.sessions import token_hash
from iop_pwa.db import UTCDateTime, utcnow
from iop_pwa.notifications import notify
from iop_pwa.therapy.models import (
    Attendance,
    AttendanceStatus,
    CalendarFeed,
    FamilyGuest,
    SessionKind,
    TherapySession,
)
from iop_pwa.therapy.policies import THERAPY_SESSION, joined_days, participant_branches
from iop_pwa.web import in_zone


class SessionError(ValueError):
    """A request that cannot be carried out, with a message fit to show the person, and the
    form field it is about (None: the form as a whole)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- Video links -------------------------------------------------------------------------------

# Video services a session link may point to: the host is the domain or one of its subdomains
# (us02web.zoom.us). VIDEO_DOMAINS_EXTRA adds a clinic's own; anything else is refused, so a link
# can't pass as Zoom from zoom.us.evil.example.
# The longest a session can last (the form's limit): one that started longer ago is over.
MAX_SESSION = timedelta(minutes=480)
# Today shows the next session within this horizon, from the first few rows that could be it.
NEXT_SESSION_HORIZON = timedelta(days=60)
NEXT_CANDIDATES = 8
# How many past sessions the participant's Sessions page lists.
PAST_SHOWN = 20

PROVIDERS = {
    "zoom.us": "Zoom",
    "zoomgov.com": "Zoom",
    "meet.google.com": "Google Meet",
    "teams.microsoft.com": "Microsoft Teams",
    "teams.live.com": "Microsoft Teams",
    "webex.com": "Webex",
    "doxy.me": "Doxy.me",
    "vsee.com": "VSee",
    "vsee.me": "VSee",
    "gotomeeting.com": "GoTo Meeting",
    "meet.goto.com": "GoTo Meeting",
    "whereby.com": "Whereby",
    "video.simplepractice.com": "SimplePractice",
}


def _extra_domains() -> tuple[str, ...]:
    return tuple(current_app.config.get("VIDEO_DOMAINS_EXTRA", ())) if has_app_context() else ()


def _matching_domain(host: str) -> str | None:
    """The allowed domain `host` is, or is a subdomain of (None if it is neither)."""
    host = host.lower().rstrip(".")
    for domain in (*PROVIDERS, *_extra_domains()):
        if host == domain or host.endswith("." + domain):
            return domain
    return None


def check_video_url(url: str) -> str:
    """The link, trimmed, if it is a well-formed https address on a known video service's
    domain (or one added with VIDEO_DOMAINS_EXTRA); SessionError otherwise."""
    url = (url or "").strip()
    if not url:
        raise SessionError("Add the video link for the session.", field="video_url")
    if any(ch.isspace() for ch in url) or len(url) > 500:
        raise SessionError(
            "That doesn't look like a video link. Paste the whole https:// link.", field="video_url"
        )
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise SessionError("That link is not a valid web address.", field="video_url") from exc
    if parts.scheme.lower() != "https":
        raise SessionError(
            "Video links must start with https:// (secure links only).", field="video_url"
        )
    host = (parts.hostname or "").lower()
    if not host or "." not in host or parts.username or parts.password or port not in (None, 443):
        raise SessionError("That link is not a valid web address.", field="video_url")
    if _matching_domain(host) is None:
        names = ", ".join(dict.fromkeys(PROVIDERS.values()))
        raise SessionError(
            f"Video links must be from a known video service ({names}). "
            "An administrator can add another with VIDEO_DOMAINS_EXTRA.",
            field="video_url",
        )
    return url


def provider_name(url: str) -> str:
    """'Zoom', 'Google Meet', ... for well-known services, else the link's host."""
    host = (urlsplit(url).hostname or "").lower()
    domain = _matching_domain(host)
    return PROVIDERS.get(domain, host) if domain else host


# --- Scheduling --------------------------------------------------------------------------------


def local_to_utc(day: date, at: time, timezone: str) -> datetime:
    """A local wall-clock time as UTC. In the spring gap the time moves forward by the gap; in the
    autumn repeat the first occurrence is taken (zoneinfo's fold=0). `clock_note` says which."""
    local = datetime.combine(day, at, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def place_name(timezone: str) -> str:
    """'New York' for America/New_York: how people name a time zone."""
    return timezone.rsplit("/", 1)[-1].replace("_", " ")


def clock_note(day: date, at: time, timezone: str) -> str | None:
    """What to tell the person when `at` on `day` doesn't exist in `timezone` (clocks go
    forward) or happens twice (clocks go back), and so which time it will really be; None on
    an ordinary day."""
    zone = ZoneInfo(timezone)
    naive = datetime.combine(day, at)
    first, second = naive.replace(tzinfo=zone), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    real = first.astimezone(UTC).astimezone(zone)
    wall = dates.time(naive, "UTC")  # the clock on the wall, as the therapist typed it
    place, when = place_name(timezone), f"{dates.day(day)}: {wall}"
    if real.replace(tzinfo=None) != naive:
        will_be = dates.time(real, timezone)
        return f"{when} doesn't exist in {place} (clocks go forward); it will be at {will_be}."
    return (
        f"{when} happens twice in {place} (clocks go back); it will be at the first "
        f"{wall} ({first.tzname()}), before the clocks change."
    )


def clock_notes(day: date, at: time, timezone: str, weeks: int = 1) -> list[str]:
    """`clock_note` for each week of a weekly series."""
    notes = (clock_note(day + timedelta(weeks=w), at, timezone) for w in range(weeks))
    return [n for n in notes if n]


def _when(at: datetime, timezone: str, fmt: str = "day_time", clock: str | None = None) -> str:
    """A session's time for people, in a named format of `iop_pwa.dates`."""
    return dates.FORMATS[fmt](at, timezone, clock=clock)


def _check_start(starts: datetime, timezone: str, now: datetime) -> None:
    """A session is scheduled for now or later: the current minute still counts (the form has
    no seconds), a start before it is refused with the time it named."""
    if starts < now.replace(second=0, microsecond=0):
        raise SessionError(
            f"{_when(starts, timezone)} has already passed. Choose a later time, or tick "
            '"Record a session that already happened" to record a past session '
            "(nobody is notified).",
            field="day",
        )


def schedule(
    db: Session,
    *,
    therapist: User,
    kind: SessionKind | str,
    title: str,
    day: date,
    at: time,
    duration_minutes: int,
    video_url: str,
    participant: User | None,
    group_id: int | None,
    repeat_weeks: int = 1,
    already_happened: bool = False,
    now: datetime | None = None,
) -> list[TherapySession]:
    """Create a session, or a weekly series of `repeat_weeks` occurrences at the same local time
    (computed per date in the therapist's zone, so a DST change keeps 18:00 at 18:00).

    A start before `now` is refused, unless `already_happened` records sessions that took place
    (every occurrence must have started; nobody is notified). Each attendee gets one
    notification for the whole series. `now` defaults to the current time (the demo passes the
    moment it pretends the therapist scheduled at)."""
    try:
        kind = SessionKind(kind)
    except ValueError:
        raise SessionError("Choose the kind of session.", field="kind") from None
    if kind == SessionKind.group and not group_id:
        raise SessionError("Choose the group for a group session.", field="group")
    if kind != SessionKind.group and participant is None:
        raise SessionError("Choose the participant for this session.", field="participant")
    if not 1 <= repeat_weeks <= 26:
        raise SessionError("Repeat for 1 to 26 weeks.", field="repeat_weeks")
    if kind == SessionKind.group:
        group = db.get(Group, group_id)
        access.check(db, therapist, access.GROUP, group, access.Action.change)
    else:
        access.check(db, therapist, access.PARTICIPANT, participant, access.Action.change)
    url = check_video_url(video_url)
    now = now or utcnow()
    zone = therapist.timezone
    starts = [local_to_utc(day + timedelta(weeks=w), at, zone) for w in range(repeat_weeks)]
    if not already_happened:
        _check_start(starts[0], zone, now)
    elif starts[-1] > now:
        raise SessionError(
            f"Only sessions that already happened can be recorded: {_when(starts[-1], zone)} "
            'is still to come. Untick "Record a session that already happened" to schedule it '
            "(participants are notified).",
            field="day",
        )
    series = str(uuid.uuid4()) if repeat_weeks > 1 else None
    sessions = []
    for start in starts:
        s = TherapySession(
            therapist_id=therapist.id,
            kind=kind,
            title=title.strip(),
            starts_at=start,
            duration_minutes=duration_minutes,
            video_url=url,
            participant_id=participant.id if kind != SessionKind.group else None,
            group_id=group_id if kind == SessionKind.group else None,
            series_id=series,
        )
        db.add(s)
        sessions.append(s)
    db.flush()
    for s in sessions:
        _audit(db, "session_recorded" if already_happened else "session_scheduled", s, by=therapist)
    if not already_happened:
        notify_attendees(db, sessions[0], lambda p: scheduled_text(sessions, p.timezone, p.clock))
    return sessions


def scheduled_text(sessions: list[TherapySession], timezone: str, clock: str | None = None) -> str:
    """One line for a new session or a whole weekly series, in the reader's time zone and clock:
    "New weekly sessions. Weekend skills group: Saturdays 10:00 from 5 Dec, 12 weeks." """
    first = sessions[0]
    if len(sessions) == 1:
        return f"New session. {first.title}: {_when(first.starts_at, timezone, clock=clock)}."
    local = (in_zone(s.starts_at, timezone) for s in sessions)
    slots = {(t.weekday(), t.time()) for t in local}
    text = (
        f"New weekly sessions. {first.title}: {_when(first.starts_at, timezone, 'weekday')}s "
        f"{_when(first.starts_at, timezone, 'time', clock)} from "
        f"{_when(first.starts_at, timezone, 'month_day')}, {len(sessions)} weeks."
    )
    if len(slots) > 1:
        text += " In some weeks the time is different for you because clocks change: see Sessions."
    return text


def _audit(db: Session, action: str, session: TherapySession, *, by: User, **fields) -> None:
    """Every staff write to a session is audited against its participant (or its group)."""
    fields.setdefault("subject_id", session.participant_id)
    fields.setdefault("detail", f"group {session.group_id}" if session.group_id else None)
    audit.record(
        db, action, actor_id=by.id, object_type="therapy_session", object_id=session.id, **fields
    )


def attendees(db: Session, session: TherapySession) -> list[User]:
    """The participants a session is for: its participant, or the members of its group who had
    joined by the session's day (in their own zone), by name. One query."""
    if session.participant_id:
        person = db.get(User, session.participant_id)
        return [person] if person else []
    rows = db.exec(
        select(User, GroupMembership.joined_at)
        .join(GroupMembership, col(GroupMembership.user_id) == User.id)
        .where(GroupMembership.group_id == session.group_id, ~col(GroupMembership.is_facilitator))
        .order_by(User.name)
    ).all()
    return [u for u, joined in rows if first_moment(joined, u.timezone) <= session.starts_at]


def notify_attendees(
    db: Session, session: TherapySession, text: Callable[[User], str] | str
) -> None:
    """Tell everyone a session is for, once each (through the one notification function);
    `text` may be written for each person, in their own time zone."""
    for person in attendees(db, session):
        line = text(person) if callable(text) else text
        notify(db, user_id=person.id, kind="session_changed", text=line, object_id=session.id)


def reschedule(
    db: Session,
    *,
    session: TherapySession,
    by: User,
    title: str,
    day: date,
    at: time,
    duration_minutes: int,
    video_url: str,
) -> bool:
    """Change one occurrence; returns whether its time moved. A new start in the past is
    refused; participants get one notification naming the date it was on."""
    if session.cancelled_at:
        raise SessionError("This session was cancelled.")
    starts = local_to_utc(day, at, by.timezone)
    if starts != session.starts_at:
        _check_start(starts, by.timezone, utcnow())
    url = check_video_url(video_url)
    was = session.starts_at
    moved = starts != was or duration_minutes != session.duration_minutes
    session.title, session.starts_at = title.strip(), starts
    session.duration_minutes, session.video_url = duration_minutes, url
    session.updated_at = utcnow()
    db.add(session)
    _audit(db, "session_changed", session, by=by)

    def text(person: User) -> str:
        zone, clock = person.timezone, person.clock
        on = f"{session.title} on {_when(was, zone, 'short_day')}"
        if starts != was:
            return f"Session changed. {on} is now {_when(starts, zone, clock=clock)}."
        if moved:
            return f"Session changed. {on} now lasts {duration_minutes} minutes."
        return f"Session details changed. {on}, {_when(was, zone, 'time', clock)}."

    notify_attendees(db, session, text)
    return moved


def cancel(db: Session, *, session: TherapySession, by: User) -> None:
    if session.cancelled_at:
        return
    session.cancelled_at = utcnow()
    db.add(session)
    _audit(db, "session_cancelled", session, by=by)
    notify_attendees(
        db,
        session,
        lambda p: (
            f"Session cancelled. {session.title} on "
            f"{_when(session.starts_at, p.timezone, clock=p.clock)}."
        ),
    )


def _theirs(db: Session, participant: User):
    """The sessions a participant is part of (`policies.THERAPY_SESSION`'s rule for them), as an
    entity to select from, and the values of its bound parameters: their own individual and
    family sessions, and each of their groups' sessions from the day they joined (one query, for
    the memberships).

    A UNION ALL with one branch per source (`policies.participant_branches`), each served by an
    index on (source, starts_at), and not one `participant_id = ? OR group_id IN (...)`:
    PostgreSQL answers that OR by reading every session of the program. Conditions on the result
    (`starts_at` ranges) reach each branch."""
    groups = joined_days(db, participant)
    params: dict[str, object] = {"theirs_participant": participant.id}
    for n, (group_id, since) in enumerate(groups):
        params[f"theirs_group_{n}"] = group_id
        params[f"theirs_since_{n}"] = since
    return _theirs_shape(len(groups)), params


@cache
def _theirs_shape(groups: int):
    """`_theirs`'s entity for a participant in `groups` groups, built once per count with bound
    parameters: building a UNION of ORM selects costs more Python than running it."""
    branches = list(
        participant_branches(
            bindparam("theirs_participant", type_=Integer),
            [
                (
                    bindparam(f"theirs_group_{n}", type_=Integer),
                    bindparam(f"theirs_since_{n}", type_=UTCDateTime),
                )
                for n in range(groups)
            ],
        )
    )
    selects = [select(TherapySession).where(branch) for branch in branches]
    found = union_all(*selects) if len(selects) > 1 else selects[0]
    return aliased(TherapySession, found.subquery("theirs"))


def next_for_participant(db: Session, *, participant: User, now: datetime) -> TherapySession | None:
    """The participant's next session that is not cancelled and not over (Today): a few rows,
    not every session of the coming weeks. Two queries."""
    theirs, params = _theirs(db, participant)
    query = _next_statement(theirs)
    params |= {"next_from": now - MAX_SESSION, "next_until": now + NEXT_SESSION_HORIZON}
    found = next_session(db.exec(query, params=params).all(), now)
    if found is None:  # more sessions began in the last hours than the first rows hold
        found = next_session(db.exec(query.limit(None), params=params).all(), now)
    return found


@cache
def _next_statement(theirs):
    return (
        select(theirs)
        .where(
            col(theirs.cancelled_at).is_(None),
            theirs.starts_at > bindparam("next_from", type_=UTCDateTime),
            theirs.starts_at < bindparam("next_until", type_=UTCDateTime),
        )
        .order_by(theirs.starts_at, theirs.id)
        .limit(NEXT_CANDIDATES)
    )


def for_participant(
    db: Session, *, participant: User, since: datetime | None = None, until: datetime | None = None
) -> list[TherapySession]:
    """Sessions the participant is part of (see `_theirs`): two queries."""
    theirs, params = _theirs(db, participant)
    query = select(theirs)
    if since:
        query = query.where(theirs.starts_at >= since - MAX_SESSION)
    if until:
        query = query.where(theirs.starts_at < until)
    return list(db.exec(query.order_by(theirs.starts_at, theirs.id), params=params))


def upcoming_and_past(
    db: Session, *, participant: User, now: datetime, past: int = PAST_SHOWN
) -> tuple[list[TherapySession], list[TherapySession]]:
    """The participant's sessions still to come or under way (soonest first) and their latest
    `past` ones (latest first), limited in SQL: the Sessions page costs the same after a year.
    Cancelled ones are included (the page says so). Three queries."""
    theirs, params = _theirs(db, participant)
    candidates = db.exec(
        select(theirs)
        .where(theirs.starts_at > now - MAX_SESSION)
        .order_by(theirs.starts_at, theirs.id),
        params=params,
    ).all()
    done = db.exec(
        select(theirs)
        .where(theirs.starts_at <= now)
        .order_by(theirs.starts_at.desc(), theirs.id.desc())
        .limit(past + len(candidates)),
        params=params,
    ).all()
    upcoming = [s for s in candidates if s.ends_at > now]
    ahead = {s.id for s in upcoming}
    return upcoming, [s for s in done if s.id not in ahead][:past]


def next_session(sessions: list[TherapySession], now: datetime) -> TherapySession | None:
    upcoming = [s for s in sessions if s.cancelled_at is None and s.ends_at > now]
    return upcoming[0] if upcoming else None


# --- Family guests -----------------------------------------------------------------------------


def add_guest(
    db: Session, *, session: TherapySession, name: str, email: str | None, by: User
) -> tuple[FamilyGuest, str]:
    if session.kind != SessionKind.family:
        raise SessionError("Guests can join family sessions only.")
    token = secrets.token_urlsafe(24)
    guest = FamilyGuest(
        session_id=session.id, name=name.strip(), email=email or None, token_hash=token_hash(token)
    )
    db.add(guest)
    db.flush()
    _audit(db, "guest_invited", session, by=by, detail=f"guest {guest.id}")
    return guest, token


def revoke_guest(db: Session, *, guest: FamilyGuest, session: TherapySession, by: User) -> None:
    guest.revoked_at = utcnow()
    db.add(guest)
    _audit(db, "guest_revoked", session, by=by, detail=f"guest {guest.id}")


def guest_for_token(
    db: Session, token: str, now: datetime
) -> tuple[FamilyGuest, TherapySession] | None:
    """The guest and session for a link, if it is not revoked and the session has not ended."""
    found = db.exec(
        select(FamilyGuest, TherapySession)
        .join(TherapySession, col(TherapySession.id) == FamilyGuest.session_id)
        .where(FamilyGuest.token_hash == token_hash(token))
    ).first()
    if found is None:
        return None
    guest, session = found
    if guest.revoked_at or session.cancelled_at or session.ends_at <= now:
        return None
    return guest, session


# --- Attendance --------------------------------------------------------------------------------


def mark_attendance(
    db: Session,
    *,
    session: TherapySession,
    participant_id: int,
    status: str,
    by: User,
    roster: set[int] | None = None,
) -> None:
    """Mark one person's attendance. `roster` (the ids of `attendees`) spares the caller marking
    many people a query each; only someone the session was for can be marked."""
    try:
        status = AttendanceStatus(status)
    except ValueError:
        raise SessionError("Choose attended, late or missed.") from None
    if session.starts_at > utcnow():
        raise SessionError("Attendance can be marked once the session has started.")
    if roster is None:
        roster = {p.id for p in attendees(db, session)}
    if participant_id not in roster:
        raise SessionError("Attendance is marked only for the people the session was for.")
    row = db.exec(
        select(Attendance).where(
            Attendance.session_id == session.id, Attendance.participant_id == participant_id
        )
    ).first()
    row = row or Attendance(session_id=session.id, participant_id=participant_id, status=status)
    row.status, row.marked_by_id, row.marked_at = status, by.id, utcnow()
    db.add(row)
    _audit(db, "attendance_marked", session, by=by, subject_id=participant_id, detail=status)


def mark_all_attended(db: Session, *, session: TherapySession, by: User) -> int:
    """ "Mark all present": every attendee attended, each mark audited like a single one.
    Returns how many were marked."""
    access.check(db, by, THERAPY_SESSION, session, access.Action.change)
    people = attendees(db, session)
    for person in people:
        mark_attendance(
            db,
            session=session,
            participant_id=person.id,
            status=AttendanceStatus.attended,
            by=by,
        )
    return len(people)


@dataclass
class AttendanceRow:
    session: TherapySession
    status: str | None


@dataclass
class Overview:
    upcoming: list[TherapySession]  # soonest first
    past: list[AttendanceRow]  # latest first


def overview(
    db: Session, *, participant: User, now: datetime, upcoming: int = 5, past: int = 10
) -> Overview:
    """The participant's next few sessions and their latest past ones with attendance, for the
    therapist: limited in SQL, four queries however long the history. A session counts as past
    once it has started (attendance can be marked then); cancelled ones are left out."""
    theirs, params = _theirs(db, participant)
    kept = theirs.cancelled_at.is_(None)
    ahead = db.exec(
        select(theirs)
        .where(kept, theirs.starts_at > now)
        .order_by(theirs.starts_at, theirs.id)
        .limit(upcoming),
        params=params,
    ).all()
    done = db.exec(
        select(theirs)
        .where(kept, theirs.starts_at <= now)
        .order_by(theirs.starts_at.desc(), theirs.id.desc())
        .limit(past),
        params=params,
    ).all()
    marks = {
        a.session_id: a.status
        for a in db.exec(
            select(Attendance).where(
                Attendance.participant_id == participant.id,
                col(Attendance.session_id).in_([s.id for s in done]),
            )
        )
    }
    return Overview(list(ahead), [AttendanceRow(s, marks.get(s.id)) for s in done])


def export_records(db: Session, *, user: User) -> list[dict]:
    """The participant's sessions with their attendance, for "My data" (no video links)."""
    marks = {
        a.session_id: a.status
        for a in db.exec(select(Attendance).where(Attendance.participant_id == user.id))
    }
    return [
        {
            "starts_at": s.starts_at.isoformat(),
            "title": s.title,
            "kind": s.kind_name,
            "minutes": s.duration_minutes,
            "cancelled": s.cancelled_at is not None,
            "attendance": marks.get(s.id, ""),
        }
        for s in for_participant(db, participant=user)
    ]


# --- Calendars ---------------------------------------------------------------------------------


def calendar(sessions: list[TherapySession], *, include_links: bool, name: str) -> bytes:
    """An iCalendar file: titles and times, and video links only when asked for. No clinical
    detail: the event says who it is with only as 'your care team'."""
    cal = Calendar()
    cal.add("prodid", "-//IOP Companion//Sessions//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    for s in sessions:
        event = Event()
        event.add("uid", f"session-{s.id}@iop-companion")
        event.add("dtstamp", s.updated_at or s.created_at)
        event.add("dtstart", s.starts_at)
        event.add("dtend", s.ends_at)
        event.add("summary", s.title)
        event.add("status", "CANCELLED" if s.cancelled_at else "CONFIRMED")
        if include_links:
            event.add("location", s.video_url)
            event.add("url", s.video_url)
        cal.add_component(event)
    return cal.to_ical()


def new_feed(db: Session, *, user: User, include_links: bool) -> str:
    """Create or replace the participant's feed; the old URL stops working. Returns the token."""
    token = secrets.token_urlsafe(24)
    feed = db.exec(select(CalendarFeed).where(CalendarFeed.user_id == user.id)).first()
    feed = feed or CalendarFeed(user_id=user.id, token_hash="")
    feed.token_hash, feed.include_links, feed.created_at = (
        token_hash(token),
        include_links,
        utcnow(),
    )
    db.add(feed)
    return token


def feed_owner(db: Session, token: str) -> tuple[CalendarFeed, User] | None:
    found = db.exec(
        select(CalendarFeed, User)
        .join(User, col(User.id) == CalendarFeed.user_id)
        .where(CalendarFeed.token_hash == token_hash(token))
    ).first()
    return found if found and found[1].is_active else None


# --- Discharge (the `features.Lifecycle` sessions registers) ----------------------------------


def _coming_own(db: Session, person: User) -> list[TherapySession]:
    """The participant's own sessions (individual and family) still to come."""
    return list(
        db.exec(
            select(TherapySession)
            .where(
                TherapySession.participant_id == person.id,
                col(TherapySession.cancelled_at).is_(None),
                TherapySession.starts_at > utcnow(),
            )
            .order_by(col(TherapySession.starts_at))
        )
    )


def cancel_on_discharge(db: Session, *, person: User, day: date, by: User) -> None:
    """A participant discharged to alumni: their own sessions still to come are cancelled, each
    with the usual notification and audit row (`cancel`). Their cohort groups' sessions stop
    showing because they left those groups; past sessions and attendance stay."""
    for session in _coming_own(db, person):
        cancel(db, session=session, by=by)


def discharge_preview(db: Session, *, person: User) -> list[str]:
    count = len(_coming_own(db, person))
    if not count:
        return []
    what = "session still to come is" if count == 1 else "sessions still to come are"
    return [f"{count} individual or family {what} cancelled, and they are told."]
