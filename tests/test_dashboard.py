"""The therapist's dashboard: the caseload sorted by need with reasons in words, its facts, its
refresh fragment, a participant's timeline with paging and quick actions, groups, and a constant
number of SQL queries however large the caseload and its history."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import date, datetime, timedelta
from html import unescape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import col, select

from iop_pwa.accounts.models import CareTeamLink, ParticipantStatus, Role, User
from iop_pwa.audit import AuditEvent
from iop_pwa.db import utcnow
from iop_pwa.journal.caseload import describe
from iop_pwa.journal.models import JournalEntry
from iop_pwa.messages.models import Conversation, Message
from iop_pwa.practice.models import Assignment, Completion, Exercise
from iop_pwa.push.models import PushSubscription
from iop_pwa.safety import CareFlag
from iop_pwa.therapy.models import Attendance, AttendanceStatus, SessionKind, TherapySession

ZONE = ZoneInfo("America/New_York")
VIDEO = "https://meet.jit.si/iop-test"


# --- arranging data directly, as the services store it ---------------------------------------


def _today() -> date:
    return utcnow().astimezone(ZONE).date()


def _seen(db, person, ago: timedelta | None) -> None:
    row = db.get(User, person.id)
    row.last_seen_at = None if ago is None else utcnow() - ago
    db.add(row)
    db.commit()


def _device(db, person, *, failing: bool = False) -> None:
    now = utcnow()
    db.add(
        PushSubscription(
            user_id=person.id,
            endpoint=f"https://push.example.test/{uuid.uuid4()}",
            p256dh="k",
            auth="a",
            last_success_at=None if failing else now - timedelta(hours=3),
            last_failure_at=now - timedelta(hours=1) if failing else None,
            failures=2 if failing else 0,
        )
    )
    db.commit()


def _checkin(db, person, days_ago: int, mood: int, *, shared_text: str | None = None) -> None:
    day = _today() - timedelta(days=days_ago)
    written = datetime.combine(day, datetime.min.time(), ZONE).replace(hour=9) + timedelta(
        minutes=days_ago
    )
    db.add(
        JournalEntry(
            user_id=person.id,
            client_id=str(uuid.uuid4()),
            kind="entry" if shared_text else "checkin",
            mood=mood,
            body=shared_text or "",
            shared=bool(shared_text),
            local_date=day,
            written_at=written,
        )
    )
    db.commit()


def _flag(db, person, *, hours_ago: int = 1) -> CareFlag:
    flag = CareFlag(
        participant_id=person.id,
        reason="crisis_language",
        source_type="journal_entry",
        source_id=None,
        raised_at=utcnow() - timedelta(hours=hours_ago),
    )
    db.add(flag)
    db.commit()
    return flag


def _session(db, therapist, person, *, starts: datetime, status=None) -> TherapySession:
    s = TherapySession(
        therapist_id=therapist.id,
        kind=SessionKind.individual,
        title="Individual check-in",
        starts_at=starts,
        video_url=VIDEO,
        participant_id=person.id,
    )
    db.add(s)
    db.commit()
    if status:
        db.add(Attendance(session_id=s.id, participant_id=person.id, status=status))
        db.commit()
    return s


def _exercise_and_assignment(db, therapist, person) -> Assignment:
    exercise = Exercise(
        owner_id=therapist.id, title="Active listening", skill="listening", why="w", steps="1. s"
    )
    db.add(exercise)
    db.commit()
    assignment = Assignment(
        exercise_id=exercise.id,
        therapist_id=therapist.id,
        participant_id=person.id,
        start_date=_today() - timedelta(days=30),
    )
    db.add(assignment)
    db.commit()
    return assignment


def _complete(db, assignment, person, days_ago: int, reflection: str = "") -> None:
    day = _today() - timedelta(days=days_ago)
    db.add(
        Completion(
            assignment_id=assignment.id,
            participant_id=person.id,
            client_id=str(uuid.uuid4()),
            local_date=day,
            # Stored as the practice form stores it: each question with its answer.
            reflection=json.dumps([{"question": "What did you notice?", "answer": reflection}])
            if reflection
            else "",
            done_at=datetime.combine(day, datetime.min.time(), ZONE).replace(hour=19),
        )
    )
    db.commit()


def _active_list(page: str) -> str:
    return page.split('id="attention-heading"')[1].split("</section>")[0]


def _rows(section: str) -> list[tuple[str, str]]:
    """(name, the row's text) of each caseload row, in order."""
    found = []
    for chunk in section.split('<li class="caseload-row')[1:]:
        name = re.search(r'id="caseload-\d+" href="[^"]+">([^<]+)</a>', chunk).group(1)
        text = unescape(re.sub(r"<[^>]+>", " ", chunk))
        found.append((name, " ".join(text.split())))
    return found


# --- the caseload, sorted by need -------------------------------------------------------------


def test_the_caseload_is_sorted_by_need_with_each_reason_in_words(client, make_user, sign_in, db):
    therapist = make_user("therapist")
    people = {
        name: make_user("participant", name=name, therapist=therapist)
        for name in (
            "Ada Fine",
            "Bo Reminders",
            "Cy Missed",
            "Di Quiet",
            "Ed Never",
            "Flo Falling",
            "Gus Low",
            "Hal Flagged",
            "Ivy Alumna",
        )
    }
    make_user("participant", name="Someone Else's")
    for name, person in people.items():
        _seen(db, person, None if name == "Ed Never" else timedelta(hours=2))
        if name not in ("Bo Reminders", "Ed Never"):
            _device(db, person)
    _seen(db, people["Di Quiet"], timedelta(days=5, hours=1))
    _flag(db, people["Hal Flagged"])
    for days_ago, mood in ((4, 4), (2, 2), (1, 1), (0, 2)):  # three low in a row
        _checkin(db, people["Gus Low"], days_ago, mood)
    for days_ago in (12, 10, 8, 6, 4):  # usually good, okay-to-low these last three days
        _checkin(db, people["Flo Falling"], days_ago, 4)
    _checkin(db, people["Flo Falling"], 1, 3)
    _checkin(db, people["Flo Falling"], 0, 2)
    _session(
        db,
        therapist,
        people["Cy Missed"],
        starts=utcnow() - timedelta(days=3),
        status=AttendanceStatus.missed,
    )
    # A missed session more than 14 days ago is not a reason.
    _session(
        db,
        therapist,
        people["Ada Fine"],
        starts=utcnow() - timedelta(days=20),
        status=AttendanceStatus.missed,
    )
    _device(db, people["Bo Reminders"], failing=True)
    alumna = db.get(User, people["Ivy Alumna"].id)
    alumna.status = ParticipantStatus.alumni
    db.add(alumna)
    db.commit()

    sign_in(therapist)
    page = client.get("/dashboard").get_data(as_text=True)
    rows = _rows(_active_list(page))
    assert [name for name, _ in rows] == [
        "Hal Flagged",
        "Gus Low",
        "Flo Falling",
        "Ed Never",  # never signed in: the longest-standing of the quiet ones
        "Di Quiet",
        "Cy Missed",
        "Bo Reminders",
        "Ada Fine",
    ]
    text = dict(rows)
    assert "Crisis language in a shared journal entry" in text["Hal Flagged"]
    assert "Falling mood: three low check-ins in a row (latest low)" in text["Gus Low"]
    assert "Falling mood: low these last 3 days, usually good" in text["Flo Falling"]
    assert "Has not signed in yet" in text["Ed Never"]
    assert "No activity for 5 days" in text["Di Quiet"]
    assert "Missed a session in the last 14 days" in text["Cy Missed"]
    assert "Reminders reach no device: every device is failing" in text["Bo Reminders"]
    assert "Reminders reach no device: none turned on" in text["Ed Never"]
    assert "Falling mood" not in text["Ada Fine"] and "Missed" not in text["Ada Fine"]
    assert "7 of 8 need attention" in page
    alumni = page.split('id="alumni-heading"')[1].split("</section>")[0]
    assert "Ivy Alumna" in alumni and "Ivy Alumna" not in _active_list(page)
    assert "Someone Else" not in page


def test_each_row_shows_practice_last_active_mood_and_next_session(client, make_user, sign_in, db):
    therapist = make_user("therapist")
    person = make_user("participant", name="Robin Park", therapist=therapist)
    _seen(db, person, timedelta(hours=3))
    assignment = _exercise_and_assignment(db, therapist, person)
    for days_ago in (0, 2, 5, 9):  # the ninth day back is outside the week
        _complete(db, assignment, person, days_ago)
    for days_ago, mood in ((13, 2), (11, 2), (9, 2), (4, 3), (2, 3), (0, 4)):
        _checkin(db, person, days_ago, mood)
    _session(db, therapist, person, starts=utcnow() + timedelta(days=2))
    sign_in(therapist)
    page = client.get("/dashboard").get_data(as_text=True)
    ((_, text),) = _rows(_active_list(page))
    assert "Practice, last 7 days 3 done" in text
    assert "Last active 3 hours ago" in text
    assert "Mood over 14 days: low, rising to okay" in text  # the SVG's <title>
    assert '<svg class="sparkline"' in page and 'role="img"' in page
    assert re.search(r"Next session \w{3},? \w{3} \d+", text), text


def test_the_sparkline_says_the_mood_in_words():
    low, okay, good = 2.0, 3.0, 4.0
    assert describe([None] * 14) == "No mood check-ins in 14 days"
    assert describe([None] * 13 + [okay]) == "Mood over 14 days: one check-in, okay"
    assert describe([low] * 7 + [okay] * 7) == "Mood over 14 days: low, rising to okay"
    assert describe([good, None] * 7) == "Mood over 14 days: steady around good"
    assert describe([good] * 7 + [None] * 6 + [low]) == "Mood over 14 days: good, falling to low"


def test_the_list_refreshes_itself_and_a_new_flag_shows_without_a_reload(
    client, make_user, sign_in, db
):
    therapist = make_user("therapist")
    person = make_user("participant", name="Sam Rivera", therapist=therapist)
    _seen(db, person, timedelta(hours=1))
    _device(db, person)
    sign_in(therapist)
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'hx-get="/dashboard/caseload"' in page and 'data-refresh-seconds="60"' in page
    assert "Crisis language" not in page

    _flag(db, person)
    fragment = client.get("/dashboard/caseload", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert body.lstrip().startswith('<div id="caseload"') and "<html" not in body
    assert "Invitations" not in body  # the list alone
    assert "Crisis language in a shared journal entry" in body
    # Someone who opens the address itself gets the dashboard.
    plain = client.get("/dashboard/caseload")
    assert plain.status_code == 303 and plain.headers["Location"] == "/dashboard"
    # Each refresh shows names, so each is audited like the page.
    reads = db.exec(select(AuditEvent).where(AuditEvent.object_type == "caseload")).all()
    assert [e.detail for e in reads] == ["dashboard: 1 participants"] * 2


def test_the_dashboard_is_for_staff(client, make_user, sign_in):
    sign_in(make_user("participant"))
    assert client.get("/dashboard/caseload").status_code == 403


# --- the participant's timeline ----------------------------------------------------------------


def _timeline(page: str) -> str:
    return page.split('id="timeline-heading"')[1].split("</section>")[0]


def _titles(html: str) -> list[str]:
    found = re.findall(r'<p class="timeline-title">(.*?)</p>', html, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", "", t)).split()) for t in found]


def test_the_timeline_shows_everything_newest_first_with_mark_seen(client, make_user, sign_in, db):
    therapist = make_user("therapist")
    person = make_user("participant", name="Jordan Lee", therapist=therapist)
    assignment = _exercise_and_assignment(db, therapist, person)
    _complete(db, assignment, person, 6, reflection="I listened without interrupting.")
    _checkin(db, person, 5, 2)
    _checkin(db, person, 4, 3, shared_text="Talked to my sister today.")
    _checkin(db, person, 3, 4)
    db.add(
        JournalEntry(
            user_id=person.id,
            client_id=str(uuid.uuid4()),
            mood=1,
            body="A private entry",
            local_date=_today(),
            written_at=utcnow() - timedelta(hours=2),
        )
    )
    db.commit()
    _session(
        db,
        therapist,
        person,
        starts=utcnow() - timedelta(days=2),
        status=AttendanceStatus.missed,
    )
    conversation = Conversation(key=f"care:{person.id}", kind="care_team", participant_id=person.id)
    db.add(conversation)
    db.commit()
    db.add(
        Message(
            conversation_id=conversation.id,
            author_id=person.id,
            client_id=str(uuid.uuid4()),
            body="Can we talk before group?",
            written_at=utcnow() - timedelta(days=1),
        )
    )
    db.commit()
    flag = _flag(db, person, hours_ago=1)

    sign_in(therapist)
    page = client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True)
    timeline = _timeline(page)
    assert _titles(timeline) == [
        "Safety flag: crisis language in a shared journal entry",
        "Message to the care team",
        "Missed: Individual check-in",
        "Mood check-in: Good",
        "Shared a journal entry (mood: okay)",
        "Mood check-in: Low",
        "Practised Active listening",
    ]
    why = page.split('aria-label="Why Jordan needs attention"')[1].split("</ul>")[0]
    assert "Crisis language in a shared journal entry" in why
    assert "Has not signed in yet" in why
    assert "Talked to my sister today." in timeline
    assert "What did you notice? I listened without interrupting." in timeline
    assert "&quot;question&quot;" not in timeline and '"question"' not in timeline
    assert "Can we talk before group?" in timeline
    assert "A private entry" not in page and "Very low" not in timeline
    assert "Show older" not in timeline
    # The timeline comes before the features' sections.
    assert page.index('id="timeline-heading"') < page.index('id="practice-heading"')
    # Quick actions at the top, each a link.
    actions = page.split('aria-label="Quick actions"')[1].split("</nav>")[0]
    for label in ("Assign practice", "Schedule a session", "Send a message", "Send a sign-in link"):
        assert f">{label}</a>" in actions
    assert f"/dashboard/sessions/new?participant={person.id}" in actions

    # "Mark seen" on the timeline: audited, and the flag leaves the dashboard.
    assert f'action="/dashboard/flags/{flag.id}/seen"' in timeline
    response = client.post_form(
        f"/dashboard/flags/{flag.id}/seen", {"next": f"/dashboard/participants/{person.id}"}
    )
    assert response.status_code == 303
    assert db.get(CareFlag, flag.id).seen_at is not None
    assert "Crisis language" not in client.get("/dashboard").get_data(as_text=True)
    page = client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True)
    assert "crisis language in a shared journal entry (seen)" in _timeline(page)
    assert "Mark seen" not in page


def test_the_timeline_pages_with_show_older_and_loses_nothing(client, make_user, sign_in, db):
    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    for days_ago in range(45):
        _checkin(db, person, days_ago, 1 + days_ago % 5)
    # Two at the very same moment across a page boundary.
    twin = utcnow() - timedelta(days=19, hours=12)
    for _ in range(2):
        db.add(
            JournalEntry(
                user_id=person.id,
                client_id=str(uuid.uuid4()),
                kind="checkin",
                mood=3,
                local_date=twin.astimezone(ZONE).date(),
                written_at=twin,
            )
        )
    db.commit()
    sign_in(therapist)
    html = _timeline(client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True))
    seen = re.findall(r'<time datetime="([^"]+)"', html)
    pages = 1
    while match := re.search(r'hx-get="([^"]+/timeline\?before=[^"]+)"', html):
        response = client.get(unescape(match.group(1)), headers={"HX-Request": "true"})
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "<html" not in html and 'class="timeline-entry' in html
        seen += re.findall(r'<time datetime="([^"]+)"', html)
        pages += 1
    assert pages == 3
    assert len(seen) == 47 and seen == sorted(seen, reverse=True)


