"""Sessions: the therapist schedules; the participant sees times and joins; family guests join
through a private link; calendars subscribe to a private feed."""

from __future__ import annotations

from datetime import date, time, timedelta

from flask import Blueprint, Response, abort, flash, redirect, request, session, url_for
from flask_login import current_user
from sqlmodel import col, func, select
from wtforms.fields.choices import SelectChoice

from iop_pwa import access, dates
from iop_pwa.access import Action, load_or_404, parse_id
from iop_pwa.accounts.models import Group, User
from iop_pwa.db import get_db, utcnow
from iop_pwa.extensions import limiter
from iop_pwa.pwa import outbox
from iop_pwa.security import audit_event, audit_staff_list
from iop_pwa.therapy import services
from iop_pwa.therapy.forms import EditSessionForm, FeedForm, GuestForm, SessionForm
from iop_pwa.therapy.models import (
    ATTENDANCE,
    Attendance,
    CalendarFeed,
    FamilyGuest,
    TherapySession,
)
from iop_pwa.therapy.policies import FAMILY_GUEST, THERAPY_SESSION
from iop_pwa.therapy.sections import SHOWN_FEED
from iop_pwa.web import (
    form_status,
    in_zone,
    local_today,
    participant_required,
    render_page,
    staff_required,
)

bp = Blueprint("sessions", __name__)

SHOWN_GUEST_LINKS = "guest_links"  # raw guest tokens, kept only in the therapist's own session


# --- Participant -------------------------------------------------------------------------------


def _my_session(session_id: int) -> TherapySession:
    """One of the participant's own sessions or their groups' (else an audited 404)."""
    return load_or_404(THERAPY_SESSION, session_id)


@bp.get("/sessions")
@participant_required
@outbox.keep_offline
def index():
    now = utcnow()
    upcoming, past = services.upcoming_and_past(get_db(), participant=current_user, now=now)
    return render_page(
        "therapy/index.html",
        upcoming=upcoming,
        past=past,
        now=now,
        provider=services.provider_name,
    )


@bp.get("/sessions/<int:session_id>")
@participant_required
@outbox.keep_offline
def show(session_id: int):
    s = _my_session(session_id)
    return render_page(
        "therapy/session.html",
        s=s,
        group=get_db().get(Group, s.group_id) if s.group_id else None,
        now=utcnow(),
        provider=services.provider_name,
    )


@bp.get("/sessions/<int:session_id>/join")
@participant_required
def join_button(session_id: int):
    """The join area alone: polled by htmx until the link opens, so it appears without a
    reload; answers 286 (htmx: stop polling) once it is open or over."""
    s = _my_session(session_id)
    now = utcnow()
    response = Response(
        render_page(
            "therapy/_join.html",
            s=s,
            now=now,
            provider=services.provider_name,
            block="join",
            tz=current_user.timezone,
        )[0]
    )
    if s.can_join(now) or s.ends_at <= now or s.cancelled_at:
        response.status_code = 286
    return response


@bp.get("/sessions/<int:session_id>.ics")
@participant_required
def ics(session_id: int):
    s = _my_session(session_id)
    body = services.calendar([s], include_links=True, name="Therapy session")
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="session-{s.id}.ics"'},
    )


@bp.get("/calendar/<token>.ics")
@limiter.limit("60 per hour")
def feed(token: str):
    """A calendar app's subscription: no sign-in (calendar apps can't), a secret in the URL."""
    db = get_db()
    found = services.feed_owner(db, token)
    if found is None:
        abort(404)
    feed_row, person = found
    now = utcnow()
    sessions = services.for_participant(db, participant=person, since=now - timedelta(days=30))
    body = services.calendar(
        sessions, include_links=feed_row.include_links, name="Therapy sessions"
    )
    response = Response(body, mimetype="text/calendar")
    # Never kept by a cache: a revoked or replaced link must stop working at once.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/calendar")
@participant_required
def new_feed():
    form = FeedForm()
    if form.validate_on_submit():
        db = get_db()
        token = services.new_feed(db, user=current_user, include_links=form.include_links.data)
        audit_event("calendar_feed_created")
        session[SHOWN_FEED] = token
        flash("Your calendar link is ready. Any earlier link no longer works.")
    return redirect(url_for("accounts.account") + "#calendar", 303)


