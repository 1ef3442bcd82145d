"""Therapy sessions: scheduling across DST, join windows, video links, family guests, calendars,
notifications and who may see what. Time is frozen at named moments."""

from __future__ import annotations

import functools
import html
import os
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from icalendar import Calendar
from sqlalchemy import event, insert
from sqlmodel import select

from iop_pwa.notifications import Notification
from iop_pwa.therapy import services
from iop_pwa.therapy.models import Attendance, TherapySession
from tests.helpers import analyze, plan_of, schedule_session, signed_in

# Monday 2 March 2026, 09:00 in New York. DST starts there on Sunday 8 March (02:00 -> 03:00)
# and in London on Sunday 29 March.
MONDAY_NY_9AM = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


# When the people below joined: before every moment the tests freeze, since a group's sessions
# are a member's from the day they joined.
JOINED = datetime(2026, 2, 2, 14, 0, tzinfo=UTC)


@pytest.fixture
def people(make_user):
    with time_machine.travel(JOINED, tick=False):
        therapist = make_user("therapist", email="t@example.test", group="Evening")
        sam = make_user(
            "participant",
            email="sam@example.test",
            name="Sam Rivera",
            therapist=therapist,
            group="Evening",
            timezone="Europe/London",
        )
    return therapist, sam


# --- Links -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://zoom.us/j/1",
        "javascript:alert(1)",
        "data:text/html,hi",
        "ftp://x.org/a",
        "https://",
        "https:///path",
        "zoom.us/j/1",
        "https://exa mple.com",
        "https://user:pw@zoom.us",
        "https://localhost/x",
        "https://zoom.us:99999/x",
        "",
    ],
)
def test_bad_video_links_are_refused(url):
    with pytest.raises(services.SessionError):
        services.check_video_url(url)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://zoom.us/j/123", "Zoom"),
        ("https://us02web.zoom.us/j/123?pwd=x", "Zoom"),
        ("https://meet.google.com/abc-defg-hij", "Google Meet"),
        ("https://teams.microsoft.com/l/meetup-join/x", "Microsoft Teams"),
        ("https://doxy.me/drlopez", "Doxy.me"),
        ("https://clinic.webex.com/meet/x", "Webex"),
        ("https://vsee.me/u/drlopez", "VSee"),
    ],
)
def test_known_video_services_and_their_subdomains_are_accepted_and_named(url, name):
    assert services.check_video_url(url) == url
    assert services.provider_name(url) == name


@pytest.mark.parametrize(
    "url",
    [
        "https://zoom.us.evil.example/j/1",
        "https://notzoom.us/j/1",
        "https://evilzoom.us/j/1",
        "https://video.example.org/room/5",
        "https://meet.google.com.evil.example/x",
    ],
)
def test_links_on_other_hosts_are_refused_with_a_clear_message(url):
    with pytest.raises(services.SessionError, match="known video service"):
        services.check_video_url(url)


def test_a_configured_extra_domain_is_accepted_and_shown_by_its_host(app, people, db):
    therapist, sam = people
    url = "https://room.video.clinic.example/5"
    with time_machine.travel(MONDAY_NY_9AM, tick=False):  # the form's 5 March is to come
        client = signed_in(app, therapist.email)
        refused = schedule_session(client, 422, participant=str(sam.id), video_url=url)
        assert "known video service" in refused.get_data(as_text=True)
        app.config["VIDEO_DOMAINS_EXTRA"] = ("video.clinic.example",)
        schedule_session(client, participant=str(sam.id), video_url=url)
    assert db.exec(select(TherapySession)).one().video_url == url
    with app.app_context():
        assert services.provider_name(url) == "room.video.clinic.example"
        with pytest.raises(services.SessionError):
            services.check_video_url("https://video.clinic.example.evil.example/5")


