"""Admin: therapists (correct, deactivate, reactivate), groups (rename, cohort or alumni), the
crisis lines (add, edit, reorder, remove; shown on the help page, in the crisis panel and in the
offline shell), the alumni message hours, and the audit log (filters, paging, names in one
query, a constant number of queries, admins only)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import select

from iop_pwa import audit
from iop_pwa.accounts.models import Group, GroupKind, ParticipantStatus, User
from iop_pwa.audit import AuditEvent
from iop_pwa.db import session_scope, utcnow
from iop_pwa.safety.resources import CrisisResource
from iop_pwa.web import local_today
from tests.conftest import PASSWORD


def signed_in(app, user):
    client = app.test_client()
    response = client.post_form("/sign-in", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return client


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def admin(make_user):
    return make_user("admin", email="admin@example.test", name="Ada Admin")


# --- Crisis resources ---------------------------------------------------------------------------


LINE = {
    "name": "Riverside warm line",
    "detail": "Someone from the program, evenings and weekends.",
    "phone": "(555) 010-0123",
    "text_number": "",
    "url": "",
}


def test_the_default_lines_show_until_an_admin_changes_them(app, admin, db):
    page = text(signed_in(app, admin).get("/admin/crisis-resources"))
    assert "988 Suicide & Crisis Lifeline" in page and "SAMHSA National Helpline" in page
    assert db.exec(select(CrisisResource)).all() == []  # reading seeds nothing
    help_page = text(app.test_client().get("/help"))
    assert 'href="tel:988"' in help_page and 'href="sms:988"' in help_page
    assert "Text 988" in help_page and "Call 1-800-662-4357" in help_page


def test_an_admin_adds_edits_reorders_and_removes_lines_and_help_shows_them(app, admin, db):
    client = signed_in(app, admin)
    assert client.post_form("/admin/crisis-resources", LINE).status_code == 303
    names = [r.name for r in db.exec(select(CrisisResource).order_by(CrisisResource.position))]
    assert names == [
        "988 Suicide & Crisis Lifeline",
        "Emergency services",
        "SAMHSA National Helpline",
        "Riverside warm line",
    ]  # the default list was seeded, then the new line added at the end
    anonymous = text(app.test_client().get("/help"))
    assert "Riverside warm line" in anonymous and 'href="tel:5550100123"' in anonymous
    assert "Call (555) 010-0123" in anonymous

    # Move it to the top, then edit it.
    for _ in range(3):
        client.post_form(
            f"/admin/crisis-resources/{_position(db, 'Riverside warm line')}/move",
            {"direction": "up"},
        )
    assert _position(db, "Riverside warm line") == 1
    edit = client.get("/admin/crisis-resources/1")
    assert edit.status_code == 200 and "Riverside warm line" in text(edit)
    changed = client.post_form(
        "/admin/crisis-resources/1",
        {**LINE, "name": "Riverside night line", "phone": "", "url": "https://riverside.example"},
    )
    assert changed.status_code == 303
    anonymous = text(app.test_client().get("/help"))
    assert anonymous.index("Riverside night line") < anonymous.index("988 Suicide")
    assert 'href="https://riverside.example"' in anonymous and "Open their website" in anonymous

    # Remove the 911 line.
    position = _position(db, "Emergency services")
    assert client.post_form(f"/admin/crisis-resources/{position}/remove").status_code == 303
    assert "Emergency services" not in text(app.test_client().get("/help"))
    actions = db.exec(
        select(AuditEvent.action).where(AuditEvent.object_type == "crisis_resource")
    ).all()
    assert sorted(set(actions)) == [
        "crisis_resource_added",
        "crisis_resource_changed",
        "crisis_resource_moved",
        "crisis_resource_removed",
    ]
    assert all(
        e.detail is None
        for e in db.exec(select(AuditEvent)).all()
        if e.object_type == "crisis_resource"
    )


def _position(db, name: str) -> int:
    rows = db.exec(select(CrisisResource).order_by(CrisisResource.position)).all()
    return [r.name for r in rows].index(name) + 1


def test_the_last_line_cannot_be_removed(app, admin, db):
    client = signed_in(app, admin)
    for _ in range(2):
        assert client.post_form("/admin/crisis-resources/1/remove").status_code == 303
    refused = client.post_form("/admin/crisis-resources/1/remove")
    assert refused.status_code == 409
    assert "Keep at least one crisis line" in text(refused)
    assert len(db.exec(select(CrisisResource)).all()) == 1
    assert client.post_form("/admin/crisis-resources/2/remove").status_code == 404


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"phone": ""}, "Give a phone number, a number to text or a web address."),
        ({"phone": "call me"}, "Enter a phone number with digits"),
        ({"phone": "", "url": "http://plain.example"}, "starts with https://"),
        ({"phone": "", "url": "javascript:alert(1)"}, "starts with https://"),
        ({"name": ""}, "Enter the line's name."),
        ({"detail": "x" * 301}, "Field cannot be longer than 300 characters."),
    ],
)
def test_a_line_that_cannot_be_reached_is_refused_with_a_message(app, admin, db, change, message):
    response = signed_in(app, admin).post_form("/admin/crisis-resources", {**LINE, **change})
    assert response.status_code == 422
    assert message in text(response)
    assert db.exec(select(CrisisResource)).all() == []


def test_the_crisis_panel_and_the_offline_shell_use_the_admins_list(app, admin, make_user):
    import uuid

    from iop_pwa.pwa.views import current_shell_version

    before = current_shell_version(app)
    signed_in(app, admin).post_form("/admin/crisis-resources", LINE)
    assert current_shell_version(app) != before  # phones fetch the new help page
    person = make_user("participant")
    client = signed_in(app, person)
    saved = client.post_form(
        "/journal/checkin",
        {
            "mood": "1",
            "own_words": "I want to die",
            "client_id": str(uuid.uuid4()),
            "written_at": utcnow().isoformat(),
        },
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200
    assert "Riverside warm line" in text(saved)


def test_only_admins_edit_crisis_lines(app, make_user):
    therapist = make_user("therapist")
    client = signed_in(app, therapist)
    assert client.get("/admin/crisis-resources").status_code == 403
    assert client.post_form("/admin/crisis-resources", LINE).status_code == 403


# --- The program's alumni hours -----------------------------------------------------------------


def test_the_admin_sets_alumni_message_hours(app, admin, db):
    from iop_pwa.safety.program import ProgramContact

    client = signed_in(app, admin)
    assert "When the care team answers alumni" in text(client.get("/admin/program"))
    saved = client.post_form(
        "/admin/program",
        {
            "name": "Riverside IOP",
            "phone": "555 010 0199",
            "hours": "",
            "message_hours": "Weekdays",
            "alumni_message_hours": "Tuesdays",
        },
    )
    assert saved.status_code == 303
    row = db.get(ProgramContact, 1)
    assert (row.message_hours, row.alumni_message_hours) == ("Weekdays", "Tuesdays")
    active = User(name="A", email="a@x", password_hash="", role="participant")
    alumni = User(name="B", email="b@x", password_hash="", role="participant", status="alumni")
    assert (row.answer_hours(active), row.answer_hours(alumni)) == ("Weekdays", "Tuesdays")
    row.alumni_message_hours = ""
    assert row.answer_hours(alumni) == "Weekdays"


# --- Therapists ---------------------------------------------------------------------------------


def test_an_admin_corrects_deactivates_and_reactivates_a_therapist(app, admin, make_user, db):
    therapist = make_user("therapist", name="Theo Rapist", email="theo@example.test")
    make_user("therapist", email="taken@example.test")
    theo = signed_in(app, therapist)
    client = signed_in(app, admin)
    page = text(client.get("/admin/therapists"))
    assert "Edit Theo Rapist" in page and "Deactivate Theo Rapist" in page
    assert "Deactivate Ada Admin" not in page  # not oneself
    path = f"/admin/therapists/{therapist.id}"
    assert client.get(path).status_code == 200
    taken = client.post_form(path, {"name": "Theo", "email": "taken@example.test"})
    assert taken.status_code == 422 and "Someone else has an account" in text(taken)
    bad = client.post_form(path, {"name": "", "email": "nope"})
    assert bad.status_code == 422 and "Enter a name." in text(bad)
    ok = client.post_form(path, {"name": "Theo Rapist-Lee", "email": "Theo.Lee@example.test"})
    assert ok.status_code == 303
    row = db.get(User, therapist.id)
    assert (row.name, row.email) == ("Theo Rapist-Lee", "theo.lee@example.test")

    assert client.post_form(f"{path}/deactivate").status_code == 303
    assert db.get(User, therapist.id).status == ParticipantStatus.deactivated
    assert theo.get("/dashboard").status_code in (302, 303)  # signed out on every device
    again = app.test_client().post_form(
        "/sign-in", {"email": "theo.lee@example.test", "password": PASSWORD}
    )
    assert again.status_code != 303
    assert client.post_form(f"{path}/reactivate").status_code == 303
    signed_in(app, db.get(User, therapist.id))
    actions = db.exec(
        select(AuditEvent.action).where(
            AuditEvent.object_id == therapist.id, AuditEvent.object_type == "user"
        )
    ).all()
    assert actions == ["therapist_changed", "therapist_deactivated", "therapist_reactivated"]


def test_an_admin_cannot_deactivate_themself_and_participants_are_not_therapists(
    app, admin, make_user, db
):
    client = signed_in(app, admin)
    assert client.post_form(f"/admin/therapists/{admin.id}/deactivate").status_code == 303
    assert db.get(User, admin.id).status == ParticipantStatus.active
    person = make_user("participant")
    assert client.get(f"/admin/therapists/{person.id}").status_code == 404
    assert client.post_form(f"/admin/therapists/{person.id}/deactivate").status_code == 404


# --- Groups -------------------------------------------------------------------------------------


def test_an_admin_renames_a_group_and_marks_it_alumni(app, admin, make_user, db):
    make_user("therapist", group="Tuesday circle")
    group = db.exec(select(Group).where(Group.name == "Tuesday circle")).one()
    client = signed_in(app, admin)
    page = text(client.get("/admin/groups"))
    assert "Rename or change the kind of Tuesday circle" in page and "Cohort" in page
    prefix = f"group-{group.id}-"
    refused = client.post_form(
        f"/admin/groups/{group.id}", {prefix + "name": "", prefix + "kind": "alumni"}
    )
    assert refused.status_code == 422 and "Enter a name." in text(refused)
    odd = client.post_form(
        f"/admin/groups/{group.id}", {prefix + "name": "X", prefix + "kind": "boss"}
    )
    assert odd.status_code == 422
    saved = client.post_form(
        f"/admin/groups/{group.id}", {prefix + "name": "Alumni  circle", prefix + "kind": "alumni"}
    )
    assert saved.status_code == 303
    row = db.get(Group, group.id)
    assert (row.name, row.kind) == ("Alumni circle", GroupKind.alumni)
    assert "Alumni group" in text(client.get("/admin/groups"))
    [event] = db.exec(select(AuditEvent).where(AuditEvent.action == "group_changed")).all()
    assert (event.object_id, event.detail) == (group.id, "alumni")


# --- The audit log ------------------------------------------------------------------------------


def _log(app, rows: list[dict]) -> None:
    with app.app_context(), session_scope() as s:
        for row in rows:
            at = row.pop("at", None)
            event = audit.record(s, row.pop("action"), **row)
            if at is not None:
                event.at = at


@pytest.fixture
def people(app, admin, make_user):
    therapist = make_user("therapist", name="Theo Rapist", email="theo@example.test")
    sam = make_user("participant", name="Sam Rivera", therapist=therapist)
    robin = make_user("participant", name="Robin Vale", therapist=therapist)
    return therapist, sam, robin


def test_the_audit_log_is_for_admins_only_and_others_get_an_audited_404(app, people, db):
    therapist, sam, _ = people
    for person in (therapist, sam):
        assert signed_in(app, person).get("/admin/audit").status_code == 404
    denied = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert [(d.actor_id, d.object_type) for d in denied] == [
        (therapist.id, "audit_log"),
        (sam.id, "audit_log"),
    ]
    anonymous = app.test_client().get("/admin/audit")
    assert anonymous.status_code == 303 and anonymous.headers["Location"].startswith("/sign-in")


# Half past midnight UTC: still the evening before in New York, where the admin is. The date
# filters are the admin's local days (a test reading `date.today()` failed at this hour).
EVENING_BEFORE_IN_NEW_YORK = datetime(2026, 12, 8, 0, 30, tzinfo=UTC)


@time_machine.travel(EVENING_BEFORE_IN_NEW_YORK, tick=True)
def test_the_audit_log_names_people_newest_first_with_filters(app, admin, people, db):
    therapist, sam, robin = people
    now = utcnow()
    _log(
        app,
        [
            dict(
                action="staff_read",
                actor_id=therapist.id,
                subject_id=sam.id,
                at=now - timedelta(days=3),
            ),
            dict(
                action="participant_discharged",
                actor_id=therapist.id,
                subject_id=robin.id,
                at=now - timedelta(days=1),
            ),
            dict(action="access_denied", actor_id=sam.id, object_type="journal_entry", object_id=9),
            dict(action="staff_read", actor_id=999_999, subject_id=robin.id),  # a deleted account
        ],
    )
    client = signed_in(app, admin)
    page = text(client.get("/admin/audit"))
    assert "Discharged to alumni" in page and "Refused access" in page
    assert "A deleted account" in page and "Theo Rapist" in page
    body = page[page.index("<tbody>") :]
    assert body.index("Refused access") < body.index("Discharged to alumni")  # newest first

    def rows(**args) -> list[str]:
        found = text(client.get("/admin/audit", query_string=args))
        table = found[found.index('<h2 id="events-heading">') :]
        return [chunk.split("</td>")[2].split(">")[-1] for chunk in table.split("<tr>")[2:]]

    assert rows(who="theo") == ["Discharged to alumni", "Staff read a record"]
    assert rows(whom="ROBIN") == ["Staff read a record", "Discharged to alumni"]
    assert rows(whom="robin", who="theo") == ["Discharged to alumni"]
    assert rows(what="access_denied") == ["Refused access"]
    today = now.astimezone(ZoneInfo(admin.timezone)).date()
    assert "Staff read a record" not in rows(
        since=(today - timedelta(days=2)).isoformat(), who="theo"
    )
    assert rows(until=(today - timedelta(days=2)).isoformat(), who="theo") == [
        "Staff read a record"
    ]
    assert rows(who="%") == []  # a wildcard is a character, not "everyone"
    # Newest first by time, whatever order the rows were written in (an import, the demo).
    _log(app, [dict(action="sign_in", actor_id=therapist.id, at=now - timedelta(days=10))])
    assert rows(who="theo") == ["Discharged to alumni", "Staff read a record", "Signed in"]
    # Reading the log is audited too, without what was searched for.
    reads = db.exec(select(AuditEvent).where(AuditEvent.action == "audit_log_read")).all()
    assert reads and all("robin" not in (r.detail or "").lower() for r in reads)


def test_a_bad_date_filter_is_a_clear_400(app, admin):
    response = signed_in(app, admin).get("/admin/audit?since=yesterday&until=9999-12-31")
    assert response.status_code == 400
    page = text(response)
    assert "Not a valid date value" in page and "Choose a date between" in page


def test_the_audit_log_pages_with_a_fixed_size_and_constant_queries(
    app, admin, people, count_queries
):
    from iop_pwa.admin.audit_log import PAGE_SIZE

    therapist, sam, robin = people
    client = signed_in(app, admin)
    _log(
        app,
        [dict(action="staff_read", actor_id=therapist.id, subject_id=sam.id) for _ in range(10)],
    )
    client.get("/admin/audit")
    same_time = utcnow() - timedelta(hours=1)
    with count_queries() as few:
        client.get("/admin/audit")
    _log(
        app,
        [
            dict(
                action="staff_read",
                actor_id=therapist.id,
                subject_id=(sam if i % 2 else robin).id,
                at=same_time,  # a tie across pages: the id decides
            )
            for i in range(PAGE_SIZE * 3)
        ],
    )
    with count_queries() as many:
        first = client.get("/admin/audit?who=theo")
    assert len(many) == len(few)
    page = text(first)
    assert page.count("<tr>") == PAGE_SIZE + 1  # the header row and one page
    assert "Newest entries" not in page
    seen, sam_rows = 0, 0
    url = "/admin/audit?who=theo"
    while url:
        page = text(client.get(url))
        seen += page[page.index("<tbody>") :].count("<tr>")
        sam_rows += page[page.index("<tbody>") :].count("<td>Sam Rivera</td>")
        older = page.split('href="')
        nxt = [p.split('"')[0] for p in older if ">Older entries<" in p.split('"', 1)[1][:40]]
        url = nxt[0] if nxt else None
        if url:
            assert "who=theo" in url and "Newest entries" in text(client.get(url))
    assert seen == 10 + PAGE_SIZE * 3  # every row once, across the tie
    assert sam_rows == 10 + PAGE_SIZE * 3 // 2


def test_the_audit_log_holds_no_ones_words(app, admin, people, db):
    """A discharge, a crisis line and a journal entry through the app: no row holds a name,
    an email or anything anyone wrote."""
    import uuid

    therapist, sam, _ = people
    therapist_client = signed_in(app, therapist)
    participant = signed_in(app, sam)
    participant.post_form(
        "/journal",
        {
            "body": "A private sentence about my sister",
            "client_id": str(uuid.uuid4()),
            "written_at": utcnow().isoformat(),
            "shared": "y",
        },
    )
    discharged = therapist_client.post_form(
        f"/dashboard/participants/{sam.id}/discharge",
        {"day": local_today(sam.timezone).isoformat()},  # the participant's today, not UTC's
    )
    assert discharged.status_code in (200, 303), discharged.status_code
    signed_in(app, admin).post_form("/admin/crisis-resources", LINE)
    for event in db.exec(select(AuditEvent)).all():
        detail = (event.detail or "").lower()
        for words in ("sam", "rivera", "sister", "riverside", "@example"):
            assert words not in detail, (event.action, event.detail)


# --- Who may change whom: admins manage therapists; facilitators are active therapists ----------


def _facilitators_of(db, group_id: int) -> set[int]:
    from iop_pwa.accounts.models import GroupMembership

    return set(
        db.exec(
            select(GroupMembership.user_id).where(
                GroupMembership.group_id == group_id, GroupMembership.is_facilitator
            )
        ).all()
    )


def test_an_admin_cannot_make_themself_or_another_admin_a_facilitator(app, admin, make_user, db):
    """A facilitator reads the group's whole history and its reported direct messages: only
    active therapists facilitate, whoever asks."""
    therapist = make_user("therapist", name="Theo Rapist", group="Tuesday circle")
    other_admin = make_user("admin", name="Bo Admin")
    gone = make_user("therapist", name="Gone Therapist")
    group = db.exec(select(Group).where(Group.name == "Tuesday circle")).one()
    client = signed_in(app, admin)
    assert client.post_form(f"/admin/therapists/{gone.id}/deactivate").status_code == 303

    page = text(client.get("/admin/groups"))
    choices = re.findall(r'<option value="(\d+)">([^<]+)</option>', page)
    assert {name for _, name in choices} == {"Theo Rapist"}  # no admin, no deactivated one
    for person in (admin, other_admin, gone):
        added = client.post_form(
            f"/admin/groups/{group.id}/facilitators", {"facilitator": str(person.id)}
        )
        assert added.status_code == 303
        assert "Choose a therapist to add." in text(client.get("/admin/groups"))
        made = client.post_form(
            "/admin/groups", {"name": "Mine now", "facilitator": str(person.id)}
        )
        assert made.status_code == 422
    assert _facilitators_of(db, group.id) == {therapist.id}
    assert db.exec(select(Group).where(Group.name == "Mine now")).all() == []

    # An admin starting a group from an invitation (the dashboard) does not facilitate it either.
    invite = client.post_form(
        "/dashboard/invitations", {"name": "Sam Lee", "email": "", "new_group": "Admin's own"}
    )
    assert invite.status_code == 422 and "Only a therapist starts a group" in text(invite)
    assert db.exec(select(Group).where(Group.name == "Admin's own")).all() == []


def test_an_admin_pages_change_therapists_never_another_admin(app, admin, make_user, db):
    """Another admin's account and second factor are not changed from these pages (404,
    audited); a therapist's are."""
    from iop_pwa.accounts.models import TotpFactor

    other = make_user("admin", name="Bo Admin", email="bo@example.test")
    bo = signed_in(app, other)
    client = signed_in(app, admin)
    page = text(client.get("/admin/therapists"))
    assert "Bo Admin" in page and "Edit Bo Admin" not in page and "Deactivate Bo Admin" not in page
    assert "Edit Ada Admin" not in page
    for method, path, data in [
        ("GET", f"/admin/therapists/{other.id}", None),
        ("POST", f"/admin/therapists/{other.id}", {"name": "Mine", "email": "me@example.test"}),
        ("POST", f"/admin/therapists/{other.id}/second-factor/reset", {}),
        ("POST", f"/admin/therapists/{other.id}/deactivate", {}),
        ("POST", f"/admin/therapists/{other.id}/reactivate", {}),
        ("GET", f"/admin/therapists/{admin.id}", None),
        ("POST", f"/admin/therapists/{admin.id}/second-factor/reset", {}),
    ]:
        answer = client.get(path) if method == "GET" else client.post_form(path, data)
        assert answer.status_code == 404, (method, path, answer.status_code)
    row = db.get(User, other.id)
    assert (row.name, row.email, row.status) == ("Bo Admin", "bo@example.test", "active")
    assert db.exec(select(TotpFactor).where(TotpFactor.user_id == other.id)).all()
    assert bo.get("/admin/therapists").status_code == 200  # still signed in
    denied = db.exec(
        select(AuditEvent).where(
            AuditEvent.action == "access_denied", AuditEvent.actor_id == admin.id
        )
    ).all()
    assert {e.object_id for e in denied} == {other.id, admin.id}


