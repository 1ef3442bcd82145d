"""The feature contract: what a feature hands the app, and the one place core reads it.

Core (accounts, dashboard, participant, pwa, notifications, the worker, ...) never imports a
feature. Each feature package (journal, practice, therapy, and those to come) has one
`register(app)` that calls `add(app, Feature(...))` with what it contributes; `create_app`, the
composition root, calls every feature's `register`. Core then iterates `registry()`: the Today
page renders the registered Today sections, "My data" exports what every `DataRights` exports,
the worker runs every `Job`, and so on. Adding a feature never means editing core.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from flask import Flask, current_app, url_for
from markupsafe import Markup

EXTENSION_KEY = "iop_features"


@dataclass(frozen=True)
class Section:
    """A part of a page that a feature fills: a template included in the page and a function
    that gives it its variables. Today: `context(db, person, now)` with the participant and
    their local time; Account: `context(db, person)`; the therapist's participant page:
    `context(db, person)` with the participant. Sections show in `order`, smallest first."""

    key: str
    template: str
    context: Callable[..., dict[str, Any] | None]
    order: int = 100


@dataclass(frozen=True)
class DataRights:
    """What a feature keeps about a person. `export(db, person)` gives the records for "My
    data" (a list of flat dicts; None when there is nothing to export); `erase(db, person)`
    removes them before the account row goes (the database's cascades do the rest); `tables`
    are every table with the person's rows, so a test can prove nothing is forgotten; `deleted`
    says in plain words what deleting the account removes."""

    name: str
    tables: tuple[type, ...]
    deleted: tuple[str, ...]
    export: Callable[..., list[dict]] | None = None
    erase: Callable[..., None] | None = None


@dataclass(frozen=True)
class Job:
    """Periodic work for the worker: `run(db, now)` returns a count for the log (never personal
    data). It runs at most once `every` interval; the worker commits after each job."""

    name: str
    every: timedelta
    run: Callable[..., int]


# What a notification is about, so a person can choose which reach their phone (push
# preferences filter by category; the bell shows them all).
CATEGORIES = {
    "care_team": "Messages and feedback from your care team",
    "sessions": "Sessions",
    "practice": "Practice",
    "group": "Group activity",
    "alerts": "Alerts about people on your caseload",
    "other": "Other",
}


@dataclass(frozen=True)
class NotificationKind:
    """A kind of in-app notification and where it leads: `url_for(endpoint, **{param: id})`.
    `category` (a key of CATEGORIES) is what a person's reminder preferences filter on."""

    kind: str
    endpoint: str
    param: str | None = None
    category: str = "other"

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown notification category {self.category!r}")


# Kinds that core itself notifies: a safety flag for the care team (see `safety`), a
# participant discharged to alumni or re-admitted (see `accounts.lifecycle`), and a change to how
# someone signs in (see `accounts.second_factor.tell_changed`).
CORE_NOTIFICATION_KINDS = (
    NotificationKind("care_flag", "dashboard.home", None, "alerts"),
    NotificationKind("program_status", "participant.today", None, "care_team"),
    # A passkey, the authenticator app or recovery codes changed (accounts.second_factor).
    NotificationKind("sign_in_changed", "accounts.account", None, "other"),
)


@dataclass(frozen=True)
class ReminderSettings:
    """A person's reminder choices that a `ReminderSource` needs: the daily practice time
    (local, None: no daily reminder), how many minutes before a session to remind, and the
    local time of a daily digest of group activity (None: the person chose no digest)."""

    daily_time: time | None = time(18, 0)
    session_minutes: tuple[int, ...] = (60, 10)
    digest_time: time | None = None


@dataclass(frozen=True)
class Reminder:
    """Something due for a person at `at` (UTC). `key` names the occurrence (unique per person
    and reason, e.g. "practice:2026-11-29T18:00"), so a reminder is never sent twice. `url` is
    the app path it opens. `topic` (at most 32 base64url characters) lets a newer reminder
    replace an older undelivered one; `urgent` marks a session about to start; nothing after
    `expires_at` is sent."""

    user_id: int
    key: str
    at: datetime
    url: str
    category: str
    topic: str | None = None
    urgent: bool = False
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ReminderSource:
    """What a feature has due: `due(db, start, end, settings)` gives the `Reminder`s whose time
    falls in [start, end) (UTC), where `settings(user_id)` gives each person's
    `ReminderSettings`. The push feature asks every source each round; a source never sends."""

    name: str
    due: Callable[..., Iterable[Reminder]]


@dataclass(frozen=True)
class NavItem:
    """A link in the main navigation: the participant's bottom bar or the therapist's top bar
    (`audience` "participant" or "staff"), in `order` among core's own items (smallest first).
    `key` is what a page sets as `active` to mark it current. `unread(db, person)`, when given,
    counts what is new there; the navigation shows it ("Messages, 3 unread"). It runs on every
    page, so it must be one query."""

    audience: str
    key: str
    endpoint: str
    label: str
    order: int = 100
    unread: Callable[..., int] | None = None


# --- The therapist's dashboard: who needs attention, the caseload's facts, the timeline ----------

# Why someone needs attention, most urgent first: a `Need`'s rank. The dashboard lists people
# with a need first, by their most urgent rank, then everyone else.
RANK_SAFETY = 10  # an open safety flag (core: safety)
RANK_MOOD = 20  # mood falling (journal; check-ins may add scores)
RANK_QUIET = 30  # no activity for 3+ days, or never signed in (core)
RANK_MISSED = 40  # missed sessions (sessions)
RANK_REMINDERS = 50  # reminders reach no device (push)


@dataclass(frozen=True)
class Need:
    """One reason a participant needs attention: `rank` (RANK_*, smaller is more urgent) and
    `reason` in plain words for the therapist ("Three low mood check-ins in a row"), never
    anything the participant wrote. `since` is when it began, where known."""

    participant_id: int
    rank: int
    reason: str
    since: datetime | None = None


@dataclass(frozen=True)
class NeedSource:
    """`needs(db=, participants=, now=)` gives the `Need`s of many participants at once (a list of
    `User`s, active and alumni; a source decides whom its reason applies to), in a fixed number
    of queries however long the list. Core's safety flags and inactivity are sources too."""

    name: str
    needs: Callable[..., Iterable[Need]]


@dataclass(frozen=True)
class Fact:
    """What a caseload row shows in one column: `text` in words (what a screen reader and a test
    read); `html`, when given, is shown instead and must carry the same words (an SVG with a
    `<title>`, for instance)."""

    text: str
    html: Markup | None = None


@dataclass(frozen=True)
class CaseloadColumn:
    """A column of the dashboard's caseload lists: `facts(db=, participants=, now=)` gives a
    `Fact` per participant id (missing: "None yet"), for many participants at once in a fixed
    number of queries. `audience` is the list it belongs to: "active" (in the program) or
    "alumni" (the list below it, e.g. check-ins' "Last check-in"). Columns show in `order`."""

    key: str
    label: str
    facts: Callable[..., dict[int, Fact]]
    order: int = 100
    audience: str = "active"


@dataclass(frozen=True)
class TimelineEntry:
    """One dated thing on a participant's timeline (the therapist's participant page): `at`
    (UTC), `kind` (a short word for styling and tests: "practice", "journal", "mood",
    "attendance", "message", "flag"), `title` in words, optional `detail` (what the participant
    chose to share, e.g. a reflection), an optional `url` to open it, and an optional action
    (a POST button: `action_label` at `action_url`, e.g. "Mark seen"). `key` is unique per
    entry ("completion:12")."""

    at: datetime
    kind: str
    key: str
    title: str
    detail: str = ""
    url: str | None = None
    action_label: str | None = None
    action_url: str | None = None


@dataclass(frozen=True)
class TimelineSource:
    """`entries(db=, person=, before=, limit=)` gives at most `limit` entries about `person`
    strictly before `before` (UTC), newest first, in a fixed number of queries (one, normally)."""

    name: str
    entries: Callable[..., list[TimelineEntry]]


@dataclass(frozen=True)
class QuickAction:
    """A link at the top of the therapist's participant page ("Assign practice"):
    `url(db=, person=)` gives where it leads, or None when it does not apply (a deactivated
    participant gets no new practice)."""

    key: str
    label: str
    url: Callable[..., str | None]
    order: int = 100


@dataclass(frozen=True)
class Lifecycle:
    """What a feature does when a participant leaves the program or comes back. Core's
    discharge (`accounts.lifecycle.discharge`) has already made them alumni (status, the day,
    their groups) when it calls `on_discharge(db, person=..., day=..., by=...)`; re-admission
    has made them active and put them in a cohort group when it calls `on_readmit(db,
    person=..., by=...)`. Both change the feature's own rows (audited, notifying through
    `notify()` as the feature always does) and never commit. `preview(db, person=...)` says
    in plain words what discharge will do to them (["2 practice assignments end; ..."]), for
    the therapist's confirmation step; it must not change anything."""

    name: str
    on_discharge: Callable[..., None] | None = None
    on_readmit: Callable[..., None] | None = None
    preview: Callable[..., list[str]] | None = None


@dataclass(frozen=True)
class QuickAnswer:
    """A question every open phone asks every few seconds ("anything new?"), answered before
    Flask when the answer is "nothing new": a 204 with no body, from one SQL statement that also
    checks the sign-in (see `iop_pwa.quick_answers`). Any other answer (something new, not
    allowed, not signed in, bad input) is the app's: the request then runs as always.

    `path` is matched whole against a GET's path; `params(match, query)` gives the statement's
    bound parameters from the path's groups and the query string (a dict of first values), or
    None when the request is not plainly one this answers. `nothing_new(reader, staff)` is a SQL
    boolean for a reader (the signed-in person's id column) of that audience: True only when the
    app would answer 204. Erring towards False costs speed, never correctness."""

    name: str
    path: re.Pattern
    params: Callable[[re.Match, dict[str, str]], dict[str, Any] | None]
    nothing_new: Callable[[Any, bool], Any]


@dataclass(frozen=True)
class Feature:
    name: str
    blueprints: tuple = ()
    # One `access.Policy` per kind of object the feature owns (see its policies.py); core can
    # look one up by kind (`registry().policy("journal_entry")`) without naming the feature.
    policies: tuple = ()
    data_rights: tuple[DataRights, ...] = ()
    today: tuple[Section, ...] = ()
    account: tuple[Section, ...] = ()
    participant_page: tuple[Section, ...] = ()
    jobs: tuple[Job, ...] = ()
    # Paths (exact, or a prefix ending in "/") of participant pages kept on the phone to read
    # offline; the view must also be decorated with `pwa.outbox.keep_offline`.
    offline_pages: tuple[str, ...] = ()
    notification_kinds: tuple[NotificationKind, ...] = ()
    nav: tuple[NavItem, ...] = ()
    reminder_sources: tuple[ReminderSource, ...] = ()
    lifecycle: tuple[Lifecycle, ...] = ()
    # The therapist's dashboard and participant page (see Need, CaseloadColumn, TimelineSource).
    needs: tuple[NeedSource, ...] = ()
    caseload_columns: tuple[CaseloadColumn, ...] = ()
    timeline: tuple[TimelineSource, ...] = ()
    quick_actions: tuple[QuickAction, ...] = ()
    # Hot polls answered before Flask when nothing is new (see QuickAnswer).
    quick_answers: tuple[QuickAnswer, ...] = ()


@dataclass
class Registry:
    features: list[Feature] = field(default_factory=list)

    def _all(self, attribute: str) -> Iterable:
        for feature in self.features:
            yield from getattr(feature, attribute)

    def sections(self, where: str) -> list[Section]:
        """The sections registered for a page ("today", "account", "participant_page")."""
        return sorted(self._all(where), key=lambda s: (s.order, s.key))

    def policy(self, kind: str):
        """The registered access policy for a kind of object (KeyError if none)."""
        for policy in self._all("policies"):
            if policy.kind == kind:
                return policy
        raise KeyError(kind)

    def has_policy(self, kind: str) -> bool:
        """Whether some feature registered a policy for this kind of object (so the app has
        such objects: e.g. the Help page speaks of messages only if there are messages)."""
        return any(policy.kind == kind for policy in self._all("policies"))

    def nav(self, audience: str) -> list[NavItem]:
        """The navigation items features registered for "participant" or "staff"."""
        return [item for item in self._all("nav") if item.audience == audience]

    @property
    def data_rights(self) -> list[DataRights]:
        return list(self._all("data_rights"))

    @property
    def jobs(self) -> list[Job]:
        return list(self._all("jobs"))

    @property
    def offline_pages(self) -> list[str]:
        return list(self._all("offline_pages"))

    @property
    def reminder_sources(self) -> list[ReminderSource]:
        return list(self._all("reminder_sources"))

    @property
    def lifecycle(self) -> list[Lifecycle]:
        """Every feature's discharge and re-admission hooks, in registration order."""
        return list(self._all("lifecycle"))

    @property
    def need_sources(self) -> list[NeedSource]:
        return list(self._all("needs"))

    def caseload_columns(self, audience: str) -> list[CaseloadColumn]:
        """The columns features registered for the "active" or "alumni" list, in order."""
        found = [c for c in self._all("caseload_columns") if c.audience == audience]
        return sorted(found, key=lambda c: (c.order, c.key))

    @property
    def timeline_sources(self) -> list[TimelineSource]:
        return list(self._all("timeline"))

    @property
    def quick_actions(self) -> list[QuickAction]:
        return sorted(self._all("quick_actions"), key=lambda a: (a.order, a.key))

    @property
    def quick_answers(self) -> list[QuickAnswer]:
        return list(self._all("quick_answers"))

    def notification_kind(self, kind: str) -> NotificationKind | None:
        for known in (*CORE_NOTIFICATION_KINDS, *self._all("notification_kinds")):
            if known.kind == kind:
                return known
        return None

    def notification_category(self, kind: str) -> str:
        """The category of a notification kind ("other" for a kind nobody registered)."""
        known = self.notification_kind(kind)
        return known.category if known else "other"

    def notification_link(self, kind: str, object_id: int | None) -> str | None:
        """Where a notification of this kind leads, built with url_for (None: nowhere)."""
        for known in (*CORE_NOTIFICATION_KINDS, *self._all("notification_kinds")):
            if known.kind == kind:
                if known.param is None:
                    return url_for(known.endpoint)
                return url_for(known.endpoint, **{known.param: object_id}) if object_id else None
        return None


def add(app: Flask, feature: Feature) -> None:
    """Register a feature: its blueprints now, the rest for core to read through `registry()`."""
    found = app.extensions.setdefault(EXTENSION_KEY, Registry())
    if any(f.name == feature.name for f in found.features):
        raise ValueError(f"feature {feature.name!r} is registered twice")
    known = {p.kind for p in found._all("policies")}
    if clash := known & {p.kind for p in feature.policies}:
        raise ValueError(f"policies for {sorted(clash)} are registered twice")
    for blueprint in feature.blueprints:
        app.register_blueprint(blueprint)
    found.features.append(feature)


def registry(app: Flask | None = None) -> Registry:
    return (app or current_app).extensions.setdefault(EXTENSION_KEY, Registry())


def render_sections(where: str, **arguments) -> list[Markup]:
    """Each registered section of a page, rendered in order, for the page to place. A section
    whose context function answers None has nothing to show this person and is left out.

    The context processors run once for all the sections, not once each (`render_template`
    would run every one of them again for each section of a page)."""
    rendered = []
    shared: dict[str, Any] | None = None
    for section in registry().sections(where):
        values = section.context(**arguments)
        if values is None:
            continue
        if shared is None:
            shared = {}
            current_app.update_template_context(shared)
        template = current_app.jinja_env.get_template(section.template)
        rendered.append(Markup(template.render({**shared, **values})))  # noqa: S704
    return rendered
