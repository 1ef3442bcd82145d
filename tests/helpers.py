"""Small steps many tests take: signing someone in, scheduling a session through its form."""

from __future__ import annotations

from iop_pwa.accounts.models import User
from tests.conftest import PASSWORD


def signed_in(app, who: str | User, headers: dict[str, str] | None = None):
    """A test client signed in as `who` (an email or a user), sending `headers` on every request."""
    client = app.test_client()
    client.environ_base.update(
        {"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()}
    )
    email = who.email if isinstance(who, User) else who
    response = client.post_form("/sign-in", {"email": email, "password": PASSWORD})
    assert response.status_code == 303
    return client


def schedule_session(client, expect: int | None = 303, **fields):
    """Post the therapist's "Schedule a session" form: an individual weekly check-in on Thursday
    5 March 2026 at 18:00 unless `fields` say otherwise. Checks the answer is `expect` (None:
    the caller checks)."""
    data = {
        "kind": "individual",
        "title": "Check-in",
        "day": "2026-03-05",
        "at": "18:00",
        "duration_minutes": "50",
        "video_url": "https://zoom.us/j/123",
        "participant": "",
        "group": "",
        "repeat_weeks": "1",
    }
    data.update(fields)
    response = client.post_form("/dashboard/sessions/new", data)
    if expect is not None:
        assert response.status_code == expect, response.get_data(as_text=True)[:300]
    return response