def test_extra_video_domains_are_read_from_the_environment(monkeypatch):
    from iop_pwa.config import ConfigError, load_settings

    monkeypatch.setenv("VIDEO_DOMAINS_EXTRA", " Video.Clinic.Example, *.telehealth.example ,")
    settings = load_settings(os.environ["INSTANCE_PATH"])
    assert settings["VIDEO_DOMAINS_EXTRA"] == ("video.clinic.example", "telehealth.example")
    monkeypatch.setenv("VIDEO_DOMAINS_EXTRA", "https://video.clinic.example/")
    with pytest.raises(ConfigError):
        load_settings(os.environ["INSTANCE_PATH"])


# The form says 5 March 2026: a day more than a year back is refused for that instead.
@time_machine.travel(MONDAY_NY_9AM, tick=True)
def test_a_bad_link_in_the_form_is_a_clear_422_and_nothing_is_saved(app, people, db):
    therapist, sam = people
    client = signed_in(app, therapist.email)
    response = schedule_session(
        client, 422, participant=str(sam.id), video_url="javascript:alert(1)"
    )
    assert "https://" in response.get_data(as_text=True)
    assert db.exec(select(TherapySession)).all() == []


# --- Time --------------------------------------------------------------------------------------


def test_weekly_repeats_keep_the_local_time_across_dst(app, people, db):
    therapist, sam = people  # therapist in New York, Sam in London
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        client = signed_in(app, therapist.email)
        response = schedule_session(
            client,
            kind="group",
            group=_group_id(db),
            day="2026-03-05",
            at="18:00",
            repeat_weeks="4",
        )
        assert response.status_code == 303
    starts = [s.starts_at for s in db.exec(select(TherapySession).order_by(TherapySession.id))]
    assert starts == [
        datetime(2026, 3, 5, 23, 0, tzinfo=UTC),  # 18:00 EST
        datetime(2026, 3, 12, 22, 0, tzinfo=UTC),  # 18:00 EDT, after the change
        datetime(2026, 3, 19, 22, 0, tzinfo=UTC),
        datetime(2026, 3, 26, 22, 0, tzinfo=UTC),
    ]
    assert len({s.series_id for s in db.exec(select(TherapySession))}) == 1


def _group_id(db):
    from iop_pwa.accounts.models import Group

    return str(db.exec(select(Group).where(Group.name == "Evening")).one().id)


def test_the_spring_gap_moves_forward_and_the_autumn_repeat_takes_the_first():
    gap = services.local_to_utc(date(2026, 3, 8), time(2, 30), "America/New_York")
    assert gap == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT: the hour that exists
    repeat = services.local_to_utc(date(2026, 11, 1), time(1, 30), "America/New_York")
    assert repeat == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # the first 01:30 (EDT)


def test_participant_sees_times_in_their_zone_and_join_opens_ten_minutes_before(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False) as clock:
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id), day="2026-03-02", at="12:00")  # 17:00 UTC
        s = db.exec(select(TherapySession)).one()
        p = signed_in(app, sam.email)
        page = p.get("/sessions").get_data(as_text=True)
        assert "Monday, March 2, 5:00\u202fPM" in page  # London, not New York
        assert "Join session</a>" not in page and "opens at" in page and "4:50\u202fPM" in page
        today = p.get("/today").get_data(as_text=True)
        assert "Check-in" in today and "data-countdown" in today

        clock.move_to(datetime(2026, 3, 2, 16, 49, tzinfo=UTC))
        join = p.get(f"/sessions/{s.id}/join", headers={"HX-Request": "true"})
        assert join.status_code == 200 and "Join session</a>" not in join.get_data(as_text=True)
        clock.move_to(datetime(2026, 3, 2, 16, 50, tzinfo=UTC))
        join = p.get(f"/sessions/{s.id}/join", headers={"HX-Request": "true"})
        assert join.status_code == 286  # htmx stops polling: the link is there
        assert 'href="https://zoom.us/j/123"' in join.get_data(as_text=True)
        clock.move_to(datetime(2026, 3, 2, 17, 49, tzinfo=UTC))
        assert "Join session</a>" in p.get(f"/sessions/{s.id}").get_data(as_text=True)
        clock.move_to(datetime(2026, 3, 2, 17, 50, tzinfo=UTC))
        page = p.get(f"/sessions/{s.id}").get_data(as_text=True)
        assert "Join session</a>" not in page and "has ended" in page


