"""The demo program `make run` shows: a therapist, an admin, a group in session, an alumni group
with Morgan (discharged about three months ago), and an audit log with some history.

Idempotent: running it again changes nothing that exists. Every later feature adds its part here so
the demo looks like a program that is alive.

It tells one story whatever the day and hour it is loaded (tests/test_demo.py loads it at moments
across a year): whoever wrote something used the app at or after writing it, and Alex, who never
signed in, wrote and chose nothing; a flag is raised when its entry arrived; things that happen
"every evening" happen at a named local time, each kind at its own minute, so no two of a
person's timeline entries share a moment; days are the person's local days.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from iop_pwa import audit
from iop_pwa.accounts import second_factor, services
from iop_pwa.accounts.models import (
    GroupKind,
    GroupMembership,
    ParticipantStatus,
    Role,
    TotpFactor,
    User,
)
from iop_pwa.audit import AuditEvent
from iop_pwa.checkins import questionnaires as checkin_forms
from iop_pwa.checkins import services as checkins
from iop_pwa.checkins.models import CheckinAnswer, CheckinSchedule
from iop_pwa.db import utcnow
from iop_pwa.journal import services as journal
from iop_pwa.messages import services as messages
from iop_pwa.messages.models import Message
from iop_pwa.practice import services as practice
from iop_pwa.practice.library import sync_builtin_exercises
from iop_pwa.practice.models import Assignment, Exercise, Schedule
from iop_pwa.push.models import Delivery, PushSubscription, ReminderPreference, SendResult
from iop_pwa.safety import program
from iop_pwa.therapy import services as therapy
from iop_pwa.therapy.models import AttendanceStatus, SessionKind, TherapySession

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - printed for the local demo only
# The demo's staff have an authenticator app with this key (printed by `flask demo`; the current
# code by `flask demo-code`), so a newcomer can sign in as the demo therapist.
DEMO_TOTP_SECRET = "DEMOIOPCOMPANIONDEMOIOPCOMPANION"  # noqa: S105 - the local demo only
THERAPIST_EMAIL = "therapist@demo.test"
ADMIN_EMAIL = "admin@demo.test"
EVENING_GROUP = "Tuesday & Thursday Evening Group"
ALUMNI_GROUP = "Alumni Circle"

# (name, email, time zone, group, status, how long since they last used the app (None = never
# signed in), days since joining the program). Priya joined two days ago: her practice and
# attendance start then, not with the group's. Each last use comes after everything the person
# wrote (Sam signed in before his two unread messages came; Jordan's last act was the entry that
# raised the flag, five days ago; Morgan signed in this evening).
PARTICIPANTS = [
    (
        "Sam Rivera",
        "sam@demo.test",
        "America/New_York",
        EVENING_GROUP,
        ParticipantStatus.active,
        timedelta(minutes=110),
        50,  # seven weeks of check-ins, from the first day
    ),
    (
        "Jordan Lee",
        "jordan@demo.test",
        "America/Chicago",
        EVENING_GROUP,
        ParticipantStatus.active,
        timedelta(days=5, minutes=50),
        50,  # seven weeks of check-ins, from the first day
    ),
    (
        "Priya Nair",
        "priya@demo.test",
        "America/Los_Angeles",
        EVENING_GROUP,
        ParticipantStatus.active,
        timedelta(minutes=30),
        2,
    ),
    (
        "Alex Chen",
        "alex@demo.test",
        "America/Denver",
        EVENING_GROUP,
        ParticipantStatus.active,
        None,
        21,
    ),
    (
        "Morgan Blake",
        "morgan@demo.test",
        "America/New_York",
        ALUMNI_GROUP,
        ParticipantStatus.alumni,
        timedelta(minutes=45),
        170,
    ),
]


def _at(day, at: time, timezone: str) -> datetime:
    """A local time on a person's local day, in UTC."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def _evening(now: datetime, timezone: str, days_ago: int, at: time) -> datetime:
    """`at` on the person's local day `days_ago` days back, but at least three hours ago (just
    after midnight, "yesterday evening" would come after the person last used the app)."""
    return min(_at(_local_day(now, timezone, days_ago), at, timezone), now - timedelta(hours=3))


def _local_day(now: datetime, timezone: str, days_ago: int = 0):
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=days_ago)


