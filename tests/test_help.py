"""The public help page: crisis lines, the program's own contact (set by an admin, audited) and
plain words about what the app's messages are; the same for everyone, with no personal data."""

from __future__ import annotations

from sqlmodel import select

from iop_pwa.audit import AuditEvent
from iop_pwa.safety.program import ProgramContact

CONTACT = {
    "name": "Riverside Evening IOP",
    "phone": "+1 (555) 010-0199",
    "hours": "Monday to Friday, 9 am to 5 pm Eastern",
}


def test_help_is_public_and_says_the_app_is_not_a_crisis_line(client):
    page = client.get("/help")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "tel:988" in text and "not a crisis line" in text
    assert "not watched" not in text  # messages exist, and are read during program hours
    assert "Your program" not in text  # nothing set: nothing half-empty shown


def test_with_messages_the_help_page_says_when_they_are_read(app, client):
    text = client.get("/help").get_data(as_text=True)
    assert "message your care team in this app" in text
    assert "read during program hours, not around the clock" in text
    assert "not a crisis line" in text


def test_an_admin_sets_the_program_contact_and_everyone_sees_it(app, make_user, db):
    admin = make_user("admin", email="admin@example.test")
    participant = make_user("participant", name="Robin Vale", email="robin@example.test")
    client = app.test_client()
    client.post_form("/sign-in", {"email": admin.email, "password": "correct horse battery"})
    assert client.get("/admin/program").status_code == 200

    saved = client.post_form("/admin/program", CONTACT)
    assert saved.status_code == 303
    row = db.get(ProgramContact, 1)
    assert (row.name, row.phone, row.hours) == tuple(CONTACT.values())
    changed = db.exec(select(AuditEvent).where(AuditEvent.action == "program_contact_changed"))
    assert [(e.actor_id, e.object_type) for e in changed] == [(admin.id, "program_contact")]

    # Changed again: still one row, and a second audit row.
    client.post_form("/admin/program", {**CONTACT, "hours": ""})
    assert len(db.exec(select(ProgramContact)).all()) == 1
    assert db.get(ProgramContact, 1).hours == ""
    client.post_form("/admin/program", CONTACT)

    anonymous = app.test_client().get("/help").get_data(as_text=True)
    assert "Riverside Evening IOP" in anonymous and CONTACT["hours"] in anonymous
    assert 'href="tel:+15550100199"' in anonymous

    # Signed in, the page is the same: nothing about the person (it is kept offline on phones).
    person = app.test_client()
    person.post_form("/sign-in", {"email": participant.email, "password": "correct horse battery"})
    mine = person.get("/help").get_data(as_text=True)
    assert "Riverside Evening IOP" in mine
    assert "Robin" not in mine and participant.email not in mine


def test_the_program_contact_is_checked_and_only_admins_may_set_it(app, make_user, db):
    admin = make_user("admin", email="admin@example.test")
    therapist = make_user("therapist")
    client = app.test_client()
    client.post_form("/sign-in", {"email": admin.email, "password": "correct horse battery"})
    for phone in ("call me", "12", "555-0100 ext. 5", "+" + "1" * 16):
        bad = client.post_form("/admin/program", {**CONTACT, "phone": phone})
        assert bad.status_code == 422, phone
        assert "Enter a phone number" in bad.get_data(as_text=True)
    no_name = client.post_form("/admin/program", {**CONTACT, "name": " "})
    assert no_name.status_code == 422 and "Enter the program" in no_name.get_data(as_text=True)
    assert db.exec(select(ProgramContact)).all() == []

    staff = app.test_client()
    staff.post_form("/sign-in", {"email": therapist.email, "password": "correct horse battery"})
    assert staff.get("/admin/program").status_code == 403
    assert staff.post_form("/admin/program", CONTACT).status_code == 403
    assert app.test_client().get("/admin/program").status_code == 303  # to sign in
    assert db.exec(select(ProgramContact)).all() == []