# --- Changes and notifications -----------------------------------------------------------------


def test_reschedule_and_cancel_notify_participants_and_show_in_calendar(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id), repeat_weeks="2")
        first, second = db.exec(select(TherapySession).order_by(TherapySession.id)).all()
        moved = t.post_form(
            f"/dashboard/sessions/{first.id}",
            {
                "title": "Check-in",
                "day": "2026-03-06",
                "at": "09:00",
                "duration_minutes": "50",
                "video_url": "https://meet.google.com/abc",
            },
        )
        assert moved.status_code == 303
        assert db.get(TherapySession, first.id).starts_at == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)
        # The next week's occurrence stays: 18:00 EDT on 12 March.
        assert db.get(TherapySession, second.id).starts_at == datetime(
            2026, 3, 12, 22, 0, tzinfo=UTC
        )
        t.post_form(f"/dashboard/sessions/{second.id}/cancel")
        texts = [
            n.text
            for n in db.exec(
                select(Notification).where(Notification.user_id == sam.id).order_by(Notification.id)
            )
        ]
        assert any("changed" in x for x in texts) and any("cancelled" in x for x in texts)
        p = signed_in(app, sam.email)
        assert "Cancelled" in p.get("/sessions").get_data(as_text=True)
        cal = Calendar.from_ical(p.get(f"/sessions/{second.id}.ics").data)
        [event] = list(cal.walk("VEVENT"))
        assert str(event["status"]) == "CANCELLED"


# --- Family guests -----------------------------------------------------------------------------


def _guest_link(client, session_id) -> str:
    client.post_form(
        f"/dashboard/sessions/{session_id}/guests", {"name": "Elena Rivera", "email": ""}
    )
    page = client.get(f"/dashboard/sessions/{session_id}").get_data(as_text=True)
    return re.search(r'value="https?://[^/]+(/guest/[^"]+)"', page).group(1)


def test_family_guest_link_shows_only_the_time_and_expires(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False) as clock:
        t = signed_in(app, therapist.email)
        schedule_session(
            t,
            kind="family",
            title="Family session",
            participant=str(sam.id),
            day="2026-03-02",
            at="12:00",
            video_url="https://doxy.me/room",
        )
        s = db.exec(select(TherapySession)).one()
        link = _guest_link(t, s.id)
        guest = app.test_client()
        page = guest.get(link)
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and "Welcome, Elena" in text and "privacy" in text.lower()
        assert "Sam" not in text and "Rivera" not in text.replace("Elena Rivera", "")
        assert "https://doxy.me/room" not in text  # not before the join window
        assert page.headers["Referrer-Policy"] == "no-referrer"
        clock.move_to(datetime(2026, 3, 2, 16, 55, tzinfo=UTC))
        assert "https://doxy.me/room" in guest.get(link).get_data(as_text=True)
        clock.move_to(datetime(2026, 3, 2, 17, 51, tzinfo=UTC))
        assert guest.get(link).status_code == 404  # ended


def test_a_revoked_guest_link_stops_working_and_guests_only_join_family_sessions(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        schedule_session(t, kind="family", participant=str(sam.id), day="2026-03-03")
        schedule_session(t, kind="individual", participant=str(sam.id), day="2026-03-03")
        family, individual = db.exec(select(TherapySession).order_by(TherapySession.id)).all()
        link = _guest_link(t, family.id)
        from iop_pwa.therapy.models import FamilyGuest

        guest = db.exec(select(FamilyGuest)).one()
        assert link.rsplit("/", 1)[1] not in guest.token_hash  # only the hash is stored
        t.post_form(f"/dashboard/sessions/guests/{guest.id}/revoke")
        assert app.test_client().get(link).status_code == 404
        t.post_form(f"/dashboard/sessions/{individual.id}/guests", {"name": "X", "email": ""})
        assert (
            db.exec(select(FamilyGuest).where(FamilyGuest.session_id == individual.id)).all() == []
        )


# --- Calendars ---------------------------------------------------------------------------------


def test_ics_file_parses_and_carries_no_clinical_detail(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id), title="Weekly check-in")
        s = db.exec(select(TherapySession)).one()
        p = signed_in(app, sam.email)
        response = p.get(f"/sessions/{s.id}.ics")
        assert response.mimetype == "text/calendar"
        [event] = list(Calendar.from_ical(response.data).walk("VEVENT"))
        assert str(event["summary"]) == "Weekly check-in"
        assert event.decoded("dtstart") == s.starts_at
        assert event.decoded("dtend") - event.decoded("dtstart") == timedelta(minutes=50)