def _user(
    db: Session, *, role: Role, email: str, name: str, timezone: str, clock: str = ""
) -> User:
    user = services.find_user_by_email(db, email)
    if user is None:
        user = services.create_user(
            db, role=role, email=email, password=DEMO_PASSWORD, name=name, timezone=timezone
        )
        user.clock = clock  # "12", "24", or "" for the browser language's habit
        db.add(user)
    if user.is_staff and not second_factor.is_enrolled(db, user):
        db.flush()
        db.add(TotpFactor(user_id=user.id, secret=DEMO_TOTP_SECRET, confirmed_at=utcnow()))
    return user


# Sam's last weeks: (days ago, mood, feelings, text, shared). Check-ins have no text.
SAM_JOURNAL = [
    (27, 2, "Anxious,Tired", "Week four. Group still feels strange, but I went.", False),
    (24, 2, "Lonely", "", False),
    (21, 3, "Hopeful", "Practised the I-statement with my sister. She actually listened.", True),
    (18, 3, "Calm", "", False),
    (
        15,
        2,
        "Overwhelmed",
        "Work was a lot. I noticed my shoulders before I snapped, and took a walk instead.",
        False,
    ),
    (12, 4, "Grateful,Connected", "Alumni speaker tonight. I want to be where she is.", True),
    (9, 3, "Restless", "", False),
    (6, 4, "Proud", "Kept the boundary with my old friend about meeting at the bar.", True),
    (3, 4, "Calm,Hopeful", "", False),
    (1, 5, "Connected", "Family session went better than I feared. Mom said she is proud.", True),
]


# Morgan, three months after the program, still writes most nights (private entries).
MORGAN_JOURNAL = [
    (1, 4, "Calm", "Quiet evening. Made soup and called my brother."),
    (2, 3, "Tired", "Long day at work. I used the breathing before bed."),
    (3, 4, "Grateful", "Coffee with someone from the alumni circle."),
    (5, 3, "Restless", "Wanted to skip the meeting, went anyway. Glad I did."),
    (6, 4, "Hopeful", "Three months out. Wrote down what helped in the program."),
    (8, 4, "Connected", ""),
]
JOURNAL_TIME = time(22, 15, 7)  # Sam writes before bed (each kind of thing has its own minute)
MORGAN_JOURNAL_TIME = time(22, 40, 11)


def _save_as_received(db: Session, **values):
    """An entry as if it reached the server when written (the device was online): its flag,
    if it raises one, and the care team's alert are from that moment too."""
    from iop_pwa.notifications import Notification
    from iop_pwa.safety import CareFlag

    saved = journal.save_entry(db, **values)
    entry = saved.entry
    entry.received_at = entry.written_at
    db.add(entry)
    flags = db.exec(
        select(CareFlag).where(
            CareFlag.source_type == "journal_entry", CareFlag.source_id == entry.id
        )
    ).all()
    for flag in flags:
        flag.raised_at = entry.written_at
        db.add(flag)
        for note in db.exec(
            select(Notification).where(
                Notification.kind == "care_flag", Notification.object_id == flag.id
            )
        ):
            note.created_at = entry.written_at
            db.add(note)
    return saved


def _demo_journals(db: Session, now) -> None:
    """A month of Sam's journal and check-ins, Morgan's last nights, and one shared entry of
    Jordan's that raised a flag (five days ago: Jordan has not opened the app since)."""
    sam = services.find_user_by_email(db, "sam@demo.test")
    if not journal.export_records(db, user=sam):
        for days_ago, mood, feelings, text, shared in SAM_JOURNAL:
            _save_as_received(
                db,
                user=sam,
                client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-sam-{days_ago}")),
                kind="entry" if text else "checkin",
                mood=mood,
                feelings=feelings.split(","),
                body=text,
                shared=shared,
                written_at=_evening(now, sam.timezone, days_ago, JOURNAL_TIME),
            )
        jordan = services.find_user_by_email(db, "jordan@demo.test")
        _save_as_received(
            db,
            user=jordan,
            client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, "demo-jordan-1")),
            mood=1,
            feelings=["Ashamed", "Numb"],
            shared=True,
            written_at=now - timedelta(days=5, hours=1),
            body="I slipped at the weekend. Some nights I feel like I can't go on like this.",
        )
    morgan = services.find_user_by_email(db, "morgan@demo.test")
    if not journal.export_records(db, user=morgan):
        for days_ago, mood, feeling, text in MORGAN_JOURNAL:
            _save_as_received(
                db,
                user=morgan,
                client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-morgan-{days_ago}")),
                kind="entry" if text else "checkin",
                mood=mood,
                feelings=[feeling],
                body=text,
                written_at=_evening(now, morgan.timezone, days_ago, MORGAN_JOURNAL_TIME),
            )