def test_an_operator_resets_a_locked_out_admins_second_factor_from_the_command_line(app, admin, db):
    """The documented path for an admin who lost their phone: `flask users reset-second-factor`
    on the server, audited as done from the command line."""
    from iop_pwa.accounts.models import TotpFactor

    client = signed_in(app, admin)
    result = app.test_cli_runner().invoke(args=["users", "reset-second-factor", admin.email])
    assert result.exit_code == 0, result.output
    assert db.exec(select(TotpFactor).where(TotpFactor.user_id == admin.id)).all() == []
    assert client.get("/admin/therapists").status_code in (302, 303)  # signed out everywhere
    [event] = db.exec(select(AuditEvent).where(AuditEvent.action == "second_factor_reset")).all()
    assert (event.actor_id, event.object_id, event.detail) == (None, admin.id, "command line")
    missing = app.test_cli_runner().invoke(args=["users", "reset-second-factor", "no@one.test"])
    assert missing.exit_code != 0 and "No staff account" in missing.output
    no_group = app.test_cli_runner().invoke(
        args=["users", "create", "--role", "admin", "--email", "x@example.test"]
        + ["--password", PASSWORD, "--group", "Evening"]
    )
    assert no_group.exit_code != 0 and "an admin facilitates no group" in no_group.output