def test_the_timeline_refuses_a_bad_point(client, make_user, sign_in):
    therapist = make_user("therapist")
    person = make_user("participant", therapist=therapist)
    sign_in(therapist)
    bad = client.get(f"/dashboard/participants/{person.id}/timeline?before=yesterday")
    assert bad.status_code == 400 and "Choose a point" in bad.get_data(as_text=True)


def test_participants_list_is_the_caseload_only(client, make_user, sign_in):
    therapist = make_user("therapist")
    make_user("participant", name="Mine", therapist=therapist, group="Evening")
    make_user("participant", name="Not Mine")
    sign_in(therapist)
    page = client.get("/dashboard/participants").get_data(as_text=True)
    assert "Mine" in page and "Evening" in page and "Not Mine" not in page


def test_groups_page_lists_facilitated_groups_with_member_counts(client, make_user, sign_in):
    therapist = make_user("therapist", group="Evening")
    make_user("participant", therapist=therapist, group="Evening")
    make_user("participant", group="Evening")
    make_user("participant", group="Unrelated")
    # Someone on the caseload in another therapist's group does not make that group theirs.
    make_user("participant", therapist=therapist, group="Colleague's group")
    sign_in(therapist)
    page = client.get("/dashboard/groups").get_data(as_text=True)
    assert "Evening" in page and "2 participants" in page
    assert "Unrelated" not in page and "Colleague" not in page


