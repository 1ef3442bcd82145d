"""Small steps many tests take: signing someone in, scheduling a session through its form,
reading the database's plan for a query."""

from __future__ import annotations

import html
import html.parser
import re
import uuid

from sqlalchemy import event

from iop_pwa.accounts.models import User
from iop_pwa.db import session_scope, utcnow
from iop_pwa.messages import services as messages
from iop_pwa.messages.models import Conversation
from tests.conftest import PASSWORD, totp_code


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


def send_message(
    app, conversation_id: int, author: User, body: str, client_id: str | None = None
) -> int:
    """`author` agrees to the conversation's guidelines and sends `body` through the service, as
    the composer would; the new message's id."""
    with app.app_context(), session_scope() as db:
        conversation = db.get(Conversation, conversation_id)
        person = db.get(User, author.id)
        messages.agree(db, conversation=conversation, user=person)
        result = messages.send(
            db,
            conversation=conversation,
            author=person,
            client_id=client_id or str(uuid.uuid4()),
            body=body,
            written_at=utcnow(),
        )
        return result.message.id


def set_up_second_factor(client, email: str) -> str:
    """A staff member with no second factor yet, half-way through signing in: scan (read) the
    set-up page's key, type the app's code, and return where "continue" leads afterwards (the
    recovery codes page is checked by the tests of the second factor)."""
    page = client.get("/sign-in/set-up")
    assert page.status_code == 200, page.status_code
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.get_data(as_text=True))
    assert secret, "the set-up page shows the key as text"
    code = totp_code(email, secret.group(1).replace(" ", ""))
    done = client.post_form("/sign-in/set-up", {"code": code})
    assert done.status_code == 200 and "Your recovery codes" in done.text, done.text[:300]
    target = re.search(r'<a class="button-primary" href="([^"]+)">I have saved them', done.text)
    assert target
    return html.unescape(target.group(1))


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


def plan_of(db, run) -> str:
    """The database's plan (EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite) for the last
    query `run()` sends, with the parameters it sent."""
    sent = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", grab)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, parameters = sent[-1]
    postgres = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
    rows = db.connection().exec_driver_sql(prefix + statement, parameters).all()
    return "\n".join(str(row[0] if postgres else row[-1]) for row in rows)


def analyze(db) -> None:
    """Fresh planner statistics, as a live database has after autovacuum (PostgreSQL) or after
    `ANALYZE` (SQLite): without them a plan on a just-filled table proves nothing."""
    db.commit()
    postgres = db.get_bind().dialect.name == "postgresql"
    db.connection().exec_driver_sql("ANALYZE")
    if postgres:
        db.commit()


class _FormReader(html.parser.HTMLParser):
    """What a browser would send for each form of a page: every named input's value (checked
    boxes only), each select's selected option (else its first), each textarea's text."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "fields": {}})
        elif not self.forms or "name" not in a and tag != "option":
            return
        fields = self.forms[-1]["fields"] if self.forms else {}
        if tag == "input" and a.get("type") not in ("submit", "button", "reset"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select, self._first_option = a["name"], None
        elif tag == "option" and self._select:
            value = a.get("value") or ""
            if self._first_option is None:
                self._first_option = value
                fields.setdefault(self._select, value)
            if "selected" in a:
                fields[self._select] = value
        elif tag == "textarea":
            self._textarea = a["name"]
            fields[a["name"]] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            self.forms[-1]["fields"][self._textarea] += data


def form_fields(page: str, action: str | None = None) -> dict[str, str]:
    """The fields the form of `page` (the one posting to `action`, or posting to the page itself
    when None) sends as rendered, before anyone types: hidden fields included, as a person's
    browser would submit them."""
    reader = _FormReader()
    reader.feed(page)
    for form in reader.forms:
        if form["action"] == action:
            return dict(form["fields"])
    raise AssertionError(f"no form posting to {action!r} on the page")
