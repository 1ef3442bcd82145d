"""The therapist's dashboard: caseload, who needs attention, groups, constant query counts."""

from __future__ import annotations

from datetime import timedelta

from iop_pwa.accounts.models import ParticipantStatus, User
from iop_pwa.db import utcnow


def test_dashboard_shows_who_needs_attention(client, make_user, sign_in, db):
    therapist = make_user("therapist")
    quiet = make_user("participant", name="Quiet Person", therapist=therapist)
    never = make_user("participant", name="New Person", therapist=therapist)
    recent = make_user("participant", name="Recent Person", therapist=therapist)
    alumni = make_user("participant", name="Alumni Person", therapist=therapist)
    make_user("participant", name="Someone Else's")
    for person, days in [(quiet, 5), (recent, 1), (alumni, 30)]:
        row = db.get(User, person.id)
        row.last_seen_at = utcnow() - timedelta(days=days)
        db.add(row)
    db.get(User, alumni.id).status = ParticipantStatus.alumni
    db.commit()
    assert never.last_seen_at is None

    sign_in(therapist)
    page = client.get("/dashboard").get_data(as_text=True)
    attention = page.split('id="attention-heading"')[1].split("</section>")[0]
    assert "Quiet Person" in attention and "5 days" in attention
    assert "New Person" in attention and "has not signed in yet" in attention
    assert "Recent Person" not in attention and "Alumni Person" not in attention
    assert "Someone Else" not in page


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


def _grow_caseload(make_user, therapist, n, start):
    for i in range(n):
        make_user(
            "participant",
            therapist=therapist,
            name=f"P {start + i}",
            group=f"Group {(start + i) % 3}",
        )


def test_dashboard_pages_run_a_constant_number_of_queries(
    client, make_user, sign_in, count_queries
):
    therapist = make_user("therapist")
    _grow_caseload(make_user, therapist, 2, 0)
    sign_in(therapist)
    counts = {}
    for size in ("small", "large"):
        if size == "large":
            _grow_caseload(make_user, therapist, 15, 2)
        for path in ("/dashboard", "/dashboard/participants", "/dashboard/groups"):
            client.get(path)  # warm: the session touch happens at most once a minute
            with count_queries() as queries:
                assert client.get(path).status_code == 200
            counts[(size, path)] = len(queries)
    for path in ("/dashboard", "/dashboard/participants", "/dashboard/groups"):
        assert counts[("small", path)] == counts[("large", path)], counts
        # Six for the page, and one for the navigation's unread messages (on every page).
        assert counts[("large", path)] <= 7, counts