@bp.post("/account/calendar/revoke")
@participant_required
def revoke_feed():
    db = get_db()
    feed_row = db.exec(select(CalendarFeed).where(CalendarFeed.user_id == current_user.id)).first()
    if feed_row:
        db.delete(feed_row)
        audit_event("calendar_feed_revoked")
    session.pop(SHOWN_FEED, None)
    flash("Your calendar link is turned off.")
    return redirect(url_for("accounts.account") + "#calendar", 303)


# --- Family guests -------------------------------------------------------------------------------


@bp.get("/guest/<token>")
@limiter.limit("60 per hour")
def guest(token: str):
    """A family guest's page: only the session time, a Join button and a privacy notice."""
    found = services.guest_for_token(get_db(), token, utcnow())
    if found is None:
        return render_page("therapy/guest_invalid.html", status=404)
    guest_row, s = found
    response = Response(
        render_page(
            "therapy/guest.html",
            guest=guest_row,
            s=s,
            now=utcnow(),
            provider=services.provider_name,
        )[0]
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# --- Therapist -----------------------------------------------------------------------------------


def _managed_session(session_id: int, action: Action = Action.change) -> TherapySession:
    """A session for someone on the therapist's caseload or a group they facilitate."""
    return load_or_404(THERAPY_SESSION, session_id, action)


def _session_form(formdata=None, **defaults) -> SessionForm:
    db = get_db()
    form = (
        SessionForm(formdata=formdata, **defaults)
        if formdata is not None
        else SessionForm(**defaults)
    )
    people = db.exec(  # those a session may be for: PARTICIPANT, change
        select(User)
        .where(access.PARTICIPANT.where(current_user, Action.change))
        .order_by(func.lower(User.name))
    ).all()
    audit_staff_list("session form", len(people))
    form.participant.choices = [SelectChoice("", "Choose a participant")] + [
        SelectChoice(str(p.id), p.name) for p in people
    ]
    form.group.choices = [SelectChoice("", "Choose a group")] + [
        SelectChoice(str(g.id), g.name) for g in access.my_groups(db, current_user.id)
    ]
    return form


@bp.get("/dashboard/sessions")
@staff_required
def staff_index():
    if request.args.get("view") == "week":
        return _week()
    db = get_db()
    now = utcnow()
    mine = list(
        db.exec(
            select(TherapySession)
            .where(
                TherapySession.therapist_id == current_user.id,
                THERAPY_SESSION.where(current_user, db=db),
                TherapySession.starts_at >= now - timedelta(days=14),
            )
            .order_by(col(TherapySession.starts_at))
        )
    )
    audit_staff_list("sessions", len({s.participant_id for s in mine if s.participant_id}))
    return render_page(
        "therapy/staff_index.html",
        upcoming=[s for s in mine if s.ends_at > now],
        recent=[s for s in reversed(mine) if s.ends_at <= now],
        now=now,
        provider=services.provider_name,
        names=_names(db, mine),
        active="sessions",
    )


WEEKS_BACK, WEEKS_AHEAD = 53, 105  # about the window the session form accepts dates in


def _week():
    """The therapist's week, Monday to Sunday in their time zone (`?view=week&start=DATE` shows
    the week holding DATE): one query for the sessions with who each is for."""
    zone = current_user.timezone
    today = local_today(zone)
    this_monday = today - timedelta(days=today.weekday())
    raw = request.args.get("start", "").strip()
    if raw:
        try:
            first = date.fromisoformat(raw)
        except ValueError:
            return _refused_week("Choose the week with a date written like 2026-03-02.")
        first -= timedelta(days=first.weekday())
    else:
        first = this_monday
    earliest = this_monday - timedelta(weeks=WEEKS_BACK)
    latest = this_monday + timedelta(weeks=WEEKS_AHEAD)
    if not earliest <= first <= latest:
        between = f"{dates.date_(earliest)} and {dates.date_(latest)}"
        return _refused_week(f"Choose a week between {between}.")
    rows = list(
        get_db().exec(
            select(TherapySession, User.name, Group.name)
            .outerjoin(User, col(User.id) == TherapySession.participant_id)
            .outerjoin(Group, col(Group.id) == TherapySession.group_id)
            .where(
                TherapySession.therapist_id == current_user.id,
                THERAPY_SESSION.where(current_user),
                TherapySession.starts_at >= services.local_to_utc(first, time(0), zone),
                TherapySession.starts_at
                < services.local_to_utc(first + timedelta(days=7), time(0), zone),
            )
            .order_by(col(TherapySession.starts_at), col(TherapySession.id))
        )
    )
    days = {first + timedelta(days=n): [] for n in range(7)}
    for s, person, group in rows:
        day = in_zone(s.starts_at, zone).date()
        days.setdefault(day, []).append((s, person or group or ""))
    audit_staff_list("sessions week", len({s.participant_id for s, *_ in rows if s.participant_id}))
    previous, following = first - timedelta(weeks=1), first + timedelta(weeks=1)
    return render_page(
        "therapy/staff_week.html",
        days=days,
        first=first,
        today=today,
        this_monday=this_monday,
        previous=previous if previous >= earliest else None,
        following=following if following <= latest else None,
        active="sessions",
    )


def _refused_week(reason: str):
    return render_page(
        "errors/error.html",
        code=400,
        title="That week can't be shown",
        text=reason,
        status=400,
    )


def _names(db, sessions) -> dict:
    """Who each session is for, by name (participants) or group name: two queries."""
    people = {s.participant_id for s in sessions if s.participant_id}
    groups = {s.group_id for s in sessions if s.group_id}
    names = {}
    if people:
        names.update(
            {("p", u.id): u.name for u in db.exec(select(User).where(col(User.id).in_(people)))}
        )
    if groups:
        names.update(
            {("g", g.id): g.name for g in db.exec(select(Group).where(col(Group.id).in_(groups)))}
        )
    return names


def _field_for(form, exc: services.SessionError):
    """The form field a refusal is about (its message shows beside it)."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is None:
        field = getattr(form, "kind", None)
    return field if field is not None else form.video_url


def _flash_clock_notes(day, at, weeks: int = 1) -> None:
    """Say which real time a date whose clock time doesn't exist (or happens twice) got."""
    for note in services.clock_notes(day, at, current_user.timezone, weeks):
        flash(note)


@bp.route("/dashboard/sessions/new", methods=["GET", "POST"])
@staff_required
def new():
    db = get_db()
    if request.method == "GET":
        form = _session_form(participant=request.args.get("participant", ""))
        return render_page("therapy/form.html", form=form, s=None, active="sessions")
    form = _session_form(formdata=request.form)
    if form.validate_on_submit():
        participant = group = None
        if form.participant.data:
            participant = load_or_404(access.PARTICIPANT, form.participant.data, Action.change)
        if form.group.data:
            group = load_or_404(access.GROUP, form.group.data, Action.change)
        try:
            created = services.schedule(
                db,
                therapist=current_user,
                kind=form.kind.data,
                title=form.title.data,
                day=form.day.data,
                at=form.at.data,
                duration_minutes=form.duration_minutes.data,
                video_url=form.video_url.data,
                participant=participant,
                group_id=group.id if group else None,
                repeat_weeks=form.repeat_weeks.data,
                already_happened=form.already_happened.data,
            )
        except services.SessionError as exc:
            _field_for(form, exc).errors = [str(exc)]
        else:
            count = f"{len(created)} session{'s' if len(created) > 1 else ''}"
            if form.already_happened.data:
                flash(f"Recorded {count} that already happened; nobody was notified.")
            else:
                flash(f"Scheduled {count}; participants were told.")
            _flash_clock_notes(form.day.data, form.at.data, form.repeat_weeks.data)
            return redirect(url_for("sessions.manage", session_id=created[0].id), 303)
    return render_page("therapy/form.html", form=form, s=None, active="sessions", status=422)


@bp.route("/dashboard/sessions/<int:session_id>", methods=["GET", "POST"])
@staff_required
def manage(session_id: int):
    s = _managed_session(session_id, Action.change if request.method == "POST" else Action.view)
    db = get_db()
    local = in_zone(s.starts_at, current_user.timezone)
    form = (
        EditSessionForm(
            data={
                "title": s.title,
                "day": local.date(),
                "at": local.time(),
                "duration_minutes": s.duration_minutes,
                "video_url": s.video_url,
            }
        )
        if request.method == "GET"
        else (EditSessionForm())
    )
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.reschedule(
                db,
                session=s,
                by=current_user,
                title=form.title.data,
                day=form.day.data,
                at=form.at.data,
                duration_minutes=form.duration_minutes.data,
                video_url=form.video_url.data,
            )
        except services.SessionError as exc:
            _field_for(form, exc).errors = [str(exc)]
        else:
            flash("The session is updated; participants were told.")
            _flash_clock_notes(form.day.data, form.at.data)
            return redirect(url_for("sessions.manage", session_id=s.id), 303)
    if request.method == "GET":
        audit_event(
            "staff_read",
            subject_id=s.participant_id,
            object_type="therapy_session",
            object_id=s.id,
            detail=f"session page, group {s.group_id}" if s.group_id else "session page",
        )
    guests = list(db.exec(select(FamilyGuest).where(FamilyGuest.session_id == s.id)))
    attendees = services.attendees(db, s)
    links = session.get(SHOWN_GUEST_LINKS, {})
    marks = {
        a.participant_id: a.status
        for a in db.exec(select(Attendance).where(Attendance.session_id == s.id))
    }
    return render_page(
        "therapy/manage.html",
        s=s,
        form=form,
        guests=guests,
        guest_form=GuestForm(),
        guest_links={int(k): v for k, v in links.items()},
        attendees=attendees,
        **_for_whom(db, s, attendees),
        marks=marks,
        choices=ATTENDANCE,
        now=utcnow(),
        provider=services.provider_name,
        active="sessions",
        status=form_status(),
    )


def _for_whom(db, s: TherapySession, attendees: list[User]) -> dict:
    """Who the session is for, for its page: the group (if any), and which of the people can be
    linked to their page (those on the therapist's caseload; anyone else's page is refused)."""
    ids = [p.id for p in attendees]
    linked = set(
        db.exec(
            select(User.id).where(col(User.id).in_(ids), access.PARTICIPANT.where(current_user))
        )
    )
    return {"group": db.get(Group, s.group_id) if s.group_id else None, "linked": linked}


@bp.post("/dashboard/sessions/<int:session_id>/cancel")
@staff_required
def cancel(session_id: int):
    s = _managed_session(session_id)
    db = get_db()
    services.cancel(db, session=s, by=current_user)
    flash("The session is cancelled; participants were told.")
    return redirect(url_for("sessions.manage", session_id=s.id), 303)


@bp.post("/dashboard/sessions/<int:session_id>/guests")
@staff_required
def add_guest(session_id: int):
    s = _managed_session(session_id)
    form = GuestForm()
    db = get_db()
    if not form.validate_on_submit():
        flash(" ".join(e for errors in form.errors.values() for e in errors))
        return redirect(url_for("sessions.manage", session_id=s.id), 303)
    try:
        g, token = services.add_guest(
            db, session=s, name=form.name.data, email=form.email.data or None, by=current_user
        )
    except services.SessionError as exc:
        flash(str(exc))
        return redirect(url_for("sessions.manage", session_id=s.id), 303)
    links = dict(session.get(SHOWN_GUEST_LINKS, {}))
    links[str(g.id)] = url_for("sessions.guest", token=token, _external=True)
    session[SHOWN_GUEST_LINKS] = dict(list(links.items())[-20:])
    flash(f"A private link for {g.name} is ready below.")
    return redirect(url_for("sessions.manage", session_id=s.id) + "#guests", 303)


@bp.post("/dashboard/sessions/guests/<int:guest_id>/revoke")
@staff_required
def revoke_guest(guest_id: int):
    db = get_db()
    g = load_or_404(FAMILY_GUEST, guest_id, Action.change)
    s = db.get(TherapySession, g.session_id)
    services.revoke_guest(db, guest=g, session=s, by=current_user)
    flash(f"{g.name}'s link no longer works.")
    return redirect(url_for("sessions.manage", session_id=s.id) + "#guests", 303)


@bp.post("/dashboard/sessions/<int:session_id>/attendance")
@staff_required
def attendance(session_id: int):
    s = _managed_session(session_id)
    db = get_db()
    if request.form.get("mark_all"):
        try:
            services.mark_all_attended(db, session=s, by=current_user)
        except services.SessionError as exc:
            flash(str(exc))
            return redirect(url_for("sessions.manage", session_id=s.id), 303)
        flash("Everyone is marked present.")
        return redirect(url_for("sessions.manage", session_id=s.id) + "#attendance", 303)
    allowed = {p.id for p in services.attendees(db, s)}
    try:
        for key, status in request.form.items():
            if not key.startswith("attendance-") or not status:
                continue
            pid = parse_id(key.removeprefix("attendance-"))
            if pid not in allowed:
                abort(400)
            services.mark_attendance(
                db, session=s, participant_id=pid, status=status, by=current_user, roster=allowed
            )
    except services.SessionError as exc:
        flash(str(exc))
        return redirect(url_for("sessions.manage", session_id=s.id), 303)
    flash("Attendance saved.")
    return redirect(url_for("sessions.manage", session_id=s.id) + "#attendance", 303)