# --- a constant number of queries as the caseload and its history grow --------------------------


def _bulk_caseload(engine, therapist, start: int, count: int) -> list[int]:
    """`count` participants on the therapist's caseload, each with a year of history: a mood
    check-in every day, practice every other day, a weekly session with attendance (every fifth
    missed), a weekly message to the care team, a device, a flag on every tenth. Bulk inserts in
    one transaction."""
    with engine.begin() as db:
        return _bulk_insert(db, therapist, start, count)


def _bulk_insert(db, therapist, start: int, count: int) -> list[int]:
    now = utcnow()
    today = _today()
    db.execute(
        insert(User.__table__),
        [
            {
                "email": f"bulk{start + i}@example.test",
                "name": f"Bulk {start + i:03d}",
                "password_hash": "x",
                "role": Role.participant,
                "status": ParticipantStatus.alumni if i % 9 == 8 else ParticipantStatus.active,
                "timezone": "America/New_York",
                "clock": "",
                "created_at": now - timedelta(days=366),
                "password_changed_at": now,
                "must_change_password": False,
                "last_seen_at": now - timedelta(days=i % 6),
            }
            for i in range(count)
        ],
    )
    emails = [f"bulk{start + i}@example.test" for i in range(count)]
    ids = sorted(db.execute(select(User.id).where(col(User.email).in_(emails))).scalars())
    db.execute(
        insert(CareTeamLink.__table__),
        [{"therapist_id": therapist.id, "participant_id": pid, "created_at": now} for pid in ids],
    )
    exercise_id = db.execute(select(Exercise.id)).scalar()
    if exercise_id is None:
        exercise_id = db.execute(
            insert(Exercise.__table__)
            .values(
                owner_id=therapist.id,
                title="Breathing",
                skill="s",
                why="w",
                steps="1",
                minutes=10,
                questions="",
                created_at=now,
            )
            .returning(Exercise.__table__.c.id)
        ).scalar_one()
    db.execute(
        insert(Assignment.__table__),
        [
            {
                "exercise_id": exercise_id,
                "therapist_id": therapist.id,
                "participant_id": pid,
                "schedule": "daily",
                "weekdays": "",
                "start_date": today - timedelta(days=365),
                "note": "",
                "status": "active",
                "created_at": now,
            }
            for pid in ids
        ],
    )
    assignments = dict(
        db.execute(
            select(Assignment.participant_id, Assignment.id).where(
                Assignment.participant_id.in_(ids)
            )
        ).all()
    )
    days = range(365)
    db.execute(
        insert(JournalEntry.__table__),
        [
            {
                "user_id": pid,
                "client_id": f"{pid}-{d}",
                "kind": "checkin",
                "mood": 1 + (pid + d) % 5,
                "feelings": "",
                "own_words": "",
                "body": "",
                "shared": False,
                "local_date": today - timedelta(days=d),
                "written_at": now - timedelta(days=d, hours=1),
                "received_at": now,
            }
            for pid in ids
            for d in days
        ],
    )
    db.execute(
        insert(Completion.__table__),
        [
            {
                "assignment_id": assignments[pid],
                "participant_id": pid,
                "client_id": f"{pid}-{d}",
                "local_date": today - timedelta(days=d),
                "late": False,
                "reflection": "It helped.",
                "done_at": now - timedelta(days=d, hours=2),
                "received_at": now,
            }
            for pid in ids
            for d in days[::2]
        ],
    )
    db.execute(
        insert(TherapySession.__table__),
        [
            {
                "therapist_id": therapist.id,
                "kind": SessionKind.individual,
                "title": "Weekly check-in",
                "starts_at": now + timedelta(days=2) - timedelta(weeks=w),
                "duration_minutes": 50,
                "video_url": VIDEO,
                "participant_id": pid,
                "created_at": now,
            }
            for pid in ids
            for w in range(53)
        ],
    )
    sessions = db.execute(
        select(TherapySession.id, TherapySession.participant_id, TherapySession.starts_at).where(
            TherapySession.participant_id.in_(ids), TherapySession.starts_at < now
        )
    ).all()
    db.execute(
        insert(Attendance.__table__),
        [
            {
                "session_id": sid,
                "participant_id": pid,
                "status": AttendanceStatus.missed if sid % 5 == 0 else AttendanceStatus.attended,
                "marked_at": now,
            }
            for sid, pid, _ in sessions
        ],
    )
    db.execute(
        insert(Conversation.__table__),
        [
            {
                "key": f"care:{pid}",
                "kind": "care_team",
                "participant_id": pid,
                "guidelines": "",
                "created_at": now,
            }
            for pid in ids
        ],
    )
    conversations = dict(
        db.execute(
            select(Conversation.participant_id, Conversation.id).where(
                Conversation.participant_id.in_(ids)
            )
        ).all()
    )
    db.execute(
        insert(Message.__table__),
        [
            {
                "conversation_id": conversations[pid],
                "author_id": pid,
                "client_id": f"{pid}-{w}",
                "body": "See you at group.",
                "written_at": now - timedelta(weeks=w, hours=5),
                "received_at": now,
            }
            for pid in ids
            for w in range(52)
        ],
    )
    db.execute(
        insert(PushSubscription.__table__),
        [
            {
                "user_id": pid,
                "endpoint": f"https://push.example.test/{pid}",
                "p256dh": "k",
                "auth": "a",
                "device": "",
                "created_at": now,
                "seen_at": now,
                "failures": 0,
            }
            for pid in ids[::2]
        ],
    )
    db.execute(
        insert(CareFlag.__table__),
        [
            {
                "participant_id": pid,
                "reason": "crisis_language",
                "source_type": "message",
                "raised_at": now - timedelta(days=1),
            }
            for pid in ids[::10]
        ],
    )
    return ids