def test_calendar_feed_opt_in_links_replace_and_revoke(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id))
        p = signed_in(app, sam.email)
        p.post_form("/account/calendar", {})
        first = re.search(
            r'id="feed-link"[^>]*value="https?://[^/]+([^"]+)"',
            p.get("/account").get_data(as_text=True),
        ).group(1)
        feed = app.test_client().get(first)
        assert feed.status_code == 200
        assert feed.headers["Cache-Control"] == "no-store"  # revoking works at once
        [event] = list(Calendar.from_ical(feed.data).walk("VEVENT"))
        assert "url" not in event and "location" not in event  # no video link unless opted in
        p.post_form("/account/calendar", {"include_links": "y"})
        second = re.search(
            r'id="feed-link"[^>]*value="https?://[^/]+([^"]+)"',
            p.get("/account").get_data(as_text=True),
        ).group(1)
        assert second != first
        assert app.test_client().get(first).status_code == 404  # replaced
        [event] = list(Calendar.from_ical(app.test_client().get(second).data).walk("VEVENT"))
        assert str(event["url"]) == "https://zoom.us/j/123"
        p.post_form("/account/calendar/revoke")
        assert app.test_client().get(second).status_code == 404


# --- Attendance and access --------------------------------------------------------------------


def test_attendance_is_marked_after_the_session_and_shown_on_the_participants_page(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False) as clock:
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id), day="2026-03-02", at="10:00")
        s = db.exec(select(TherapySession)).one()
        early = t.post_form(
            f"/dashboard/sessions/{s.id}/attendance", {f"attendance-{sam.id}": "attended"}
        )
        assert early.status_code == 303
        assert db.exec(select(Attendance)).all() == []
        clock.move_to(datetime(2026, 3, 2, 16, 0, tzinfo=UTC))
        t = signed_in(app, therapist.email)
        t.post_form(f"/dashboard/sessions/{s.id}/attendance", {f"attendance-{sam.id}": "late"})
        assert db.exec(select(Attendance)).one().status == "late"
        page = t.get(f"/dashboard/participants/{sam.id}").get_data(as_text=True)
        assert "<strong>Late</strong>" in page


def test_participants_see_only_their_own_and_their_groups_sessions(app, people, make_user, db):
    therapist, sam = people
    other = make_user("participant", therapist=therapist, email="o@example.test")
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id), title="Sam alone")
        schedule_session(t, kind="family", participant=str(sam.id), title="Sam family")
        schedule_session(t, kind="group", group=_group_id(db), title="Evening group")
        ids = {s.title: s.id for s in db.exec(select(TherapySession))}
        o = signed_in(app, other.email)
        page = o.get("/sessions").get_data(as_text=True)
        assert "Sam alone" not in page and "Sam family" not in page
        assert "Evening group" not in page  # not a member
        for title in ("Sam alone", "Sam family", "Evening group"):
            assert o.get(f"/sessions/{ids[title]}").status_code == 404
            assert o.get(f"/sessions/{ids[title]}.ics").status_code == 404
        s = signed_in(app, sam.email)
        page = s.get("/sessions").get_data(as_text=True)
        assert all(title in page for title in ids)
        outsider = signed_in(app, make_user("therapist").email)
        assert outsider.get(f"/dashboard/sessions/{ids['Sam alone']}").status_code == 404
        schedule_session(outsider, 404, participant=str(sam.id))


