"""A person's reminder preferences: what reaches them, how, and when not (quiet hours)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from iop_pwa.accounts.models import User
from iop_pwa.db import utcnow
from iop_pwa.features import ReminderSettings
from iop_pwa.push.models import ReminderPreference

# Which preference lets each notification category through ("test" and "other" always pass).
CATEGORY_FIELD = {
    "care_team": "care_team",
    "sessions": "session_reminders",
    "practice": "daily_practice",
    "group": "group_activity",
    "alerts": "alerts",
}
SESSION_MINUTE_CHOICES = (10, 15, 30, 60, 120, 1440)
# How reminders reach a person (Account → Reminders, "How"): stored as by_push / by_email.
CHANNEL_CHOICES = {"push": (True, False), "email": (False, True), "both": (True, True)}


def channels(pref: ReminderPreference, mail_enabled: bool) -> tuple[str, ...]:
    """The ways reminders reach the person: email only where the program set up mail, and push
    whenever email does not (someone who chose email where mail went away is not left with
    nothing)."""
    email = bool(pref.by_email) and mail_enabled
    push = bool(pref.by_push) or not email
    return ("push",) * push + ("email",) * email


def channel_choice(pref: ReminderPreference) -> str:
    """The form's answer for the stored pair ("push" when neither is set)."""
    if pref.by_email:
        return "both" if pref.by_push else "email"
    return "push"


def load(db: Session, user_id: int) -> ReminderPreference:
    """The person's preferences (the defaults, unsaved, when they never chose)."""
    return db.get(ReminderPreference, user_id) or ReminderPreference(user_id=user_id)


def session_minutes(pref: ReminderPreference) -> tuple[int, ...]:
    found = {int(m) for m in pref.session_minutes.split(",") if m.strip().isdigit()}
    return tuple(sorted((m for m in found if m in SESSION_MINUTE_CHOICES), reverse=True))


def is_quiet(pref: ReminderPreference, local: time) -> bool:
    """Whether a local time falls in the quiet hours (which may run past midnight)."""
    start, end = pref.quiet_start, pref.quiet_end
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def local_moment(day, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time on a local date, in UTC. In the spring gap the time moves
    forward by the gap (02:30 becomes 03:30); in the autumn repeat the first one counts."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def after_quiet_hours(pref: ReminderPreference, timezone: str, at: datetime) -> datetime:
    """`at`, or the end of the quiet hours it falls in (in the person's zone)."""
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    if not is_quiet(pref, local.time().replace(tzinfo=None)):
        return at
    day = local.date()
    end = local_moment(day, pref.quiet_end, zone)
    if end <= at:
        end = local_moment(day + timedelta(days=1), pref.quiet_end, zone)
    return end


class Cache:
    """Preferences and time zones of many people, each read once (for a worker round)."""

    def __init__(self, db: Session, user_ids: set[int] | None = None) -> None:
        self.db = db
        query = select(ReminderPreference)
        if user_ids is not None:
            query = query.where(col(ReminderPreference.user_id).in_(user_ids))
        self.rows = {p.user_id: p for p in db.exec(query)}
        self.zones: dict[int, str] = {}
        self._defaults: ReminderPreference | None = None

    def get(self, user_id: int) -> ReminderPreference:
        """The person's row, or one shared row of defaults (read only: making a model object
        per person costs more than the rest of a round)."""
        found = self.rows.get(user_id)
        if found is None:
            if self._defaults is None:
                self._defaults = ReminderPreference(user_id=0)
            return self._defaults
        return found

    def settings(self, user_id: int) -> ReminderSettings:
        pref = self.get(user_id)
        return ReminderSettings(
            daily_time=pref.daily_time if pref.daily_practice else None,
            session_minutes=session_minutes(pref) if pref.session_reminders else (),
            # The group digest comes at the daily reminder time, whether or not the daily
            # practice reminder is on.
            digest_time=pref.daily_time if pref.group_activity else None,
        )

    def wants(self, user_id: int, category: str) -> bool:
        field = CATEGORY_FIELD.get(category)
        return True if field is None else bool(getattr(self.get(user_id), field))

    def channels(self, user_id: int, mail_enabled: bool) -> tuple[str, ...]:
        return channels(self.get(user_id), mail_enabled)

    def after_quiet_hours(self, user_id: int, at: datetime) -> datetime:
        pref = self.get(user_id)
        if pref.quiet_start is None or pref.quiet_end is None:
            return at
        if user_id not in self.zones:
            self.zones[user_id] = self.db.exec(
                select(User.timezone).where(User.id == user_id)
            ).one()
        return after_quiet_hours(pref, self.zones[user_id], at)


def save(db: Session, *, user: User, **values) -> ReminderPreference:
    """Store the person's choices (the form checked them)."""
    pref = load(db, user.id)
    for name, value in values.items():
        setattr(pref, name, value)
    pref.updated_at = utcnow()
    db.add(pref)
    return pref