def test_dashboard_pages_run_a_constant_number_of_queries(
    app, client, make_user, sign_in, count_queries
):
    therapist = make_user("therapist", group="Evening")
    engine = app.extensions["db_engine"]
    first = _bulk_caseload(engine, therapist, 0, 9)  # the ninth is alumni: both lists show
    sign_in(therapist)
    paths = (
        "/dashboard",
        "/dashboard/caseload",
        f"/dashboard/participants/{first[0]}",
        f"/dashboard/participants/{first[0]}/timeline?before={quote(utcnow().isoformat())}",
        "/dashboard/participants",
        "/dashboard/groups",
    )
    counts = {}
    for size in ("small", "large"):
        if size == "large":
            _bulk_caseload(engine, therapist, 9, 191)
        for path in paths:
            fragment = {"HX-Request": "true"} if "caseload" in path or "?" in path else {}
            client.get(path, headers=fragment)  # warm: the session touch is once a minute
            with count_queries() as queries:
                response = client.get(path, headers=fragment)
                assert response.status_code == 200, path
            counts[(size, path)] = len(queries)
    page = client.get("/dashboard").get_data(as_text=True)
    assert page.count('<li class="caseload-row') == 200
    for path in paths:
        assert counts[("small", path)] == counts[("large", path)], counts
    # The dashboard: the session, the caseload, core's flags, the features' needs and columns,
    # the audit row, the navigation's unread messages (check-ins add a rising PHQ-9 and the
    # alumni's last check-in).
    assert counts[("large", "/dashboard")] <= 15, counts


