"""The right of access holds for everyone: each demo participant (between them, every feature's
data) downloads "My data", and every file in the ZIP parses."""

from __future__ import annotations

import csv
import io
import json
import zipfile

from sqlmodel import select

from iop_pwa.accounts.models import Role, User
from iop_pwa.accounts.my_data import PART2_NOTICE, providers
from iop_pwa.demo import DEMO_PASSWORD
from iop_pwa.messages.models import Conversation


def test_every_demo_participant_downloads_my_data_whose_files_all_parse(app, db):
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    people = db.exec(select(User).where(User.role == Role.participant)).all()
    assert len(people) >= 5
    with app.app_context():
        exported = {p.name for p in providers() if p.export is not None}
    filled: set[str] = set()
    for person in people:
        client = app.test_client()
        signed = client.post_form("/sign-in", {"email": person.email, "password": DEMO_PASSWORD})
        assert signed.status_code == 303, person.email
        direct = db.exec(select(Conversation).where(Conversation.peer_b_id == person.id)).first()
        if direct is not None:  # the demo has no blocks: the one written to directly blocks
            assert client.post_form(f"/messages/{direct.id}/block").status_code == 303
        response = client.get("/account/my-data.zip")
        assert response.status_code == 200, (person.email, response.status_code)
        archive = zipfile.ZipFile(io.BytesIO(response.data))
        assert archive.read("NOTICE.txt").decode().startswith(PART2_NOTICE)
        document = json.loads(archive.read("my-data.json"))
        assert document["person"]["email"] == person.email
        for name in exported:
            rows = list(csv.DictReader(io.StringIO(archive.read(f"{name}.csv").decode())))
            assert len(rows) == len(document[name]), (person.email, name)
            if rows:
                filled.add(name)
                # A cell holding a structure (a check-in's answers) holds it as JSON.
                for value in (v for r in rows for v in r.values() if v[:1] in ("[", "{")):
                    json.loads(value)
    # Between them the demo's participants have every feature's data, so each export ran.
    assert filled == exported
