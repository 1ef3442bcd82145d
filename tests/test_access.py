"""Object-level access: one matrix over every route that takes an id.

Every later feature adds its routes to ROUTES; `test_every_route_with_an_id_is_in_the_matrix`
fails until it does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import select

from iop_pwa.audit import AuditEvent
from tests.conftest import PASSWORD


@dataclass
class World:
    owner: object  # the therapist whose caseload/objects these are
    participant: object
    invitation_id: int


@pytest.fixture
def world(app, make_user):
    from iop_pwa.accounts import services
    from iop_pwa.accounts.models import User
    from iop_pwa.db import session_scope

    owner = make_user("therapist", email="owner@example.test")
    participant = make_user("participant", therapist=owner, email="p@example.test")
    with app.app_context(), session_scope() as db:
        invitation, _ = services.create_invitation(
            db,
            therapist=db.get(User, owner.id),
            name="New Person",
            email=None,
            group=None,
            valid_for=__import__("datetime").timedelta(days=7),
        )
        invitation_id = invitation.id
    return World(owner, participant, invitation_id)


# (method, url template, expected status for the owner)
ROUTES = [
    ("GET", "/dashboard/participants/{participant}", 200),
    ("POST", "/dashboard/participants/{participant}/status", 303),
    ("GET", "/dashboard/invitations/{invitation}", 200),
    ("POST", "/dashboard/invitations/{invitation}/renew", 303),
    ("POST", "/dashboard/invitations/{invitation}/revoke", 303),
]


def url(template: str, world: World) -> str:
    return template.format(participant=world.participant.id, invitation=world.invitation_id)


def call(client, method: str, path: str):
    if method == "GET":
        return client.get(path)
    return client.post_form(path, {"status": "active"})


def signed_in(app, email):
    client = app.test_client()
    assert client.post_form("/sign-in", {"email": email, "password": PASSWORD}).status_code == 303
    return client


@pytest.mark.parametrize(("method", "template", "ok"), ROUTES)
def test_owner_can_use_the_route(app, world, method, template, ok):
    client = signed_in(app, world.owner.email)
    assert call(client, method, url(template, world)).status_code == ok


@pytest.mark.parametrize(("method", "template", "ok"), ROUTES)
def test_another_therapist_gets_404_and_it_is_audited(
    app, world, make_user, db, method, template, ok
):
    outsider = make_user("therapist", email="outsider@example.test")
    client = signed_in(app, outsider.email)
    response = call(client, method, url(template, world))
    assert response.status_code == 404
    denied = db.exec(select(AuditEvent).where(AuditEvent.action == "access_denied")).all()
    assert [e.actor_id for e in denied] == [outsider.id]


@pytest.mark.parametrize(("method", "template", "ok"), ROUTES)
def test_a_participant_gets_403(app, world, method, template, ok):
    client = signed_in(app, world.participant.email)
    assert call(client, method, url(template, world)).status_code == 403


@pytest.mark.parametrize(("method", "template", "ok"), ROUTES)
def test_nobody_signed_in_is_sent_to_sign_in(app, world, method, template, ok):
    response = call(app.test_client(), method, url(template, world))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/sign-in")


@pytest.mark.parametrize(("method", "template", "ok"), ROUTES)
def test_unknown_ids_are_404(app, world, method, template, ok):
    client = signed_in(app, world.owner.email)
    path = template.format(participant=999_999, invitation=999_999)
    assert call(client, method, path).status_code == 404


def test_a_participant_is_not_on_a_caseload_by_sharing_a_group(app, world, make_user):
    """Facilitating the same group is not a care-team link: the record stays closed."""
    colleague = make_user("therapist", group="Shared Group")
    make_user("participant", therapist=world.owner, group="Shared Group")
    client = signed_in(app, colleague.email)
    assert client.get(f"/dashboard/participants/{world.participant.id}").status_code == 404


def test_every_route_with_an_id_is_in_the_matrix(app):
    covered = {
        template.replace("{participant}", "<int:participant_id>").replace(
            "{invitation}", "<int:invitation_id>"
        )
        for _, template, _ in ROUTES
    }
    with_ids = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if "<" in rule.rule
        and not rule.rule.startswith("/static")
        and not rule.rule.startswith("/join/")
    }
    assert with_ids <= covered, f"add these routes to ROUTES: {sorted(with_ids - covered)}"


def test_staff_reads_of_a_record_are_audited(app, world, db):
    client = signed_in(app, world.owner.email)
    client.get(f"/dashboard/participants/{world.participant.id}")
    reads = db.exec(select(AuditEvent).where(AuditEvent.action == "staff_read")).all()
    assert [(e.actor_id, e.subject_id) for e in reads] == [(world.owner.id, world.participant.id)]