def _demo_falling_mood(db: Session, now) -> None:
    """Priya's first days: three low check-ins in a row (the dashboard's "falling mood")."""
    priya = services.find_user_by_email(db, "priya@demo.test")
    if journal.export_records(db, user=priya):
        return
    for days_ago, mood in ((2, 2), (1, 2), (0, 1)):  # the first just after she joined
        _save_as_received(
            db,
            user=priya,
            client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-priya-{days_ago}")),
            kind="checkin",
            mood=mood,
            written_at=now - timedelta(days=days_ago, minutes=40),
        )


BREATHING_TIME = time(21, 40, 13)  # Sam breathes before bed, and practises I-statements
ASSERTIVE_TIME = time(19, 10, 17)  # after dinner


def _demo_practice(db: Session, therapist: User, now) -> None:
    """The evening group breathes every day; Sam practises I-statements three days a week and
    has done most of it, with reflections and one piece of feedback."""
    sync_builtin_exercises(db)
    if db.exec(select(Assignment).where(Assignment.therapist_id == therapist.id)).first():
        return
    exercises = db.exec(select(Exercise).where(Exercise.slug.is_not(None))).all()
    breathing = next((e for e in exercises if e.timer == "box-breathing"), None)
    assertive = next((e for e in exercises if e.slug == "i-statement"), None)
    if breathing is None or assertive is None:
        return
    sam = services.find_user_by_email(db, "sam@demo.test")
    today = now.astimezone(ZoneInfo(sam.timezone)).date()
    group = services.get_or_create_group(db, EVENING_GROUP)
    practice.assign(
        db,
        therapist=therapist,
        exercise=breathing,
        participant=None,
        group=group,
        schedule=Schedule.daily,
        weekdays=[],
        start_date=today - timedelta(days=14),
        end_date=None,
        note="Two minutes before bed is plenty.",
        reminder_time=None,
    )
    mine = practice.assign(
        db,
        therapist=therapist,
        exercise=assertive,
        participant=sam,
        group=None,
        schedule=Schedule.weekdays,
        weekdays=[0, 2, 4],
        start_date=today - timedelta(days=12),
        end_date=today + timedelta(days=30),
        reminder_time=None,
        note="Try it with your sister first, like we practised in session.",
    )
    pairs = practice.assignments_for(db, participant=sam)
    answers = [
        "I told my sister I feel unheard when plans change last minute.",
        "Calmer than I expected. She said sorry.",
    ]
    first = None
    for back in range(1, 12):
        day = today - timedelta(days=back)
        if back in (4, 9):  # a couple of missed days: life happens
            continue
        for assigned in pairs:
            a, exercise = assigned.assignment, assigned.exercise
            if assigned.is_due(day):
                completion, _ = practice.mark_done(
                    db,
                    participant=sam,
                    assignment=a,
                    exercise=exercise,
                    day=day,
                    today=day,
                    client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-{a.id}-{day}")),
                    answers=answers if a.id == mine.id else ["Slower breathing, looser shoulders."],
                    helpful=4,
                    difficulty=2 if a.id == mine.id else 1,
                    done_at=_evening(
                        now,
                        sam.timezone,
                        back,
                        ASSERTIVE_TIME if a.id == mine.id else BREATHING_TIME,
                    ),
                )
                if a.id == mine.id and first is None:
                    first = completion
    if first is not None:
        practice.give_feedback(
            db,
            therapist=therapist,
            completion=first,
            text="That is a textbook I-statement. Notice how she softened?",
            exercise_title=assertive.title,
        )


