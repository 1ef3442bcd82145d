"""Check-ins: PHQ-9 and GAD-7 scored against the published bands, the team's own check-ins,
schedules (participant and group, across DST, stopping), one answer per occurrence, offline
replays, the PHQ-9 item-9 flag, alumni at 1, 3 and 6 months, access, query counts, My data,
reminders, and the services the dashboard uses."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from iop_pwa.accounts.models import Group, ParticipantStatus, User
from iop_pwa.audit import AuditEvent
from iop_pwa.checkins import questionnaires as forms
from iop_pwa.checkins import services
from iop_pwa.checkins.models import CheckinAnswer, CheckinSchedule, Questionnaire
from iop_pwa.db import session_scope
from iop_pwa.notifications import Notification
from iop_pwa.safety import CareFlag
from tests.conftest import PASSWORD

# Noon in New York on a Monday (UTC-5 in winter).
MONDAY = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)


def signed_in(app, user):
    client = app.test_client()
    response = client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    return client


def values_for(form: forms.Form, total: int, *, item9: int = 0) -> list[int]:
    """Answers adding up to `total` (item 9 of PHQ-9 as given), highest values first."""
    top = max(v for v, _ in form.choices)
    values = [0] * len(form.items)
    rest = total
    if form.slug == "phq9":
        values[forms.SAFETY_ITEM] = item9
        rest -= item9
    for i in range(len(values)):
        if form.slug == "phq9" and i == forms.SAFETY_ITEM:
            continue
        values[i] = min(top, rest)
        rest -= values[i]
    assert rest == 0 and sum(values) == total
    return values


PHQ9_BOUNDARIES = [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
    (14, "moderate"), (15, "moderately severe"), (19, "moderately severe"), (20, "severe"),
    (24, "severe"),
]  # fmt: skip
GAD7_BOUNDARIES = [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
    (14, "moderate"), (15, "severe"), (21, "severe"),
]  # fmt: skip


@pytest.mark.parametrize(("total", "band"), PHQ9_BOUNDARIES)
def test_phq9_bands_at_every_boundary(total, band):
    assert forms.score(forms.PHQ9, values_for(forms.PHQ9, total)) == (total, band)


def test_phq9_top_score_is_severe():
    assert forms.score(forms.PHQ9, [3] * 9) == (27, "severe")
    assert forms.PHQ9.max_score == 27 and forms.GAD7.max_score == 21


@pytest.mark.parametrize(("total", "band"), GAD7_BOUNDARIES)
def test_gad7_bands_at_every_boundary(total, band):
    assert forms.score(forms.GAD7, values_for(forms.GAD7, total)) == (total, band)


def test_the_published_wording_and_answers():
    assert forms.STEM == (
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    )
    assert [w for _, w in forms.FREQUENCY] == [
        "Not at all", "Several days", "More than half the days", "Nearly every day",
    ]  # fmt: skip
    assert [v for v, _ in forms.FREQUENCY] == [0, 1, 2, 3]
    assert len(forms.PHQ9.items) == 9 and len(forms.GAD7.items) == 7
    assert forms.PHQ9.items[8].startswith("Thoughts that you would be better off dead")
    assert forms.GAD7.items[0] == "Feeling nervous, anxious or on edge"
    assert [(lo, hi) for lo, hi, _ in forms.PHQ9.band_ranges] == [
        (0, 4), (5, 9), (10, 14), (15, 19), (20, 27),
    ]  # fmt: skip


@pytest.mark.parametrize("values", [[0] * 8, [0] * 10, [4] + [0] * 8, [-1] + [0] * 8])
def test_a_score_needs_one_allowed_answer_per_item(values):
    with pytest.raises(ValueError):
        forms.score(forms.PHQ9, values)


# --- A participant with a weekly PHQ-9 -------------------------------------------------------


@pytest.fixture
def team(app, make_user):
    therapist = make_user("therapist", email="t@example.test", group="Evening group")
    person = make_user(
        "participant", therapist=therapist, email="p@example.test", group="Evening group"
    )
    return therapist, person


def builtin(app, slug: str) -> int:
    with app.app_context(), session_scope() as db:
        return services.builtins(db)[slug].id


def schedule(app, therapist, *, slug="phq9", participant=None, group_name=None, every=1,
             start=date(2026, 11, 23), questionnaire_id=None) -> int:  # fmt: skip
    with app.app_context(), session_scope() as db:
        q = db.get(Questionnaire, questionnaire_id or services.builtins(db)[slug].id)
        group = db.exec(select(Group).where(Group.name == group_name)).one() if group_name else None
        row = services.schedule(
            db,
            therapist=db.get(User, therapist.id),
            questionnaire=q,
            participant=db.get(User, participant.id) if participant else None,
            group=group,
            every_weeks=every,
            start_date=start,
        )
        return row.id


def answer(client, qid: int, values: list[int], *, due_on="2026-11-23", client_id=None, **kw):
    data = {f"item_{i}": str(v) for i, v in enumerate(values)}
    data |= {"client_id": client_id or str(uuid.uuid4()), "due_on": due_on}
    return client.post_form(f"/checkins/{qid}", data, **kw)


OUTBOX = {"X-Outbox": "1", "Accept": "application/json"}


def answers(db, person) -> list[CheckinAnswer]:
    return list(db.exec(select(CheckinAnswer).where(CheckinAnswer.participant_id == person.id)))


@time_machine.travel(MONDAY, tick=False)
def test_a_due_phq9_shows_on_today_and_its_score_after_answering(app, team, db):
    therapist, person = team
    schedule(app, therapist, participant=person)
    phq9 = builtin(app, "phq9")
    client = signed_in(app, person)
    today = client.get("/today").get_data(as_text=True)
    assert "Check-in due: PHQ-9" in today
    page = client.get(f"/checkins/{phq9}").get_data(as_text=True)
    assert forms.STEM in page and "<legend>9. Thoughts that you would be better off" in page
    assert page.count('type="radio"') == 36 and page.count("<fieldset") == 9
    assert 'data-offline-write="checkin"' in page and 'value="2026-11-23"' in page
    response = answer(client, phq9, values_for(forms.PHQ9, 7))
    assert response.status_code == 303 and response.headers["Location"] == "/checkins"
    shown = client.get("/checkins").get_data(as_text=True)
    assert "Your PHQ-9 score is 7 out of 27" in shown and "some signs of low mood" in shown
    assert "(mild)" in shown and "have to carry this alone" not in shown
    assert "<svg" in shown and "<table>" in shown and "The table has the same numbers" in shown
    [row] = answers(db, person)
    assert (row.score, row.band, row.due_on) == (7, "mild", date(2026, 11, 23))
    assert "Check-in due" not in client.get("/today").get_data(as_text=True)
    assert db.exec(select(CareFlag)).all() == []


@time_machine.travel(MONDAY, tick=False)
def test_item_9_above_0_shows_crisis_help_at_once_and_flags_the_care_team(app, team, db):
    therapist, person = team
    schedule(app, therapist, participant=person)
    phq9 = builtin(app, "phq9")
    client = signed_in(app, person)
    page = client.get(f"/checkins/{phq9}").get_data(as_text=True)
    assert 'class="crisis-now"' in page  # shown by CSS as soon as item 9 is above 0
    response = answer(client, phq9, values_for(forms.PHQ9, 4, item9=1), follow_redirects=True)
    shown = response.get_data(as_text=True)
    assert "have to carry this alone" in shown
    assert "988" in shown and "they will see it and can reach out" in shown
    [flag] = db.exec(select(CareFlag)).all()
    assert (flag.participant_id, flag.reason, flag.source_type) == (
        person.id, "risk_answer", "checkin_answer",
    )  # fmt: skip
    assert flag.source_words == "a check-in answer"
    assert flag.words == (
        "PHQ-9 item 9 (thoughts of death or self-harm) above 0 in a check-in answer"
    )
    [alert] = db.exec(select(Notification).where(Notification.user_id == therapist.id)).all()
    assert alert.kind == "care_flag" and "PHQ" not in alert.text
    dashboard = signed_in(app, therapist).get("/dashboard").get_data(as_text=True)
    assert person.name in dashboard


@time_machine.travel(MONDAY, tick=False)
def test_an_offline_answer_replayed_arrives_once_and_still_flags(app, team, db):
    therapist, person = team
    schedule(app, therapist, participant=person)
    phq9 = builtin(app, "phq9")
    client = signed_in(app, person)
    values, client_id = values_for(forms.PHQ9, 12, item9=2), str(uuid.uuid4())
    written = (MONDAY - timedelta(hours=3)).isoformat()
    for _ in range(3):  # the outbox retries after a lost answer
        response = answer(client, phq9, values, client_id=client_id, headers=OUTBOX,
                          data_written_at=written) if False else client.post_form(
            f"/checkins/{phq9}",
            {f"item_{i}": str(v) for i, v in enumerate(values)}
            | {"client_id": client_id, "due_on": "2026-11-23", "written_at": written},
            headers=OUTBOX,
        )  # fmt: skip
        assert response.status_code == 200
        assert json.loads(response.data) == {
            "id": client_id, "status": "saved", "redirect": "/checkins",
        }  # fmt: skip
    [row] = answers(db, person)
    assert row.score == 12 and row.answered_at == MONDAY - timedelta(hours=3)
    [flag] = db.exec(select(CareFlag)).all()
    assert flag.source_id == row.id


@time_machine.travel(MONDAY, tick=False)
def test_one_answer_per_occurrence(app, team, db):
    therapist, person = team
    schedule(app, therapist, participant=person)
    phq9 = builtin(app, "phq9")
    client = signed_in(app, person)
    assert answer(client, phq9, values_for(forms.PHQ9, 3)).status_code == 303
    second = answer(client, phq9, values_for(forms.PHQ9, 9), follow_redirects=True)
    assert "You had already answered this PHQ-9" in second.get_data(as_text=True)
    [row] = answers(db, person)
    assert row.score == 3
    # A second answer from another phone that holds a risk answer still flags.
    answer(client, phq9, values_for(forms.PHQ9, 3, item9=1), headers=OUTBOX)
    assert len(answers(db, person)) == 1 and len(db.exec(select(CareFlag)).all()) == 1


@time_machine.travel(MONDAY, tick=False)
def test_bad_answers_get_a_clear_422_and_nothing_is_stored(app, team, db):
    therapist, person = team
    schedule(app, therapist, participant=person)
    phq9 = builtin(app, "phq9")
    client = signed_in(app, person)
    missing = answer(client, phq9, [1, 1, 1])
    assert missing.status_code == 422
    assert "Choose an answer for question 4." in missing.get_data(as_text=True)
    odd = answer(client, phq9, [7] * 9)
    assert odd.status_code == 422
    future = answer(client, phq9, [0] * 9, due_on="2026-11-30")
    assert future.status_code == 422 and "not due" in future.get_data(as_text=True)
    not_an_occurrence = answer(client, phq9, [0] * 9, due_on="2026-11-22", headers=OUTBOX)
    assert not_an_occurrence.status_code == 422
    assert json.loads(not_an_occurrence.data)["status"] == "invalid"
    far = answer(client, phq9, [0] * 9, due_on="9999-12-31")
    assert far.status_code == 422 and answers(db, person) == []


def test_a_missed_occurrence_is_not_piled_up(app, team, db):
    therapist, person = team
    with time_machine.travel(MONDAY, tick=False):
        schedule(app, therapist, participant=person, every=2)
    phq9 = builtin(app, "phq9")
    with app.app_context(), session_scope() as s:
        me = s.get(User, person.id)
        plans = services.plans_for(s, me, date(2026, 11, 23))
        assert [(p.current, p.due, p.next_on) for p in plans] == [
            (date(2026, 11, 23), True, date(2026, 12, 7))
        ]
        # Five weeks later, unanswered: one check-in due (the latest occurrence), not three.
        [plan] = services.plans_for(s, me, date(2026, 12, 28))
        assert (plan.current, plan.due) == (date(2026, 12, 21), True)
    with time_machine.travel(datetime(2026, 12, 28, 17, 0, tzinfo=UTC), tick=False):
        client = signed_in(app, person)
        today = client.get("/today").get_data(as_text=True)
        assert today.count("Check-in due: PHQ-9") == 1
        assert answer(client, phq9, [0] * 9, due_on="2026-12-21").status_code == 303
        assert "Check-in due" not in client.get("/today").get_data(as_text=True)


def test_weekly_check_ins_keep_their_weekday_and_local_time_across_dst(app, team, db):
    """A weekly schedule from Monday 26 October falls on Mondays after the clocks go back on 1
    November, and its reminder comes at 18:00 New York time on both sides (22:00 then 23:00
    UTC)."""
    from iop_pwa.checkins import reminders
    from iop_pwa.features import ReminderSettings

    therapist, person = team
    with time_machine.travel(datetime(2026, 10, 26, 16, 0, tzinfo=UTC), tick=False):
        schedule(app, therapist, participant=person, start=date(2026, 10, 26))
    with app.app_context(), session_scope() as s:
        row = s.exec(select(CheckinSchedule)).one()
        assert services.occurrence_on(row, date(2026, 11, 1)) == date(2026, 10, 26)
        assert services.occurrence_on(row, date(2026, 11, 2)) == date(2026, 11, 2)
        assert services.occurrence_on(row, date(2027, 3, 15)) == date(2027, 3, 15)  # after spring

        def due(start, end):
            return list(
                reminders.due(s, start=start, end=end, settings=lambda _id: ReminderSettings())
            )

        before = due(
            datetime(2026, 10, 26, 0, 0, tzinfo=UTC), datetime(2026, 10, 27, 5, tzinfo=UTC)
        )
        after = due(datetime(2026, 11, 2, 0, 0, tzinfo=UTC), datetime(2026, 11, 3, 5, tzinfo=UTC))
        spring = due(datetime(2027, 3, 15, 0, 0, tzinfo=UTC), datetime(2027, 3, 16, 5, tzinfo=UTC))
        assert [r.at for r in before] == [datetime(2026, 10, 26, 22, 0, tzinfo=UTC)]
        assert [r.at for r in after] == [datetime(2026, 11, 2, 23, 0, tzinfo=UTC)]
        assert [r.at for r in spring] == [datetime(2027, 3, 15, 22, 0, tzinfo=UTC)]
        assert after[0].category == "practice" and after[0].url.startswith("/checkins/")
        assert after[0].key.endswith(":2026-11-02")
        # No reminder on the days between, nor once it is answered.
        assert (
            due(datetime(2026, 10, 27, 5, tzinfo=UTC), datetime(2026, 11, 2, 0, tzinfo=UTC)) == []
        )
        s.add(
            CheckinAnswer(
                participant_id=person.id, questionnaire_id=row.questionnaire_id,
                client_id=str(uuid.uuid4()), due_on=date(2026, 11, 2), answers="0",
                score=0, local_date=date(2026, 11, 2),
                answered_at=datetime(2026, 11, 2, 15, tzinfo=UTC),
            )
        )  # fmt: skip
        s.flush()
        assert (
            due(datetime(2026, 11, 2, 0, 0, tzinfo=UTC), datetime(2026, 11, 3, 5, tzinfo=UTC)) == []
        )


def test_a_group_schedule_reaches_members_who_join_later(app, team, make_user, db):
    therapist, person = team
    with time_machine.travel(MONDAY, tick=False):
        schedule(app, therapist, slug="gad7", group_name="Evening group")
        later = make_user("participant", therapist=therapist, group="Evening group")
        outsider = make_user("participant", therapist=therapist)
        gad7 = builtin(app, "gad7")
        for who, due in ((person, True), (later, True), (outsider, False)):
            page = signed_in(app, who).get("/today").get_data(as_text=True)
            assert ("Check-in due: GAD-7" in page) is due
        assert signed_in(app, outsider).get(f"/checkins/{gad7}").status_code == 404


@time_machine.travel(MONDAY, tick=False)
def test_a_therapist_schedules_from_the_participant_page_and_stops_it(app, team, db):
    therapist, person = team
    client = signed_in(app, therapist)
    page = client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True)
    assert "Schedule a check-in" in page and "No check-ins scheduled." in page
    phq9 = builtin(app, "phq9")
    response = client.post_form(
        f"/dashboard/participants/{person.id}/checkins",
        {"questionnaire": str(phq9), "every_weeks": "2", "start_date": "2026-11-23"},
    )
    assert response.status_code == 303
    row = db.exec(select(CheckinSchedule)).one()
    assert (row.participant_id, row.every_weeks, row.therapist_id) == (person.id, 2, therapist.id)
    page = client.get(f"/dashboard/participants/{person.id}").get_data(as_text=True)
    assert "PHQ-9: every 2 weeks from" in page
    audited = db.exec(select(AuditEvent).where(AuditEvent.action == "checkin_scheduled")).one()
    assert audited.subject_id == person.id and audited.actor_id == therapist.id
    bad = client.post_form(
        f"/dashboard/participants/{person.id}/checkins",
        {"questionnaire": str(phq9), "every_weeks": "3", "start_date": "2026-11-23"},
    )
    assert bad.status_code == 422
    assert client.post_form(f"/dashboard/checkins/schedules/{row.id}/stop").status_code == 303
    assert db.get(CheckinSchedule, row.id).stopped_at is not None
    assert "Check-in due" not in signed_in(app, person).get("/today").get_data(as_text=True)


@time_machine.travel(MONDAY, tick=False)
def test_a_therapist_writes_their_own_check_in_and_schedules_it_for_a_group(
    app, team, make_user, db
):
    therapist, person = team
    client = signed_in(app, therapist)
    assert "New check-in" in client.get("/dashboard/checkins").get_data(as_text=True)
    made = client.post_form(
        "/dashboard/checkins/new",
        {
            "title": "Relationships this week",
            "questions": "How connected did you feel to the people close to you this week?",
        },
    )
    assert made.status_code == 303
    q = db.exec(select(Questionnaire).where(Questionnaire.owner_id == therapist.id)).one()
    too_many = client.post_form(
        f"/dashboard/checkins/{q.id}/edit", {"title": "X", "questions": "a\nb\nc\nd\ne\nf"}
    )
    assert too_many.status_code == 422 and "between 1 and 5 questions" in too_many.get_data(
        as_text=True
    )
    group = db.exec(select(Group).where(Group.name == "Evening group")).one()
    page = client.get(f"/dashboard/groups/{group.id}/checkins").get_data(as_text=True)
    assert "Relationships this week" in page
    response = client.post_form(
        f"/dashboard/groups/{group.id}/checkins",
        {"questionnaire": str(q.id), "every_weeks": "1", "start_date": "2026-11-23"},
    )
    assert response.status_code == 303
    other = make_user("therapist")
    assert signed_in(app, other).get(f"/dashboard/checkins/{q.id}/edit").status_code == 404
    me = signed_in(app, person)
    form = me.get(f"/checkins/{q.id}").get_data(as_text=True)
    assert "How connected did you feel to the people close to you this week?" in form
    assert "Very much" in form and form.count('type="radio"') == 5
    done = answer(me, q.id, [4], follow_redirects=True).get_data(as_text=True)
    assert "Your answers add up to 4 out of 5" in done
    [row] = answers(db, person)
    assert (row.score, row.band) == (4, "")


# --- Alumni -----------------------------------------------------------------------------------


def discharge(app, person, day: date) -> None:
    with app.app_context(), session_scope() as db:
        user = db.get(User, person.id)
        user.status, user.discharged_on = ParticipantStatus.alumni, day
        db.add(user)


def test_alumni_get_phq9_and_gad7_at_1_3_and_6_months(app, team, db):
    therapist, person = team
    own = None
    with app.app_context(), session_scope() as s:
        own = Questionnaire(owner_id=therapist.id, title="Connected", questions="How?")
        s.add(own)
        s.flush()
        own = own.id
    with time_machine.travel(datetime(2026, 1, 5, 17, tzinfo=UTC), tick=False):
        schedule(app, therapist, participant=person, questionnaire_id=own, start=date(2026, 1, 5))
    discharge(app, person, date(2026, 1, 31))
    expected = {
        date(2026, 2, 27): None,  # before the first month
        date(2026, 2, 28): date(2026, 2, 28),  # 1 month (February is short)
        date(2026, 4, 29): date(2026, 2, 28),
        date(2026, 4, 30): date(2026, 4, 30),  # 3 months
        date(2026, 7, 31): date(2026, 7, 31),  # 6 months
        date(2027, 1, 1): date(2026, 7, 31),
    }
    with app.app_context(), session_scope() as s:
        me = s.get(User, person.id)
        for day, current in expected.items():
            plans = services.plans_for(s, me, day)
            assert sorted(p.questionnaire.title for p in plans) == ["GAD-7", "PHQ-9"], day
            assert {p.current for p in plans} == {current}, day
    with time_machine.travel(datetime(2026, 3, 2, 17, tzinfo=UTC), tick=False):
        client = signed_in(app, person)
        today = client.get("/today").get_data(as_text=True)
        assert "Check-in due: PHQ-9" in today and "Check-in due: GAD-7" in today
        assert "Connected" not in today  # in-program schedules stop applying
        assert client.get(f"/checkins/{own}").status_code == 404
        phq9 = builtin(app, "phq9")
        assert answer(client, phq9, [0] * 9, due_on="2026-02-28").status_code == 303
        assert "Check-in due: PHQ-9" not in client.get("/today").get_data(as_text=True)
    with time_machine.travel(datetime(2026, 5, 1, 17, tzinfo=UTC), tick=False):
        assert "Check-in due: PHQ-9" in signed_in(app, person).get("/today").get_data(as_text=True)


def test_the_alumni_months_are_configurable(monkeypatch):
    from iop_pwa.config import ConfigError, alumni_months

    assert alumni_months("1,3,6") == (1, 3, 6)
    assert alumni_months(" 12, 2 ") == (2, 12)
    for bad in ("", "one", "0", "1,,x"):
        with pytest.raises(ConfigError):
            alumni_months(bad)


def test_alumni_months_from_the_app_config(app, team):
    therapist, person = team
    discharge(app, person, date(2026, 1, 15))
    app.config["ALUMNI_CHECKIN_MONTHS"] = (2,)
    with app.app_context(), session_scope() as s:
        me = s.get(User, person.id)
        assert {p.current for p in services.plans_for(s, me, date(2026, 3, 14))} == {None}
        assert {p.current for p in services.plans_for(s, me, date(2026, 3, 15))} == {
            date(2026, 3, 15)
        }


# --- Access -----------------------------------------------------------------------------------


@time_machine.travel(MONDAY, tick=False)
def test_others_get_404_and_it_is_audited(app, team, make_user, db):
    therapist, person = team
    sid = schedule(app, therapist, participant=person)
    stranger = make_user("therapist")
    client = signed_in(app, stranger)
    phq9 = builtin(app, "phq9")
    for path in (
        f"/dashboard/participants/{person.id}/checkins",
        f"/dashboard/checkins/schedules/{sid}/stop",
    ):
        data = {"questionnaire": str(phq9), "every_weeks": "1", "start_date": "2026-11-23"}
        assert client.post_form(path, data).status_code == 404
    group = db.exec(select(Group).where(Group.name == "Evening group")).one()
    assert client.get(f"/dashboard/groups/{group.id}/checkins").status_code == 404
    other = make_user("participant")
    assert signed_in(app, other).get(f"/checkins/{phq9}").status_code == 404
    denied = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert len(denied) == 4
    assert db.get(CheckinSchedule, sid).stopped_at is None


# --- Query counts, My data, dashboard services -------------------------------------------------


def add_history(app, person, qid: int, scores: list[int], start: date, form=forms.PHQ9) -> None:
    with app.app_context(), session_scope() as db:
        for i, score in enumerate(scores):
            day = start + timedelta(weeks=i)
            db.add(
                CheckinAnswer(
                    participant_id=person.id, questionnaire_id=qid,
                    client_id=str(uuid.uuid4()), due_on=day,
                    answers=",".join(str(v) for v in values_for(form, score)),
                    score=score, band=form.band(score), local_date=day,
                    answered_at=datetime(day.year, day.month, day.day, 15, tzinfo=UTC),
                )
            )  # fmt: skip


@time_machine.travel(MONDAY, tick=False)
def test_pages_run_a_constant_number_of_queries_as_history_grows(app, team, count_queries):
    therapist, person = team
    schedule(app, therapist, participant=person)
    schedule(app, therapist, slug="gad7", group_name="Evening group")
    phq9, gad7 = builtin(app, "phq9"), builtin(app, "gad7")
    me, staff = signed_in(app, person), signed_in(app, therapist)
    pages = (
        (me, "/checkins"),
        (me, "/today"),
        (me, f"/checkins/{phq9}"),
        (staff, f"/dashboard/participants/{person.id}"),
    )
    counts = []
    for start, many in ((date(2025, 12, 1), 3), (date(2024, 12, 2), 50)):
        add_history(app, person, phq9, [(i * 3) % 25 for i in range(many)], start)
        add_history(app, person, gad7, [(i * 2) % 22 for i in range(many)], start, forms.GAD7)
        found = []
        for client, path in pages:
            client.get(path)
            with count_queries() as queries:
                assert client.get(path).status_code == 200
            found.append(len(queries))
        counts.append(found)
    assert counts[0] == counts[1], counts


def test_my_data_exports_answers_and_deleting_the_account_removes_them(app, team, db):
    therapist, person = team
    phq9 = builtin(app, "phq9")
    add_history(app, person, phq9, [5, 12], date(2026, 11, 2))
    with app.app_context(), session_scope() as s:
        records = services.export_records(s, user=s.get(User, person.id))
    assert [r["score"] for r in records] == [5, 12]
    assert records[0]["check_in"] == "PHQ-9" and records[0]["band"] == "mild"
    assert records[0]["answers"][0] == {
        "question": "Little interest or pleasure in doing things",
        "answer": 3,
        "answer_words": "Nearly every day",
    }
    client = signed_in(app, person)
    deleted = client.post_form("/account/delete", {"password": PASSWORD, "confirm": "DELETE"})
    assert deleted.status_code in (200, 303)
    assert answers(db, person) == []


def test_dashboard_services_take_many_participants_in_one_query(
    app, team, make_user, count_queries
):
    therapist, person = team
    steady = make_user("participant", therapist=therapist)
    high = make_user("participant", therapist=therapist)
    quiet = make_user("participant", therapist=therapist)
    phq9, gad7 = builtin(app, "phq9"), builtin(app, "gad7")
    add_history(app, person, phq9, [4, 6, 12], date(2026, 10, 5))  # up by 6
    add_history(app, steady, phq9, [8, 9, 8], date(2026, 10, 5))
    add_history(app, high, phq9, [13, 16], date(2026, 10, 5))  # into moderately severe
    add_history(app, high, gad7, [3], date(2026, 11, 23), forms.GAD7)  # the latest is a GAD-7
    ids = [person.id, steady.id, high.id, quiet.id]
    with app.test_request_context(), session_scope() as db:
        with count_queries() as queries:
            latest = services.latest_for(db, ids)
        assert len(queries) == 1
        assert latest[person.id][:3] == ("PHQ-9", 12, "moderate")
        assert latest[high.id][:3] == ("GAD-7", 3, "minimal")
        assert quiet.id not in latest
        with count_queries() as queries:
            rising = services.rising(db, ids)
        assert len(queries) == 1
        assert rising == {
            person.id: "PHQ-9 up from 6 to 12 (moderate)",
            high.id: "PHQ-9 16 (moderately severe)",
        }
        with count_queries() as queries:
            entries = services.timeline(db, db.get(User, person.id), limit=2)
        assert len(queries) <= 2
        assert [words for _, _, words, _ in entries] == [
            "PHQ-9 check-in: 12 (moderate)",
            "PHQ-9 check-in: 6 (mild)",
        ]
        assert entries[0][3] == f"/dashboard/participants/{person.id}#checkins-heading"
        assert services.latest_for(db, []) == {} and services.rising(db, []) == {}


@time_machine.travel(MONDAY, tick=False)
def test_the_therapist_sees_scores_as_a_chart_and_a_table(app, team):
    therapist, person = team
    phq9 = builtin(app, "phq9")
    add_history(app, person, phq9, [4, 9, 15], date(2026, 11, 2))
    page = signed_in(app, therapist).get(f"/dashboard/participants/{person.id}")
    text = page.get_data(as_text=True)
    assert 'role="img"' in text and "PHQ-9 scores from" in text
    assert "<caption>" in text and "15 of 27" in text and "Moderately severe" in text


def test_the_demo_has_schedules_and_months_of_scores_with_a_rising_phq9(app, db):
    from iop_pwa.cli import register_cli  # noqa: F401 - the command is registered by create_app
    from iop_pwa.demo import DEMO_PASSWORD

    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo"]).exit_code == 0
    before = len(db.exec(select(CheckinAnswer)).all())
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert len(db.exec(select(CheckinAnswer)).all()) == before >= 20
    people = {u.email: u for u in db.exec(select(User))}
    with app.test_request_context(), session_scope() as s:
        ids = [people[e].id for e in ("sam@demo.test", "jordan@demo.test", "morgan@demo.test")]
        assert set(services.rising(s, ids)) == {people["jordan@demo.test"].id}
    client = app.test_client()
    client.post_form("/sign-in", {"email": "sam@demo.test", "password": DEMO_PASSWORD})
    assert "Check-in due: PHQ-9" in client.get("/today").get_data(as_text=True)
    assert "PHQ-9 scores from" in client.get("/checkins").get_data(as_text=True)
    morgan = app.test_client()
    morgan.post_form("/sign-in", {"email": "morgan@demo.test", "password": DEMO_PASSWORD})
    today = morgan.get("/today").get_data(as_text=True)
    assert "Check-in due: PHQ-9" in today and "Check-in due: GAD-7" in today


@time_machine.travel(MONDAY, tick=False)
def test_today_says_when_the_next_check_in_is_and_links_to_the_scores(app, team, make_user):
    therapist, person = team
    schedule(app, therapist, participant=person, start=date(2026, 11, 25))
    today = signed_in(app, person).get("/today").get_data(as_text=True)
    assert "Check-in due" not in today
    assert "Your next check-in is on Wednesday, November 25" in today
    assert 'href="/checkins"' in today
    nobody = signed_in(app, make_user("participant")).get("/today").get_data(as_text=True)
    assert 'id="checkins-today"' not in nobody
    account = signed_in(app, person).get("/account").get_data(as_text=True)
    assert "Your check-ins and scores over time" in account


def test_push_queues_the_check_in_reminder_once_in_generic_words(app, team, fakepush):
    from iop_pwa.push import delivery
    from iop_pwa.push.models import Delivery
    from tests.test_push import add_device

    therapist, person = team
    with time_machine.travel(MONDAY, tick=False):
        schedule(app, therapist, participant=person)
    add_device(app, person, fakepush, "phone")
    six_pm = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 18:00 in New York
    for moment in (six_pm, six_pm + timedelta(minutes=5)):
        with app.app_context(), session_scope() as db:
            delivery.queue(db, moment)
    with app.app_context(), session_scope() as db:
        rows = [r for r in db.exec(select(Delivery)) if r.key.startswith("checkins:")]
        assert len(rows) == 1 and rows[0].due_at == six_pm and rows[0].category == "practice"
        assert delivery.send(db, six_pm) >= 1
    got = [g for g in fakepush.for_("phone") if g.payload["url"].startswith("/checkins/")]
    assert len(got) == 1 and got[0].payload["body"] == "You have a new reminder"
    assert "PHQ" not in str(got[0].payload)


def test_an_alumnus_risk_answer_is_in_the_top_tier_of_the_caseload(app, team, make_user, db):
    """Every open safety flag belongs first in "Your caseload, by need", alumni's too."""
    therapist, person = team
    make_user("participant", therapist=therapist, name="Quinn Quiet")  # never signed in: a need
    discharge(app, person, date(2026, 10, 20))
    with time_machine.travel(datetime(2026, 11, 23, 17, tzinfo=UTC), tick=False):
        client = signed_in(app, person)
        phq9 = builtin(app, "phq9")
        sent = answer(client, phq9, values_for(forms.PHQ9, 4, item9=1), due_on="2026-11-20")
        assert sent.status_code == 303
        page = signed_in(app, therapist).get("/dashboard").get_data(as_text=True)
    top = page.split('id="attention-heading"')[1].split("</section>")[0]
    assert person.name in top and "Quinn Quiet" in top
    assert top.index(person.name) < top.index("Quinn Quiet")  # safety before "not signed in"
    assert "PHQ-9 item 9" in top and '<span class="badge">Alumni</span>' in top
    assert 'id="alumni-heading"' not in page  # nobody else is alumni: no list below
    assert '<span class="stat-number">1</span> alumni' in page