def test_the_demo_shows_every_reason(app, client):
    from iop_pwa.db import session_scope
    from iop_pwa.demo import DEMO_PASSWORD, THERAPIST_EMAIL, load_demo

    with app.app_context(), session_scope() as s:
        load_demo(s)
    with app.app_context(), session_scope() as s:
        load_demo(s)  # idempotent
    client.post_form("/sign-in", {"email": THERAPIST_EMAIL, "password": DEMO_PASSWORD})
    rows = dict(_rows(_active_list(client.get("/dashboard").get_data(as_text=True))))
    assert list(rows) == ["Jordan Lee", "Priya Nair", "Alex Chen", "Sam Rivera"]
    assert "Crisis language in a shared journal entry" in rows["Jordan Lee"]
    assert "No activity for 5 days" in rows["Jordan Lee"]
    assert "Falling mood: three low check-ins in a row" in rows["Priya Nair"]
    assert "Has not signed in yet" in rows["Alex Chen"]
    assert "Missed a session in the last 14 days" in rows["Sam Rivera"]
    assert "Reminders reach no device: none turned on" in rows["Alex Chen"]
    assert "Mood over 14 days: steady around good" in rows["Sam Rivera"]


def test_a_feature_plugs_into_the_dashboard_by_registering(app, make_user, sign_in, client, db):
    """How check-ins will join: a reason, an alumni column, timeline entries and a quick action,
    with nothing changed in core."""
    from iop_pwa.features import (
        RANK_SAFETY,
        CaseloadColumn,
        Fact,
        Feature,
        Need,
        NeedSource,
        QuickAction,
        TimelineEntry,
        TimelineSource,
        add,
    )

    add(
        app,
        Feature(
            name="scores",
            needs=(
                NeedSource(
                    "risk",
                    lambda *, db, participants, now: [
                        Need(p.id, RANK_SAFETY, "PHQ-9: a risk answer")
                        for p in participants
                        if p.name == "Ann Risk"
                    ],
                ),
            ),
            caseload_columns=(
                CaseloadColumn(
                    "last_checkin",
                    "Last check-in",
                    lambda *, db, participants, now: {
                        p.id: Fact("PHQ-9 5, mild") for p in participants
                    },
                    audience="alumni",
                ),
            ),
            timeline=(
                TimelineSource(
                    "scores",
                    lambda *, db, person, before, limit: [
                        TimelineEntry(utcnow() - timedelta(hours=1), "checkin", "s:1", "PHQ-9: 14")
                    ],
                ),
            ),
            quick_actions=(QuickAction("checkin", "Send a check-in", lambda *, db, person: "/x"),),
        ),
    )
    therapist = make_user("therapist")
    ann = make_user("participant", name="Ann Risk", therapist=therapist)
    ben = make_user("participant", name="Ben Alum", therapist=therapist)
    alum = db.get(User, ben.id)
    alum.status = ParticipantStatus.alumni
    db.add(alum)
    db.commit()
    sign_in(therapist)
    page = client.get("/dashboard").get_data(as_text=True)
    rows = dict(_rows(_active_list(page)))
    assert "PHQ-9: a risk answer" in rows["Ann Risk"]
    alumni = page.split('id="alumni-heading"')[1].split("</section>")[0]
    assert "Last check-in PHQ-9 5, mild" in dict(_rows(alumni))["Ben Alum"]
    assert "Last check-in" not in _active_list(page)
    record = client.get(f"/dashboard/participants/{ann.id}").get_data(as_text=True)
    assert "PHQ-9: 14" in _titles(_timeline(record))
    assert '<a class="button-secondary" href="/x">Send a check-in</a>' in record


def test_a_risk_answer_flag_says_what_it_is_without_the_answer(client, make_user, sign_in, db):
    therapist = make_user("therapist")
    person = make_user("participant", name="Kim Score", therapist=therapist)
    db.add(CareFlag(participant_id=person.id, reason="risk_answer", source_type="checkin_answer"))
    db.commit()
    sign_in(therapist)
    rows = dict(_rows(_active_list(client.get("/dashboard").get_data(as_text=True))))
    assert "PHQ-9 item 9" in rows["Kim Score"] and "in a check-in answer" in rows["Kim Score"]
    assert "Crisis language" not in rows["Kim Score"]
    page = client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True)
    assert "Safety flag: PHQ-9 item 9" in html.unescape(page)