def _demo_sessions(db: Session, therapist: User, now) -> None:
    """A full week for the week view: the evening group meets Tuesdays and Thursdays at 18:00,
    the weekend skills group on Saturdays at 10:00, Jordan, Priya and Alex have a weekly
    check-in; Sam has an individual session tomorrow and a family session next week. Past
    sessions have attendance marked. The series are scheduled as if two weeks ago (a start in
    the past is refused otherwise)."""
    if db.exec(select(TherapySession).where(TherapySession.therapist_id == therapist.id)).first():
        return
    scheduled_at = now - timedelta(days=14)
    today = now.astimezone(ZoneInfo(therapist.timezone)).date()
    monday = today - timedelta(days=today.weekday())
    group = services.get_or_create_group(db, EVENING_GROUP)
    last_tuesday = today - timedelta(days=(today.weekday() - 1) % 7 or 7)
    for first in (last_tuesday, last_tuesday + timedelta(days=2)):
        therapy.schedule(
            db,
            therapist=therapist,
            kind=SessionKind.group,
            title="Evening group",
            day=first,
            at=time(18, 0),
            duration_minutes=90,
            video_url="https://zoom.us/j/5550100200",
            participant=None,
            group_id=group.id,
            repeat_weeks=4,
            now=scheduled_at,
        )
    therapy.schedule(
        db,
        therapist=therapist,
        kind=SessionKind.group,
        title="Weekend skills group",
        day=monday + timedelta(days=5),
        at=time(10, 0),
        duration_minutes=75,
        video_url="https://zoom.us/j/5550100300",
        participant=None,
        group_id=group.id,
        repeat_weeks=12,
        now=scheduled_at,
    )
    for email, weekday, at in (
        ("jordan@demo.test", 0, time(11, 0)),
        ("priya@demo.test", 2, time(13, 0)),
        ("alex@demo.test", 4, time(15, 30)),
    ):
        person = services.find_user_by_email(db, email)
        therapy.schedule(
            db,
            therapist=therapist,
            kind=SessionKind.individual,
            title=f"Check-in with {person.name.split()[0]}",
            day=monday + timedelta(days=weekday),
            at=at,
            duration_minutes=50,
            video_url="https://doxy.me/drlopez",
            participant=person,
            group_id=None,
            repeat_weeks=6,
            now=scheduled_at,
        )
    sam = services.find_user_by_email(db, "sam@demo.test")
    therapy.schedule(
        db,
        therapist=therapist,
        kind=SessionKind.individual,
        title="Check-in with Dr. Lopez",
        day=today + timedelta(days=1),
        at=time(10, 0),
        duration_minutes=50,
        video_url="https://doxy.me/drlopez",
        participant=sam,
        group_id=None,
        now=scheduled_at,
    )
    [family] = therapy.schedule(
        db,
        therapist=therapist,
        kind=SessionKind.family,
        title="Family session",
        participant=sam,
        day=today + timedelta(days=6),
        at=time(17, 0),
        duration_minutes=60,
        video_url="https://meet.google.com/abc-defg-hij",
        group_id=None,
        now=scheduled_at,
    )
    therapy.add_guest(db, session=family, name="Elena Rivera", email=None, by=therapist)
    past = db.exec(
        select(TherapySession)
        .where(TherapySession.starts_at < now, TherapySession.therapist_id == therapist.id)
        .order_by(TherapySession.starts_at)
    ).all()
    for n, session in enumerate(past):
        if n == 0 and session.group_id:
            marks = [
                AttendanceStatus.attended,
                AttendanceStatus.attended,
                AttendanceStatus.late,
                AttendanceStatus.missed,
            ]
            for person, status in zip(therapy.attendees(db, session), marks, strict=False):
                therapy.mark_attendance(
                    db, session=session, participant_id=person.id, status=status, by=therapist
                )
        else:
            therapy.mark_all_attended(db, session=session, by=therapist)
    # Sam missed the latest evening group (he said so in his care-team thread): the dashboard's
    # "missed sessions".
    sam_missed = [s for s in past if s.title == "Evening group"]
    if sam_missed:
        therapy.mark_attendance(
            db,
            session=sam_missed[-1],
            participant_id=sam.id,
            status=AttendanceStatus.missed,
            by=therapist,
        )


# (minutes ago, author email, text). The group room is lively; Sam's care-team thread ends with
# two messages from the therapist that came after Sam last used the app. Jordan (quiet for five
# days) and Alex (never signed in) wrote nothing here.
GROUP_MESSAGES = [
    (26 * 60, "priya@demo.test", "Hi everyone, I'm new this week. Glad to be here."),
    (25 * 60, "sam@demo.test", "Welcome, Priya! The breathing exercise helped me a lot early on."),
    (9 * 60, "priya@demo.test", "Does anyone else find the I-statement practice awkward at first?"),
    (8 * 60, "sam@demo.test", "Yes! It got easier after a few days. Writing it down first helps."),
    (
        7 * 60,
        THERAPIST_EMAIL,
        "Great question, Priya. We'll practise a few together in the next group.",
    ),
    (50, THERAPIST_EMAIL, "The grounding video is here: https://www.nimh.nih.gov/health"),
]
# Sam asked about the evening group he then missed: (minutes before that group, author, text).
CARE_BEFORE_MISSED = [
    (26 * 60, "sam@demo.test", "Is it okay if I miss the next group? I have a work shift."),
    (
        26 * 60 - 90,
        THERAPIST_EMAIL,
        "Thanks for telling us. Yes, and let's find a make-up time.",
    ),
]
CARE_MESSAGES = [
    (70, THERAPIST_EMAIL, "Checking in after this week's sessions. How are the evenings going?"),
    (65, THERAPIST_EMAIL, "If it helps, the box-breathing practice is on your Practice page."),
]


