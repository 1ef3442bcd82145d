"""The journal: private by default, shared by choice, exportable, never written twice."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlmodel import func, select

from iop_pwa.accounts.models import User
from iop_pwa.audit import AuditEvent
from iop_pwa.journal.models import JournalEntry
from iop_pwa.journal.services import MoodDay, mood_summary
from iop_pwa.safety import CareFlag
from tests.conftest import PASSWORD

# 23:30 on Monday 23 November in Los Angeles is already Tuesday in UTC.
LATE_EVENING_LA = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)


def write(client, follow_redirects=False, **fields):
    data = {"client_id": str(uuid.uuid4()), "body": "A calm day.", "prompt": ""}
    data.update(fields)
    return client.post_form("/journal", data, follow_redirects=follow_redirects)


@pytest.fixture
def participant(make_user):
    therapist = make_user("therapist", email="care@example.test")
    return make_user(
        "participant", therapist=therapist, email="me@example.test", timezone="America/Los_Angeles"
    )


@pytest.fixture
def me(client, participant, sign_in):
    sign_in(participant)
    return participant


def entries(db, user):
    return db.exec(
        select(JournalEntry).where(JournalEntry.user_id == user.id).order_by(JournalEntry.id)
    ).all()


def test_write_an_entry_with_mood_feelings_and_prompt(client, me, db):
    page = client.get("/journal").get_data(as_text=True)
    assert "Today's prompt" in page and 'name="client_id"' in page
    response = write(
        client,
        body="Talked with my sister.\nIt went well.",
        mood="4",
        feelings=["Hopeful", "Connected"],
        own_words="lighter",
        prompt="When did you feel heard today?",
    )
    assert response.status_code == 303
    [entry] = entries(db, me)
    assert (entry.mood, entry.feeling_list, entry.own_words) == (
        4,
        ["Hopeful", "Connected"],
        "lighter",
    )
    assert entry.shared is False and entry.prompt == "When did you feel heard today?"
    listing = client.get("/journal").get_data(as_text=True)
    assert "Talked with my sister." in listing and "4 · Good" in listing


def test_every_mood_step_has_a_word(client, me):
    page = client.get("/journal").get_data(as_text=True)
    for word in ["1 · Very low", "2 · Low", "3 · Okay", "4 · Good", "5 · Very good"]:
        assert word in page


def test_empty_entry_is_refused_with_a_message_and_over_long_text_is_kept(client, me, db):
    empty = write(client, body="   ")
    assert empty.status_code == 422
    assert "Write something" in empty.get_data(as_text=True)
    long_text = "x" * 20_001
    too_long = write(client, body=long_text)
    assert too_long.status_code == 422
    assert "up to 20,000 characters" in too_long.get_data(as_text=True)
    assert long_text in too_long.get_data(as_text=True)  # nothing typed is lost
    assert entries(db, me) == []


def test_replaying_the_same_write_stores_one_entry(client, me, db):
    client_id = str(uuid.uuid4())
    for _ in range(3):
        assert write(client, client_id=client_id, body="Only once").status_code == 303
    assert len(entries(db, me)) == 1


def test_the_same_client_id_from_two_people_is_two_entries(app, client, me, make_user, db):
    other = make_user("participant")
    client_id = str(uuid.uuid4())
    write(client, client_id=client_id)
    other_client = app.test_client()
    other_client.post_form("/sign-in", {"email": other.email, "password": PASSWORD})
    assert write(other_client, client_id=client_id).status_code == 303
    assert db.exec(select(func.count()).select_from(JournalEntry)).one() == 2


def test_a_missing_or_malformed_client_id_is_refused(client, me, db):
    assert write(client, client_id="not-a-uuid").status_code == 422
    assert entries(db, me) == []


def test_device_time_and_local_date_are_kept(client, participant, sign_in, db):
    # Signed in inside the frozen time: a session cookie signed "in the future" is refused.
    me = participant
    with time_machine.travel(LATE_EVENING_LA, tick=False):
        sign_in(me)
        written = (LATE_EVENING_LA - timedelta(minutes=45)).isoformat()
        write(client, written_at=written)
        write(client, written_at="2001-01-01T00:00:00+00:00")  # not believable: server time
    first, second = entries(db, me)
    assert first.written_at == LATE_EVENING_LA - timedelta(minutes=45)
    assert first.received_at == LATE_EVENING_LA
    assert first.local_date == date(2026, 11, 23)  # the participant's Monday, not UTC's Tuesday
    assert second.written_at == LATE_EVENING_LA


def test_edit_share_unshare_and_delete(client, me, db):
    write(client, body="First draft")
    [entry] = entries(db, me)
    edit_page = client.get(f"/journal/{entry.id}/edit").get_data(as_text=True)
    assert "First draft" in edit_page
    response = client.post_form(
        f"/journal/{entry.id}/edit", {"body": "Second draft", "shared": "y", "mood": "3"}
    )
    assert response.status_code == 303
    entry = db.get(JournalEntry, entry.id)
    assert (entry.body, entry.shared, entry.mood) == ("Second draft", True, 3)
    assert entry.updated_at is not None
    client.post_form(f"/journal/{entry.id}/edit", {"body": "Second draft"})
    assert db.get(JournalEntry, entry.id).shared is False

    confirm = client.get(f"/journal/{entry.id}/delete")
    assert "Delete this entry?" in confirm.get_data(as_text=True)
    assert db.get(JournalEntry, entry.id) is not None  # asking deletes nothing
    assert client.post_form(f"/journal/{entry.id}/delete").status_code == 303
    assert db.get(JournalEntry, entry.id) is None


def test_list_is_newest_first_paged_and_filterable(client, participant, sign_in):
    base = datetime(2026, 11, 1, 18, 0, tzinfo=UTC)
    with time_machine.travel(base + timedelta(days=26), tick=False):
        sign_in(participant)
        for i in range(25):
            write(
                client,
                body=f"Entry number {i:02d}",
                mood=str(1 + i % 5),
                written_at=(base + timedelta(days=i)).isoformat(),
                feelings=["Grateful"] if i % 2 else ["Tired"],
            )
        first_page = client.get("/journal").get_data(as_text=True)
        assert first_page.index("Entry number 24") < first_page.index("Entry number 23")
        assert "Entry number 04" not in first_page and "Page 1 of 2" in first_page
        second = client.get("/journal?page=2").get_data(as_text=True)
        assert "Entry number 04" in second and "Entry number 24" not in second

        search = client.get("/journal?q=NUMBER 1").get_data(as_text=True)
        assert "10 matching entries" in search and "Entry number 20" not in search
        by_mood = client.get("/journal?mood=5").get_data(as_text=True)
        assert "5 matching entries" in by_mood
        by_feeling = client.get("/journal?feeling=Grateful").get_data(as_text=True)
        assert "12 matching entries" in by_feeling
        by_dates = client.get("/journal?date_from=2026-11-03&date_to=2026-11-05").get_data(
            as_text=True
        )
        assert "3 matching entries" in by_dates
        wildcard = client.get("/journal?q=%25").get_data(as_text=True)
        assert "0 matching entries" in wildcard


def test_htmx_filter_returns_only_the_list(client, me):
    write(client, body="Needle in the journal")
    response = client.get(
        "/journal?q=needle", headers={"HX-Request": "true", "HX-Target": "journal-entries"}
    )
    text = response.get_data(as_text=True)
    assert 'id="journal-entries"' in text and "Needle in the journal" in text
    assert "New entry" not in text and "<html" not in text


def test_journal_list_runs_a_constant_number_of_queries(client, me, count_queries):
    counts = []
    for batch in (2, 30):
        for i in range(batch):
            write(client, body=f"entry {i}", mood="3", feelings=["Calm"])
        client.get("/journal")
        with count_queries() as queries:
            assert client.get("/journal").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] and counts[0] <= 5, counts


def test_quick_check_in_from_today(client, me, db):
    today = client.get("/today").get_data(as_text=True)
    assert "Mood check-in" in today and "Save check-in" in today
    response = client.post_form(
        "/journal/checkin",
        {"client_id": str(uuid.uuid4()), "mood": "2", "own_words": "tired"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Thank you for checking in" in response.get_data(as_text=True)
    [entry] = entries(db, me)
    assert (entry.kind, entry.mood, entry.body, entry.shared) == ("checkin", 2, "", False)
    assert "You checked in today" in client.get("/today").get_data(as_text=True)
    missing = client.post_form(
        "/journal/checkin", {"client_id": str(uuid.uuid4())}, headers={"HX-Request": "true"}
    )
    assert missing.status_code == 422
    assert "Choose how you are feeling" in missing.get_data(as_text=True)


def test_crisis_language_shows_resources_and_flags_only_shared_entries(client, me, db):
    private = write(client, body="Some days I want to die.", follow_redirects=True)
    text = private.get_data(as_text=True)
    assert "988" in text and "no one was alerted" in text
    assert db.exec(select(CareFlag)).all() == []

    shared = write(
        client, body="I keep thinking about ending my life.", shared="y", follow_redirects=True
    )
    assert "they will see it" in shared.get_data(as_text=True)
    [flag] = db.exec(select(CareFlag)).all()
    assert flag.participant_id == me.id and flag.seen_at is None

    checkin = client.post_form(
        "/journal/checkin",
        {"client_id": str(uuid.uuid4()), "mood": "1", "own_words": "suicidal"},
        headers={"HX-Request": "true"},
    )
    assert "988" in checkin.get_data(as_text=True)
    assert len(db.exec(select(CareFlag)).all()) == 1  # check-ins are private: no flag


def test_sharing_a_private_crisis_entry_later_raises_the_flag(client, me, db):
    write(client, body="I want to hurt myself")
    [entry] = entries(db, me)
    assert db.exec(select(CareFlag)).all() == []
    client.post_form(f"/journal/{entry.id}/edit", {"body": entry.body, "shared": "y"})
    assert len(db.exec(select(CareFlag)).all()) == 1


def test_mood_chart_table_and_summary(client, participant, sign_in):
    base = datetime(2026, 11, 1, 18, 0, tzinfo=UTC)
    with time_machine.travel(base + timedelta(days=10), tick=False):
        sign_in(participant)
        for i in range(10):
            client.post_form(
                "/journal/checkin",
                {
                    "client_id": str(uuid.uuid4()),
                    "mood": str(2 if i < 5 else 4),
                    "written_at": (base + timedelta(days=i)).isoformat(),
                },
            )
        page = client.get("/journal/mood").get_data(as_text=True)
        assert "<svg" in page and "<polyline" in page and "<table" in page
        assert "You checked in on 10 of the last 30 days" in page
        assert "Your average mood was 3.0 (Okay)" in page
        assert "4.0 (Good)" in page and "No check-in" in page
        assert client.get("/journal/mood?days=90").status_code == 200
        assert client.get("/journal/mood?days=7").status_code == 404


def test_export_contains_everything_written_and_the_part_2_notice(client, me, db):
    write(client, body='=HYPERLINK("http://evil")', mood="3")
    client.post_form("/journal/checkin", {"client_id": str(uuid.uuid4()), "mood": "5"})
    response = client.get("/account/my-data.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    notice = "42 CFR part 2 prohibits unauthorized disclosure of these records."
    assert notice in archive.read("NOTICE.txt").decode()
    data = json.loads(archive.read("my-data.json"))
    assert data["notice"] == notice
    assert [r["kind"] for r in data["journal"]] == ["entry", "checkin"]
    assert data["journal"][0]["text"] == '=HYPERLINK("http://evil")'
    csv_text = archive.read("journal.csv").decode()
    assert "'=HYPERLINK" in csv_text  # a spreadsheet will not run it
    assert db.exec(select(AuditEvent).where(AuditEvent.action == "data_export")).one()


def test_delete_account_names_what_goes_and_removes_the_journal(client, me, db):
    write(client, body="Mine")
    page = client.get("/account/delete").get_data(as_text=True)
    assert "every journal entry and mood check-in" in page
    wrong = client.post_form("/account/delete", {"password": "not my password"})
    assert wrong.status_code == 422
    assert db.get(User, me.id) is not None
    response = client.post_form("/account/delete", {"password": PASSWORD})
    assert response.status_code == 303
    assert db.get(User, me.id) is None
    assert db.exec(select(func.count()).select_from(JournalEntry)).one() == 0
    assert client.get("/journal").status_code == 303  # signed out


def test_therapist_sees_only_shared_entries_and_each_read_is_audited(app, client, me, db):
    write(client, body="My private thoughts")
    write(client, body="For my therapist", shared="y", mood="2")
    therapist = app.test_client()
    therapist.post_form("/sign-in", {"email": "care@example.test", "password": PASSWORD})
    page = therapist.get(f"/dashboard/participants/{me.id}").get_data(as_text=True)
    assert "For my therapist" in page and "2 · Low" in page
    assert "My private thoughts" not in page
    assert "1 shared" not in page or "private" not in page.lower().split("shared entries")[0]
    reads = db.exec(select(AuditEvent).where(AuditEvent.action == "staff_read")).all()
    assert [r.subject_id for r in reads] == [me.id]


def test_flag_shows_on_dashboard_until_marked_seen(app, client, me, db):
    write(client, body="I have no reason to live", shared="y")
    therapist = app.test_client()
    therapist.post_form("/sign-in", {"email": "care@example.test", "password": PASSWORD})
    dashboard = therapist.get("/dashboard").get_data(as_text=True)
    attention = dashboard.split('id="attention-heading"')[1].split("</section>")[0]
    assert "crisis language" in attention.lower()
    [flag] = db.exec(select(CareFlag)).all()
    assert therapist.post_form(f"/dashboard/flags/{flag.id}/seen").status_code == 303
    assert db.get(CareFlag, flag.id).seen_at is not None
    dashboard = therapist.get("/dashboard").get_data(as_text=True)
    assert "crisis language" not in dashboard.lower()


def test_other_people_cannot_reach_an_entry(app, client, me, make_user, db):
    write(client, body="Mine only")
    [entry] = entries(db, me)
    stranger = make_user("participant")
    other = app.test_client()
    other.post_form("/sign-in", {"email": stranger.email, "password": PASSWORD})
    for path in [
        f"/journal/{entry.id}",
        f"/journal/{entry.id}/edit",
        f"/journal/{entry.id}/delete",
    ]:
        assert other.get(path).status_code == 404
    assert other.post_form(f"/journal/{entry.id}/delete").status_code == 404
    assert db.get(JournalEntry, entry.id) is not None


def test_mood_summary_speaks_plainly_about_trends_and_journaling():
    start = date(2026, 10, 1)
    days = [
        MoodDay(
            start + timedelta(days=i),
            2.0 if i < 15 else 4.0,
            wrote=i >= 20,
            practised=i % 2 == 0 or i >= 15,
        )
        for i in range(30)
    ]
    summary = " ".join(mood_summary(days))
    assert "You checked in on 30 of the last 30 days" in summary
    assert "higher in the second half" in summary
    assert "higher on days you wrote in your journal" in summary
    assert "Your mood was higher on days you practised." in summary
    assert mood_summary(days[:2]) == []  # too little to say anything


def test_two_copies_of_a_write_arriving_at_once_store_one_entry(app, participant, db, monkeypatch):
    """The page and the service worker can send the same queued item at the same moment: the
    second insert hits UNIQUE(user, client id) and gets the original back instead of a 500."""
    from iop_pwa.db import session_scope
    from iop_pwa.journal import services

    client_id = str(uuid.uuid4())
    with app.app_context(), session_scope() as first:
        services.save_entry(
            first,
            user=first.get(User, participant.id),
            client_id=client_id,
            mood=3,
            body="Sent twice",
            written_at=datetime.now(UTC),
        )
    real_lookup = services._by_client_id
    calls = {"n": 0}

    def lookup_that_loses_the_race(*args):
        calls["n"] += 1
        return None if calls["n"] == 1 else real_lookup(*args)

    monkeypatch.setattr(services, "_by_client_id", lookup_that_loses_the_race)
    with app.app_context(), session_scope() as second:
        result = services.save_entry(
            second,
            user=second.get(User, participant.id),
            client_id=client_id,
            mood=3,
            body="Sent twice",
            written_at=datetime.now(UTC),
        )
        assert result.created is False and result.entry.body == "Sent twice"
    assert len(entries(db, participant)) == 1


class _Crash(Exception):
    """Stands for the process dying after the entry's savepoint and before the commit."""


def test_a_crash_after_a_shared_crisis_entry_keeps_it_and_its_flag_together(app, participant, db):
    """On SQLite the release of a first savepoint commits it: if the flag were raised after the
    savepoint, a crash in between would keep the entry without its flag, and the replay from the
    phone (same client id) would find the entry and never flag. Entry and flag stand or fall
    together, on either database."""
    from iop_pwa.db import session_scope
    from iop_pwa.journal import services

    with pytest.raises(_Crash), app.app_context(), session_scope() as crashing:
        services.save_entry(
            crashing,
            user=crashing.get(User, participant.id),
            client_id=str(uuid.uuid4()),
            mood=1,
            body="I keep thinking about ending my life.",
            shared=True,
            written_at=datetime.now(UTC),
        )
        raise _Crash
    db.expire_all()
    stored = len(entries(db, participant))
    flags = db.exec(select(CareFlag).where(CareFlag.participant_id == participant.id)).all()
    assert (stored, len(flags)) in {(0, 0), (1, 1)}