def test_only_sessions_opening_soon_are_polled(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id), day="2026-03-02", at="10:00", title="Soon")
        schedule_session(t, participant=str(sam.id), day="2026-03-05", at="10:00", title="Later")
        soon, later = db.exec(select(TherapySession).order_by(TherapySession.id)).all()
        page = signed_in(app, sam.email).get("/sessions").get_data(as_text=True)
        assert f'hx-get="/sessions/{soon.id}/join"' in page
        assert f'hx-get="/sessions/{later.id}/join"' not in page
        assert "on Thu, Mar 5" in page  # a day other than today is named


# --- One notification per series; changes name their date ------------------------------------


def _texts(db, person) -> list[str]:
    rows = select(Notification).where(Notification.user_id == person.id).order_by(Notification.id)
    return [n.text for n in db.exec(rows)]


def test_a_weekly_series_is_one_notification_and_a_change_names_its_date(
    app, people, make_user, db
):
    therapist, sam = people  # Sam in London, the therapist in New York
    with time_machine.travel(JOINED, tick=False):  # members before the series starts
        ny = make_user("participant", therapist=therapist, group="Evening", email="ny@example.test")
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        response = schedule_session(
            t,
            kind="group",
            group=_group_id(db),
            title="Weekend skills group",
            day="2026-03-07",
            at="10:00",
            repeat_weeks="12",
        )
        assert response.status_code == 303
        assert len(db.exec(select(TherapySession)).all()) == 12
        [for_ny] = _texts(db, ny)
        assert "Weekend skills group: Saturdays 10:00\u202fAM from Mar 7, 12 weeks." in for_ny
        assert "clocks change" not in for_ny
        # In London the US change comes three weeks before the UK's: 15:00, then 14:00.
        [for_sam] = _texts(db, sam)
        assert "Weekend skills group: Saturdays 3:00\u202fPM from Mar 7, 12 weeks." in for_sam
        assert "In some weeks the time is different for you because clocks change" in for_sam

        third, fourth = db.exec(select(TherapySession).order_by(TherapySession.starts_at)).all()[
            2:4
        ]
        moved = t.post_form(
            f"/dashboard/sessions/{third.id}",
            {
                "title": "Weekend skills group",
                "day": "2026-03-22",
                "at": "11:00",
                "duration_minutes": "50",
                "video_url": "https://zoom.us/j/123",
            },
        )
        assert moved.status_code == 303
        t.post_form(f"/dashboard/sessions/{fourth.id}/cancel")
    texts = _texts(db, ny)
    assert len(texts) == 3  # the series, the change, the cancellation: one each
    assert "Weekend skills group on Sat, Mar 21 is now Sunday, March 22, 11:00\u202fAM." in texts[1]
    assert "cancelled" in texts[2] and "Saturday, March 28, 10:00\u202fAM" in texts[2]
    assert "Saturday, March 28, 2:00\u202fPM" in _texts(db, sam)[2]  # in Sam's own zone


def test_the_bell_says_when_in_words_and_keeps_the_exact_time(app, people, db):
    from iop_pwa.notifications import notify

    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):  # 14:00 in London
        for hours_ago, text in ((2, "Two hours"), (20, "Last evening"), (74, "Friday")):
            row = notify(db, user_id=sam.id, kind="session_changed", text=text)
            row.created_at = MONDAY_NY_9AM - timedelta(hours=hours_ago)
        db.commit()
        page = signed_in(app, sam.email).get("/notifications").get_data(as_text=True)
    assert re.search(
        r'Sent <time datetime="2026-03-02T12:00:00\+00:00" '
        r'title="Monday, March 2, 2026, 12:00\u202fPM">'
        r"2 hours ago</time>",
        page,
    )
    assert re.search(r'title="Sunday, March 1, 2026, 6:00\u202fPM">yesterday</time>', page)
    assert re.search(r'title="Friday, February 27, 2026, 12:00\u202fPM">3 days ago</time>', page)