def _demo_messages(db: Session, therapist: User, now) -> None:
    """A lively evening group room and Sam's care-team thread, with some messages unread."""
    sam = services.find_user_by_email(db, "sam@demo.test")
    messages.ensure_conversations(db, user=sam)
    messages.ensure_conversations(db, user=therapist)
    room = messages.conversation_for(
        db, kind="group", object_id=services.get_or_create_group(db, EVENING_GROUP).id
    )
    care = messages.conversation_for(db, kind="care_team", object_id=sam.id)
    if db.exec(select(Message.id).where(Message.conversation_id == room.id)).first():
        return
    missed = db.exec(
        select(TherapySession.starts_at)
        .where(
            TherapySession.therapist_id == therapist.id,
            TherapySession.title == "Evening group",
            TherapySession.starts_at < now,
        )
        .order_by(col(TherapySession.starts_at).desc())
    ).first() or now - timedelta(days=2)
    before_missed = [
        (int((now - missed).total_seconds() // 60) + minutes, email, text)
        for minutes, email, text in CARE_BEFORE_MISSED
    ]
    sent = []
    for conversation, script in ((room, GROUP_MESSAGES), (care, before_missed + CARE_MESSAGES)):
        for minutes, email, text in script:
            author = services.find_user_by_email(db, email)
            if conversation.is_group:
                messages.agree(db, conversation=conversation, user=author)
            message = messages.send(
                db,
                conversation=conversation,
                author=author,
                client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{conversation.key}:{minutes}")),
                body=text,
                written_at=now - timedelta(minutes=minutes),
            ).message
            message.received_at = message.written_at
            db.add(message)
            sent.append(message)
        conversation.last_message_at = now - timedelta(minutes=script[-1][0])
        db.add(conversation)
    # Sam has read the thread up to the first answer: the two check-ins wait for him.
    messages.mark_read(
        db, conversation=care, user=sam, up_to=sent[len(GROUP_MESSAGES) + len(before_missed) - 1].id
    )
    _demo_peer_messages(db, therapist, room, now)


# Direct messages are on in the evening group: Priya wrote to Sam (unread: after Sam's last
# visit). Morgan, an alumna, keeps posting in the alumni group's room.
DIRECT_MESSAGES = [
    (40, "priya@demo.test", "Hey Sam, thanks for what you said about writing it down first."),
    (38, "priya@demo.test", "Do you want to practise the I-statements together before group?"),
]
ALUMNI_MESSAGES = [
    (3 * 24 * 60, THERAPIST_EMAIL, "Hello alumni circle. A reminder: check-ins are monthly now."),
    (2 * 24 * 60, "morgan@demo.test", "Three months out. Still journaling most nights."),
]


def _demo_peer_messages(db: Session, therapist: User, room, now) -> None:
    sam = services.find_user_by_email(db, "sam@demo.test")
    priya = services.find_user_by_email(db, "priya@demo.test")
    messages.set_direct_messages(db, room=room, by=therapist, on=True)
    direct = messages.start_direct(db, room=room, by=priya, member_id=sam.id)
    alumni = messages.conversation_for(
        db, kind="group", object_id=services.get_or_create_group(db, ALUMNI_GROUP).id
    )
    for conversation, script in ((direct, DIRECT_MESSAGES), (alumni, ALUMNI_MESSAGES)):
        if conversation is None:
            continue
        for minutes, email, text in script:
            author = services.find_user_by_email(db, email)
            if conversation.is_group:
                messages.agree(db, conversation=conversation, user=author)
            message = messages.send(
                db,
                conversation=conversation,
                author=author,
                client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{conversation.key}:{minutes}")),
                body=text,
                written_at=now - timedelta(minutes=minutes),
            ).message
            message.received_at = message.written_at
            db.add(message)
        conversation.last_message_at = now - timedelta(minutes=script[-1][0])
        db.add(conversation)


DEMO_PHONE = "Demo phone (an example: nothing is sent to it)"


def _demo_reminders(db: Session, now) -> None:
    """Sam's phone has had the daily practice reminder every evening this week (the therapist
    sees "Last delivered"); Jordan has no device, so the therapist sees the warning. The demo
    phone is not a real subscription: its address is on the reserved `.invalid` domain, which
    the worker never sends to (nothing is retried against an address that cannot answer), and
    its name says it is an example."""
    sam = services.find_user_by_email(db, "sam@demo.test")
    if sam is None:
        return
    existing = db.exec(select(PushSubscription).where(PushSubscription.user_id == sam.id)).first()
    if existing is not None:
        if "/fcm/send/demo-" in existing.endpoint:  # made by an older demo: mark it as one
            existing.endpoint = "https://push.demo.invalid/" + existing.endpoint.rsplit("/", 1)[1]
            existing.device = DEMO_PHONE
            existing.failures, existing.last_failure_at = 0, None
            db.add(existing)
        return
    zone = ZoneInfo(sam.timezone)
    phone = PushSubscription(
        user_id=sam.id,
        endpoint="https://push.demo.invalid/demo-" + uuid.uuid4().hex,
        p256dh="BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
        auth="tBHItJI5svbpez7KI4CCXg",
        device=DEMO_PHONE,
        created_at=now - timedelta(days=8),
        seen_at=now - timedelta(hours=3),
    )
    db.add(phone)
    db.flush()
    today = now.astimezone(zone).date()
    for back in range(7, 0, -1):
        day = today - timedelta(days=back)
        at = datetime.combine(day, time(18, 0), tzinfo=zone).astimezone(UTC)
        sent = Delivery(
            user_id=sam.id,
            key=f"practice:{day.isoformat()}T18:00",
            category="practice",
            url="/practice",
            topic="practice-daily",
            created_at=at,
            due_at=at,
            expires_at=at + timedelta(hours=6),
            status="sent",
            attempts=0,
            next_attempt_at=at,
            done_at=at + timedelta(seconds=2),
        )
        db.add(sent)
        db.flush()
        db.add(
            SendResult(
                delivery_id=sent.id,
                user_id=sam.id,
                subscription_id=phone.id,
                at=at + timedelta(seconds=2),
                status_code=201,
                outcome="sent",
            )
        )
        phone.last_success_at = at + timedelta(seconds=2)
    db.add(phone)


# Check-in scores by weeks ago: Sam's PHQ-9 falls as the program helps (this week's is due on
# Today); Jordan's rises into moderate (the dashboard's "rising"); the group answers GAD-7 every
# two weeks and the team's own relationship check-in weekly.
SAM_PHQ9 = [(7, 15), (6, 14), (5, 12), (4, 11), (3, 9), (2, 8), (1, 6)]
JORDAN_PHQ9 = [(6, 6), (4, 7), (2, 13)]
GAD7 = {"sam@demo.test": [(6, 12), (4, 10), (2, 7)], "jordan@demo.test": [(6, 5), (4, 6), (2, 9)]}
CONNECTED = {"sam@demo.test": [(3, 2), (2, 3), (1, 4)], "jordan@demo.test": [(2, 3), (1, 2)]}
MORGAN_DISCHARGED_DAYS = 100  # Morgan answered at one month; the three-month check-in is due


def _demo_checkins(db: Session, therapist: User, now) -> None:
    """Schedules and a few months of scores (once: skipped when the demo has schedules)."""
    if db.exec(select(CheckinSchedule).where(CheckinSchedule.therapist_id == therapist.id)).first():
        return
    built = checkins.builtins(db)
    own = checkins.save_questionnaire(
        db,
        staff=therapist,
        questionnaire=None,
        title="Connection this week",
        questions="How connected did you feel to the people close to you this week?",
    )
    evening = services.get_or_create_group(db, EVENING_GROUP)

    minutes = {}  # each questionnaire answered at its own minute of the evening

    def answer(person: User, questionnaire, day, score: int) -> None:
        form = checkin_forms.form_for(questionnaire)
        top = max(v for v, _ in form.choices)
        values, rest = [], score
        for _ in form.items:  # a plausible spread adding up to the score (item 9 stays 0)
            values.append(min(top, rest) if len(values) != checkin_forms.SAFETY_ITEM else 0)
            rest -= values[-1]
        minute = minutes.setdefault(questionnaire.id, 30 + 4 * len(minutes))
        at = datetime.combine(day, time(19, minute, 23), tzinfo=ZoneInfo(person.timezone))
        db.add(
            CheckinAnswer(
                participant_id=person.id,
                questionnaire_id=questionnaire.id,
                client_id=str(uuid.uuid4()),
                due_on=day,
                answers=",".join(str(v) for v in values),
                score=score,
                band=form.band(score),
                local_date=day,
                answered_at=at.astimezone(UTC),
            )
        )

    sam = services.find_user_by_email(db, "sam@demo.test")
    jordan = services.find_user_by_email(db, "jordan@demo.test")
    morgan = services.find_user_by_email(db, "morgan@demo.test")
    this_week = _local_day(now, sam.timezone)
    for person, every, scores in ((sam, 1, SAM_PHQ9), (jordan, 2, JORDAN_PHQ9)):
        start = this_week - timedelta(weeks=max(w for w, _ in scores))
        checkins.schedule(
            db, therapist=therapist, questionnaire=built["phq9"], participant=person,
            group=None, every_weeks=every, start_date=start,
        )  # fmt: skip
        for weeks_ago, score in scores:
            answer(person, built["phq9"], this_week - timedelta(weeks=weeks_ago), score)
    for questionnaire, every, weeks, table in (
        (built["gad7"], 2, 6, GAD7),
        (own, 1, 3, CONNECTED),
    ):
        checkins.schedule(
            db, therapist=therapist, questionnaire=questionnaire, participant=None,
            group=evening, every_weeks=every, start_date=this_week - timedelta(weeks=weeks),
        )  # fmt: skip
        for person in (sam, jordan):
            for weeks_ago, score in table[person.email]:
                answer(person, questionnaire, this_week - timedelta(weeks=weeks_ago), score)
    if morgan.discharged_on is None:
        morgan.discharged_on = _local_day(now, morgan.timezone, MORGAN_DISCHARGED_DAYS)
        db.add(morgan)
    one_month = checkins.add_months(morgan.discharged_on, 1)
    for questionnaire, score in ((built["phq9"], 5), (built["gad7"], 4)):
        answer(morgan, questionnaire, one_month, score)
    db.flush()


def _demo_reminder_choices(db: Session, now) -> None:
    """Priya chose the daily digest of group activity at 19:00, and reminders by push and email
    (email applies where mail is set up: SMTP_URL and MAIL_FROM), on her first day. (An older
    demo gave these choices to Alex, who never signed in: they move to Priya.)"""
    priya = services.find_user_by_email(db, "priya@demo.test")
    alex = services.find_user_by_email(db, "alex@demo.test")
    if alex is not None and alex.last_seen_at is None:
        older = db.get(ReminderPreference, alex.id)
        if older is not None and older.group_activity:
            db.delete(older)
    if priya is None or db.get(ReminderPreference, priya.id) is not None:
        return
    db.add(
        ReminderPreference(
            user_id=priya.id,
            group_activity=True,
            daily_time=time(19, 0),
            by_email=True,
            updated_at=now - timedelta(days=2),
        )
    )


ALUMNI_HOURS = "Tuesdays and Thursdays, 9 am to 5 pm Eastern; we answer within two working days"


def _demo_alumni_and_audit(db: Session, therapist: User, admin: User, now) -> None:
    """Morgan finished the program about three months ago (in the Alumni Circle, with the
    discharge in the audit log), and the log has a morning's ordinary rows: sign-ins, reads, a
    refusal."""
    morgan = services.find_user_by_email(db, "morgan@demo.test")
    if morgan.discharged_on is None and morgan.status == ParticipantStatus.alumni:
        morgan.discharged_on = _local_day(now, morgan.timezone, MORGAN_DISCHARGED_DAYS)
        db.add(morgan)
    # The discharge on its (local) day, in the afternoon, and her record read a minute later.
    discharged = _at(morgan.discharged_on, time(16, 5), morgan.timezone)
    discharged_minutes_ago = int((now - discharged).total_seconds() // 60)
    if db.exec(select(AuditEvent.id).where(AuditEvent.action == "participant_discharged")).first():
        return
    sam = services.find_user_by_email(db, "sam@demo.test")
    jordan = services.find_user_by_email(db, "jordan@demo.test")
    rows = [
        (discharged_minutes_ago, "participant_discharged", therapist, morgan, "participant"),
        (discharged_minutes_ago - 1, "staff_read", therapist, morgan, "participant"),
        (26 * 60, "sign_in", admin, None, None),
        (26 * 60 - 5, "program_contact_changed", admin, None, "program_contact"),
        (3 * 60, "sign_in", therapist, None, None),
        (3 * 60 - 1, "staff_read", therapist, None, "caseload"),
        (3 * 60 - 2, "staff_read", therapist, sam, "participant"),
        (3 * 60 - 9, "staff_read", therapist, jordan, "participant"),
        (2 * 60, "sign_in", sam, None, None),
        (2 * 60 - 4, "access_denied", sam, None, "journal_entry"),
        (50, "sign_in", morgan, None, None),
    ]
    for minutes, action, actor, subject, object_type in rows:
        event = audit.record(
            db,
            action,
            actor_id=actor.id,
            subject_id=subject.id if subject else None,
            object_type=object_type,
            object_id=subject.id if object_type == "participant" else None,
            ip="127.0.0.1",
        )
        event.at = now - timedelta(minutes=minutes)


def load_demo(db: Session) -> list[tuple[str, str]]:
    """Create whatever of the demo program is missing; returns the logins to print."""
    therapist = _user(
        db,
        role=Role.therapist,
        email=THERAPIST_EMAIL,
        name="Dr. Maya Lopez",
        timezone="America/New_York",
        clock="24",  # she reads her week on a 24-hour clock (Account → Clock)
    )
    admin = _user(
        db, role=Role.admin, email=ADMIN_EMAIL, name="Riley Admin", timezone="America/New_York"
    )
    if program.get_contact(db) is None:  # the help page's "Your program" (Admin → Program)
        program.save_contact(
            db,
            by_id=admin.id,
            name="Riverside Evening IOP",
            phone="(555) 010-0199",  # 555-01xx: reserved for fiction
            hours="Monday to Friday, 9 am to 5 pm Eastern; evenings during group",
            message_hours="Weekdays 9 am to 5 pm Eastern; we answer within one working day",
            alumni_message_hours=ALUMNI_HOURS,
        )
    contact = program.get_contact(db)
    if not contact.alumni_message_hours:  # a demo made before alumni hours existed
        contact.alumni_message_hours = ALUMNI_HOURS
        db.add(contact)
    for group_name in (EVENING_GROUP, ALUMNI_GROUP):
        group = services.get_or_create_group(db, group_name)
        services.add_to_group(db, user=therapist, group=group, facilitator=True)
        if group_name == ALUMNI_GROUP and group.kind != GroupKind.alumni:
            group.kind = GroupKind.alumni  # Admin → All groups: the program's alumni group
            db.add(group)

    now = utcnow()
    for name, email, tz, group_name, status, last_seen_ago, days_in in PARTICIPANTS:
        created = services.find_user_by_email(db, email) is None
        person = _user(db, role=Role.participant, email=email, name=name, timezone=tz)
        services.link_care_team(db, therapist=therapist, participant=person)
        group = services.get_or_create_group(db, group_name)
        services.add_to_group(db, user=person, group=group, facilitator=False)
        if created:
            person.status = status
            person.last_seen_at = None if last_seen_ago is None else now - last_seen_ago
            person.created_at = now - timedelta(days=days_in, hours=1)
            db.add(person)
            membership = db.exec(
                select(GroupMembership).where(
                    GroupMembership.group_id == group.id, GroupMembership.user_id == person.id
                )
            ).one()
            membership.joined_at = person.created_at
            db.add(membership)

    _demo_journals(db, now)
    _demo_falling_mood(db, now)
    _demo_practice(db, therapist, now)
    _demo_sessions(db, therapist, now)
    _demo_messages(db, therapist, now)
    _demo_reminders(db, now)
    _demo_checkins(db, therapist, now)
    _demo_reminder_choices(db, now)
    _demo_alumni_and_audit(db, therapist, admin, now)

    if not services.has_invitation_named(db, therapist_id=therapist.id, name="Casey Morgan"):
        services.create_invitation(
            db,
            therapist=therapist,
            name="Casey Morgan",
            email=None,
            group=services.get_or_create_group(db, EVENING_GROUP),
            valid_for=timedelta(days=7),
        )
    return [
        ("therapist", THERAPIST_EMAIL),
        ("admin", ADMIN_EMAIL),
        *[("participant", email) for _, email, *_ in PARTICIPANTS],
    ]
