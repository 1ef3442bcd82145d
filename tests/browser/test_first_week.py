"""A first week in real Chromium (issue 11): a newcomer to a group that is already practising
starts at zero behind, and is not on the rosters of sessions before they joined; the therapist
sees mood check-ins and upcoming sessions on a participant's page; a session's page says who it
is for, to the therapist and (without other members' names) to the participant."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect
from sqlmodel import select

from iop_pwa.accounts.models import Group, GroupMembership, User
from iop_pwa.db import session_scope
from iop_pwa.journal import services as journal
from iop_pwa.practice import services as practice
from iop_pwa.practice.library import sync_builtin_exercises
from iop_pwa.practice.models import Exercise
from iop_pwa.therapy import services as therapy
from tests.browser.helpers import (
    assert_no_axe_violations,
    main_nav,
    make_invitation_token,
    sign_in,
)


def _joined_long_ago(app, user: User, days: int) -> None:
    with app.app_context(), session_scope() as db:
        for membership in db.exec(
            select(GroupMembership).where(GroupMembership.user_id == user.id)
        ):
            membership.joined_at = datetime.now(UTC) - timedelta(days=days)
            db.add(membership)


def _group(db) -> Group:
    return db.exec(select(Group).where(Group.name == "Evening")).one()


def _schedule(app, therapist: User, *, day, at: time, title: str, **fields):
    """Schedule a session, or record it if its start has passed (past starts are refused)."""
    start = datetime.combine(day, at, ZoneInfo(therapist.timezone))
    fields.setdefault("already_happened", start <= datetime.now(UTC))
    with app.app_context(), session_scope() as db:
        [s] = therapy.schedule(
            db,
            therapist=db.get(User, therapist.id),
            title=title,
            day=day,
            at=at,
            duration_minutes=60,
            video_url="https://zoom.us/j/5550100",
            **fields,
        )
        return s.id


def _participant_page(desk, name: str) -> None:
    main_nav(desk).get_by_role("link", name="Participants").click()
    desk.get_by_role("link", name=name).click()
    expect(desk.get_by_role("heading", name=name, level=1)).to_be_visible()


def test_a_newcomer_starts_at_zero_behind(app, live_server, make_user, new_context):
    therapist = make_user("therapist", name="Dr. Ada Park", group="Evening")
    sam = make_user("participant", name="Sam Early", therapist=therapist, group="Evening")
    _joined_long_ago(app, sam, days=20)
    today = datetime.now(ZoneInfo(therapist.timezone)).date()
    with app.app_context(), session_scope() as db:
        sync_builtin_exercises(db)
        practice.assign(
            db,
            therapist=db.get(User, therapist.id),
            exercise=db.exec(select(Exercise).where(Exercise.slug == "box-breathing")).one(),
            participant=None,
            group=_group(db),
            schedule="daily",
            weekdays=[],
            start_date=today - timedelta(days=10),
            end_date=None,
            note="",
            reminder_time=None,
        )
        group_id = _group(db).id
    _schedule(
        app,
        therapist,
        day=today - timedelta(days=3),
        at=time(18, 0),
        title="Evening group",
        kind="group",
        participant=None,
        group_id=group_id,
    )
    make_user(
        "participant",
        name="Nell New",
        email="nell@example.test",
        therapist=therapist,
        group="Evening",
    )

    phone = new_context(phone=True).new_page()
    sign_in(phone, live_server, "nell@example.test")
    todays = phone.get_by_role("region", name="Today's practice")
    expect(todays).to_contain_text("This week: 0 of 1 done.")
    todays.get_by_role("link", name="Box breathing").click()
    day = phone.get_by_label("For which day?")
    expect(day.locator("option")).to_have_text(["Today"])  # no late days before joining
    main_nav(phone).get_by_role("link", name="Sessions").click()
    expect(phone.get_by_role("link", name="Evening group")).to_have_count(0)

    desk = new_context(phone=False).new_page()
    sign_in(desk, live_server, therapist.email)
    _participant_page(desk, "Nell New")
    row = desk.get_by_role("region", name="Practice").get_by_role("row", name=re.compile("Box"))
    expect(row.get_by_role("cell", name="0 of 1", exact=True)).to_have_count(2)
    sessions = desk.get_by_role("region", name="Sessions and attendance")
    expect(sessions).to_contain_text("No past sessions yet.")
    assert_no_axe_violations(desk)

    # The group session before Nell joined: Sam is on its roster, Nell is not.
    _participant_page(desk, "Sam Early")
    sam_row = desk.get_by_role("region", name="Practice").get_by_role("row", name=re.compile("Box"))
    expect(sam_row.get_by_role("cell", name="0 of 7", exact=True)).to_be_visible()
    desk.get_by_role("region", name="Sessions and attendance").get_by_role(
        "link", name="Evening group"
    ).click()
    attendance = desk.get_by_role("region", name="Attendance")
    expect(attendance.get_by_label("Sam Early")).to_be_visible()
    expect(attendance.get_by_label("Nell New")).to_have_count(0)
    expect(desk.get_by_text("For the group Evening: Sam Early.")).to_be_visible()


def test_the_therapist_sees_mood_check_ins_as_the_notice_says(
    app, live_server, make_user, new_context
):
    therapist = make_user("therapist", name="Dr. Ada Park")
    robin = make_user("participant", name="Robin Vale", therapist=therapist)
    with app.app_context(), session_scope() as db:
        journal.save_entry(
            db,
            user=db.get(User, robin.id),
            client_id="0f6c1f4e-1d4b-4d8e-9a55-3a9e5b6c7d01",
            mood=5,
            body="A private high.",
            written_at=datetime.now(UTC) - timedelta(days=2),
        )

    # The notice a newcomer reads before joining says what the care team sees.
    invitation = new_context(phone=True).new_page()
    invitation.goto(f"{live_server}/join/{make_invitation_token(app, therapist, 'Kim')}")
    expect(
        invitation.get_by_text(re.compile("the mood you choose in each mood check-in"))
    ).to_be_visible()

    phone = new_context(phone=True).new_page()
    sign_in(phone, live_server, robin.email)
    checkin = phone.get_by_role("region", name="Mood check-in")
    expect(checkin.get_by_text("Your care team sees the mood you choose here.")).to_be_visible()
    checkin.get_by_label("2 · Low").check()
    checkin.get_by_label("A word for it (optional)").fill("heavy")
    checkin.get_by_role("button", name="Save check-in").click()
    expect(phone.get_by_role("status").filter(has_text="Check-in saved: Low.")).to_be_visible()

    desk = new_context(phone=False).new_page()
    sign_in(desk, live_server, therapist.email)
    _participant_page(desk, "Robin Vale")
    mood = desk.get_by_role("region", name="Mood check-ins")
    expect(mood).to_contain_text("Robin checked in on 1 of the last 30 days.")
    expect(mood.get_by_role("img", name=re.compile("Mood over the last 30 days"))).to_be_visible()
    mood.get_by_text("The same data as a table").click()
    table = mood.get_by_role("table")
    expect(table.get_by_role("cell", name="2 (Low)")).to_be_visible()
    expect(table).not_to_contain_text("Very good")  # the private entry's mood
    expect(desk.get_by_text("heavy")).to_have_count(0)
    expect(desk.get_by_text("A private high.")).to_have_count(0)
    assert_no_axe_violations(desk)


def test_sessions_on_the_participants_page_and_who_a_session_is_for(
    app, live_server, make_user, new_context
):
    therapist = make_user("therapist", name="Dr. Ada Park", group="Evening")
    make_user(
        "participant",
        name="Robin Vale",
        email="robin@example.test",
        therapist=therapist,
        group="Evening",
    )
    make_user("participant", name="Jo Other", email="jo@example.test", group="Evening")
    robin = None
    tomorrow = datetime.now(ZoneInfo(therapist.timezone)).date() + timedelta(days=1)
    with app.app_context(), session_scope() as db:
        robin = db.exec(select(User).where(User.email == "robin@example.test")).one()
        group_id = _group(db).id
    _schedule(
        app,
        therapist,
        day=tomorrow,
        at=time(10, 0),
        title="Weekly check-in",
        kind="individual",
        participant=robin,
        group_id=None,
    )
    _schedule(
        app,
        therapist,
        day=tomorrow + timedelta(days=1),
        at=time(18, 0),
        title="Evening group",
        kind="group",
        participant=None,
        group_id=group_id,
    )

    desk = new_context(phone=False).new_page()
    sign_in(desk, live_server, therapist.email)
    _participant_page(desk, "Robin Vale")
    upcoming = desk.get_by_role("list", name="Upcoming")
    expect(upcoming.get_by_role("listitem")).to_have_count(2)
    expect(upcoming.get_by_role("listitem").first).to_contain_text("Weekly check-in")
    upcoming.get_by_role("link", name="Weekly check-in").click()
    expect(desk.get_by_role("heading", name="Weekly check-in", level=1)).to_be_visible()
    expect(desk.get_by_text("For Robin Vale.")).to_be_visible()
    assert_no_axe_violations(desk)
    desk.get_by_role("link", name="Robin Vale").click()
    expect(desk.get_by_role("heading", name="Robin Vale", level=1)).to_be_visible()
    desk.get_by_role("list", name="Upcoming").get_by_role("link", name="Evening group").click()
    expect(desk.get_by_text("For the group Evening: Jo Other, Robin Vale.")).to_be_visible()
    expect(desk.get_by_role("link", name="Robin Vale")).to_be_visible()
    expect(desk.get_by_role("link", name="Jo Other")).to_have_count(0)  # not on the caseload

    phone = new_context(phone=True).new_page()
    sign_in(phone, live_server, "robin@example.test")
    main_nav(phone).get_by_role("link", name="Sessions").click()
    phone.get_by_role("link", name="Weekly check-in").click()
    expect(phone.get_by_text("With your care team")).to_be_visible()
    phone.go_back()
    phone.get_by_role("link", name="Evening group").click()
    expect(phone.get_by_role("heading", name="Evening group", level=1)).to_be_visible()
    expect(phone.get_by_text("With your group, Evening")).to_be_visible()
    expect(phone.locator("main")).not_to_contain_text("Jo Other")
    expect(phone.locator("main")).not_to_contain_text("jo@example.test")
    assert_no_axe_violations(phone)