@pytest.mark.parametrize(
    ("minutes", "words"),
    [(0, "just now"), (5, "5 minutes ago"), (60 * 5, "5 hours ago"), (60 * 15, "yesterday")],
)
def test_relative_time_counts_the_persons_calendar_days(minutes, words):
    from iop_pwa.notifications.views import ago

    now = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York
    assert ago(now - timedelta(minutes=minutes), now, "America/New_York") == words


# --- Past starts and clock changes --------------------------------------------------------------


def test_a_start_in_the_past_is_refused_and_nobody_is_told(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        response = schedule_session(t, 422, participant=str(sam.id), day="2026-03-02", at="08:30")
        page = response.get_data(as_text=True)
        assert "Monday, March 2, 8:30\u202fAM has already passed" in page
        assert "Record a session that already happened" in page
        # The current minute still counts as now: a session starting as it is booked.
        assert (
            schedule_session(t, participant=str(sam.id), day="2026-03-02", at="09:00").status_code
            == 303
        )
    assert len(db.exec(select(TherapySession)).all()) == 1
    assert len(_texts(db, sam)) == 1


def test_a_session_that_already_happened_is_recorded_without_notifying(app, people, db):
    from iop_pwa.audit import AuditEvent

    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        recorded = schedule_session(
            t, participant=str(sam.id), day="2026-02-27", at="16:00", already_happened="y"
        )
        assert recorded.status_code == 303
        s = db.exec(select(TherapySession)).one()
        page = t.get(recorded.headers["Location"]).get_data(as_text=True)
        assert "nobody was notified" in page and 'id="attendance"' in page
        future = schedule_session(
            t, 422, participant=str(sam.id), day="2026-03-03", at="16:00", already_happened="y"
        )
        assert "is still to come" in future.get_data(as_text=True)
    assert s.starts_at == datetime(2026, 2, 27, 21, 0, tzinfo=UTC)
    assert _texts(db, sam) == []
    actions = {e.action for e in db.exec(select(AuditEvent)) if e.object_id == s.id}
    assert "session_recorded" in actions and "session_scheduled" not in actions


def test_moving_a_session_into_the_past_is_refused_but_its_details_can_change(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False) as clock:
        t = signed_in(app, therapist.email)
        schedule_session(t, participant=str(sam.id), day="2026-03-02", at="10:00")
        s = db.exec(select(TherapySession)).one()
        fields = {
            "title": "Check-in",
            "day": "2026-03-01",
            "at": "10:00",
            "duration_minutes": "50",
            "video_url": "https://zoom.us/j/123",
        }
        refused = t.post_form(f"/dashboard/sessions/{s.id}", fields)
        assert refused.status_code == 422
        assert "Sunday, March 1, 10:00\u202fAM has already passed" in refused.get_data(as_text=True)
        assert db.get(TherapySession, s.id).starts_at == s.starts_at
        clock.move_to(MONDAY_NY_9AM + timedelta(minutes=70))  # the session has begun
        t = signed_in(app, therapist.email)
        renamed = t.post_form(
            f"/dashboard/sessions/{s.id}", {**fields, "day": "2026-03-02", "title": "Renamed"}
        )
        assert renamed.status_code == 303
        assert db.get(TherapySession, s.id).title == "Renamed"


def test_times_in_a_clock_change_say_which_time_they_will_be(app, people, db):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM - timedelta(days=2), tick=False):  # Sat 28 Feb
        t = signed_in(app, therapist.email)
        response = schedule_session(
            t, participant=str(sam.id), day="2026-03-01", at="02:30", repeat_weeks="2"
        )
        page = html.unescape(t.get(response.headers["Location"]).get_data(as_text=True))
    assert (
        "Sunday, March 8: 2:30\u202fAM doesn't exist in New York (clocks go forward); "
        "it will be at 3:30\u202fAM." in page
    )
    second = db.exec(select(TherapySession).order_by(TherapySession.starts_at)).all()[1]
    assert second.starts_at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT


def test_clock_notes_for_the_gap_and_the_repeated_hour():
    assert services.clock_note(date(2026, 3, 9), time(2, 30), "America/New_York") is None
    assert services.clock_note(date(2026, 11, 1), time(1, 30), "America/New_York") == (
        "Sunday, November 1: 1:30\u202fAM happens twice in New York (clocks go back); "
        "it will be at the first 1:30\u202fAM (EDT), before the clocks change."
    )
    assert services.clock_notes(date(2026, 3, 15), time(1, 30), "Europe/London", 3) == [
        "Sunday, March 29: 1:30\u202fAM doesn't exist in London (clocks go forward); it will be at "
        "2:30\u202fAM."
    ]


# --- The therapist's week and "Mark all present" -------------------------------------------------


def test_the_week_view_shows_the_therapists_week_in_their_zone(app, people, db, count_queries):
    therapist, sam = people
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        t = signed_in(app, therapist.email)
        # 20:00 on Tuesday in New York is already Wednesday in UTC.
        schedule_session(t, participant=str(sam.id), day="2026-03-03", at="20:00", title="Late one")
        page = t.get("/dashboard/sessions?view=week").get_data(as_text=True)
        assert "Week of Monday, March 2, 2026" in page
        tuesday = page.index("Tuesday, March 3")
        assert tuesday < page.index("Late one") < page.index("Wednesday, March 4")
        assert "?view=week&amp;start=2026-03-09" in page  # next week
        assert "?view=week&amp;start=2026-02-23" in page  # previous week
        # Any day picks its week; the next week is empty.
        assert "Week of Monday, March 2" in t.get(
            "/dashboard/sessions?view=week&start=2026-03-05"
        ).get_data(as_text=True)
        assert "Late one" not in t.get("/dashboard/sessions?view=week&start=2026-03-09").get_data(
            as_text=True
        )
        counts = []
        for extra in (0, 6):
            if extra:
                schedule_session(
                    t, kind="group", group=_group_id(db), day="2026-03-04", repeat_weeks="1"
                )
                for day in ("2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08", "2026-03-03"):
                    schedule_session(t, participant=str(sam.id), day=day, at="11:00")
            with count_queries() as queries:
                assert t.get("/dashboard/sessions?view=week").status_code == 200
            counts.append(len(queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    ("start", "message"),
    [("next tuesday", "written like 2026-03-02"), ("9999-12-31", "Choose a week between")],
)
def test_a_week_that_cant_be_shown_is_a_clear_400(app, people, start, message):
    therapist, _ = people
    response = signed_in(app, therapist.email).get(f"/dashboard/sessions?view=week&start={start}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_mark_all_present_marks_every_attendee_through_the_audited_service(
    app, people, make_user, db
):
    from iop_pwa.audit import AuditEvent

    therapist, sam = people
    with time_machine.travel(JOINED, tick=False):  # members before the session
        others = [make_user("participant", therapist=therapist, group="Evening") for _ in range(2)]
    with time_machine.travel(MONDAY_NY_9AM, tick=False) as clock:
        t = signed_in(app, therapist.email)
        schedule_session(t, kind="group", group=_group_id(db), day="2026-03-02", at="10:00")
        s = db.exec(select(TherapySession)).one()
        clock.move_to(datetime(2026, 3, 2, 15, 30, tzinfo=UTC))
        t = signed_in(app, therapist.email)
        assert "Mark all present" in t.get(f"/dashboard/sessions/{s.id}").get_data(as_text=True)
        t.post_form(f"/dashboard/sessions/{s.id}/attendance", {f"attendance-{sam.id}": "late"})
        done = t.post_form(f"/dashboard/sessions/{s.id}/attendance", {"mark_all": "attended"})
        assert done.status_code == 303
    marks = {a.participant_id: a.status for a in db.exec(select(Attendance))}
    assert marks == dict.fromkeys([sam.id, *(p.id for p in others)], "attended")
    audited = [
        e.subject_id
        for e in db.exec(select(AuditEvent).where(AuditEvent.action == "attendance_marked"))
    ]
    assert sorted(audited) == sorted([sam.id, sam.id, *(p.id for p in others)])


def _note_load(loaded: list[int], target, context) -> None:
    loaded.append(target.id)


def test_the_sessions_page_lists_20_past_ones_and_costs_the_same_after_a_year(
    app, people, db, count_queries
):
    """The page reads the latest 20 past sessions in SQL, not a participant's whole history."""
    therapist, sam = people

    def add(title: str, starts_at: datetime, minutes: int = 50) -> None:
        db.add(
            TherapySession(
                therapist_id=therapist.id,
                kind="individual",
                title=title,
                starts_at=starts_at,
                duration_minutes=minutes,
                video_url="https://zoom.us/j/123",
                participant_id=sam.id,
            )
        )

    add("Under way", MONDAY_NY_9AM - timedelta(minutes=30), minutes=60)
    add("Next week", MONDAY_NY_9AM + timedelta(days=7))
    db.commit()
    with time_machine.travel(MONDAY_NY_9AM, tick=False):
        client = signed_in(app, sam.email)
        counts = []
        for weeks in (3, 52):
            for week in range(len(counts) and 3, weeks):
                add(f"Week {week + 1:02d} ago", MONDAY_NY_9AM - timedelta(weeks=week + 1))
            db.commit()
            client.get("/sessions")
            loaded: list[int] = []
            counting = functools.partial(_note_load, loaded)
            event.listen(TherapySession, "load", counting)
            try:
                with count_queries() as queries:
                    page = html.unescape(client.get("/sessions").get_data(as_text=True))
            finally:
                event.remove(TherapySession, "load", counting)
            counts.append((len(queries), len(set(loaded))))
    upcoming, past = page.split('id="past-heading"')
    assert "Under way" in upcoming and "Next week" in upcoming and "Week" not in upcoming
    shown = re.findall(r"Week (\d\d) ago", past)
    assert shown == [f"{n:02d}" for n in range(1, 21)]  # the latest 20, latest first
    # The same queries, and no more sessions read than shown, after three weeks or a year.
    assert counts[0][0] == counts[1][0], counts
    assert counts[1][1] <= 2 + 20 + 2, counts


def test_a_participants_sessions_are_read_by_index_not_by_scanning_the_programs(
    app, people, db, make_user
):
    """Issue 15's probe: on PostgreSQL, `participant_id = ? OR group_id IN (...)` read all 2,240
    sessions of a program to find one person's. With 40 groups of a year of weekly sessions and
    fresh statistics (ANALYZE), Today's query must use the indexes on both databases."""
    from iop_pwa.accounts.models import Group

    therapist, sam = people
    groups = [Group(name=f"Cohort {n}") for n in range(40)]
    db.add_all(groups)
    db.flush()
    first = MONDAY_NY_9AM - timedelta(weeks=50)
    rows = [
        {
            "therapist_id": therapist.id,
            "kind": "group",
            "title": "Group",
            "starts_at": first + timedelta(weeks=week, hours=n % 8),
            "duration_minutes": 90,
            "video_url": "https://zoom.us/j/1",
            "group_id": group.id,
        }
        for n, group in enumerate(groups)
        for week in range(56)
    ]
    db.execute(insert(TherapySession), rows)
    db.commit()
    analyze(db)
    postgres = db.get_bind().dialect.name == "postgresql"
    plan = plan_of(
        db,
        lambda: services.for_participant(
            db, participant=sam, since=MONDAY_NY_9AM, until=MONDAY_NY_9AM + timedelta(days=60)
        ),
    )
    if postgres:
        assert "Seq Scan" not in plan, plan
        assert "Index Scan using ix_therapy_session_participant_starts" in plan, plan
        assert "Index Scan using ix_therapy_session_group_starts" in plan, plan
    else:
        assert not re.search(r"^SCAN therapy_session\b", plan, re.M), plan
        assert "USING INDEX ix_therapy_session_participant_starts" in plan, plan
        assert "USING INDEX ix_therapy_session_group_starts" in plan, plan
