"""The crisis lines shown on "Get help now", in the crisis panel and everywhere help shows: a list
an admin edits (Admin → Crisis resources: add, edit, reorder, remove).

Until an admin first changes it, the list is the configured one (`CRISIS_RESOURCES_FILE`, or the
built-in US list: 988, 911, SAMHSA); the first change copies that list into the table, so the
default is seeded and then edited. The list is never left empty: the last line cannot be removed.
It is the program's, not a person's: shown to anyone and kept on phones for offline reading.
"""

from __future__ import annotations

import re
from datetime import datetime

from flask import current_app, g
from sqlmodel import Field, Session, SQLModel, col, func, select

from iop_pwa import audit
from iop_pwa.db import UTCDateTime, utcnow
from iop_pwa.safety.program import phone_problem


class CrisisResource(SQLModel, table=True):
    __tablename__ = "crisis_resource"

    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(default=0, index=True)
    name: str = Field(max_length=120)
    detail: str = Field(max_length=300)
    # How to reach it: a number to call, a number to text, a web address (any of them).
    phone: str = Field(default="", max_length=40)
    text_number: str = Field(default="", max_length=40)
    url: str = Field(default="", max_length=300)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def href(self) -> str | None:
        """The main button's link: a call where there is a number, else the web address."""
        if self.phone:
            return _tel("tel:", self.phone)
        return self.url or None

    @property
    def action(self) -> str:
        return f"Call {self.phone}" if self.phone else "Open their website"

    @property
    def sms(self) -> str | None:
        return _tel("sms:", self.text_number) if self.text_number else None

    @property
    def sms_action(self) -> str:
        return f"Text {self.text_number}"


def _tel(scheme: str, number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return scheme + ("+" if number.strip().startswith("+") else "") + digits


def _from_config(item: dict, position: int) -> CrisisResource:
    """A configured line (`{name, detail, href, action, sms}`) as a row, not yet saved."""
    href, action = item.get("href") or "", item.get("action") or ""
    phone = url = ""
    if href.startswith("tel:"):
        phone = action.removeprefix("Call ").strip() if action.startswith("Call ") else href[4:]
    elif href.startswith("https://"):
        url = href
    text_number = (item.get("sms") or "").removeprefix("sms:")
    return CrisisResource(
        position=position,
        name=item["name"],
        detail=item["detail"],
        phone=phone,
        text_number=text_number,
        url=url,
    )


def configured() -> list[CrisisResource]:
    return [_from_config(r, i) for i, r in enumerate(current_app.config["CRISIS_RESOURCES"])]


def _saved(db: Session) -> list[CrisisResource]:
    return list(
        db.exec(select(CrisisResource).order_by(col(CrisisResource.position), CrisisResource.id))
    )


def crisis_resources(db: Session) -> list[CrisisResource]:
    """The crisis lines, in order: the admin's list, or the configured one until it is edited
    (one query; once per request, however many places show them)."""
    cached = g.get("_crisis_resources")
    if cached is None:
        cached = _saved(db) or configured()
        g._crisis_resources = cached
    return cached


def _seed(db: Session) -> list[CrisisResource]:
    """The saved list, copying the configured one in first if nothing was saved yet."""
    rows = _saved(db)
    if not rows:
        rows = configured()
        db.add_all(rows)
        db.flush()
    g.pop("_crisis_resources", None)
    return rows


class ResourceError(ValueError):
    """A change that cannot be made, with words to show the admin."""


def reach_problem(*, phone: str, text_number: str, url: str) -> tuple[str, str] | None:
    """Why a line could not be reached from its buttons, as (field, words), or None."""
    if not (phone or text_number or url):
        return "phone", "Give a phone number, a number to text or a web address."
    for field, number in (("phone", phone), ("text_number", text_number)):
        if number and (problem := phone_problem(number)):
            return field, problem
    if url and (not url.startswith("https://") or len(url) < 12 or any(c.isspace() for c in url)):
        return "url", "Give a web address that starts with https://"
    return None


def _audit(db: Session, action: str, by_id: int, resource_id: int | None) -> None:
    audit.record(db, action, actor_id=by_id, object_type="crisis_resource", object_id=resource_id)


def add(
    db: Session, *, by_id: int, name: str, detail: str, phone: str, text_number: str, url: str
) -> CrisisResource:
    rows = _seed(db)
    row = CrisisResource(position=(rows[-1].position + 1) if rows else 0)
    _fill(row, name, detail, phone, text_number, url)
    db.add(row)
    db.flush()
    _audit(db, "crisis_resource_added", by_id, row.id)
    return row


def _fill(row: CrisisResource, name, detail, phone, text_number, url) -> None:
    row.name, row.detail = " ".join(name.split()), detail.strip()
    row.phone, row.text_number, row.url = phone.strip(), text_number.strip(), url.strip()
    if problem := reach_problem(phone=row.phone, text_number=row.text_number, url=row.url):
        raise ResourceError(problem[1])
    row.updated_at = utcnow()


def find(db: Session, position: int, *, seed: bool = False) -> CrisisResource | None:
    """A line by its place in the list (1 = first): the configured list has no ids until
    seeded, so the admin's pages name lines by place. `seed` before a change."""
    rows = _seed(db) if seed else crisis_resources(db)
    return rows[position - 1] if 0 < position <= len(rows) else None


def change(
    db: Session,
    *,
    by_id: int,
    row: CrisisResource,
    name: str,
    detail: str,
    phone: str,
    text_number: str,
    url: str,
) -> None:
    _fill(row, name, detail, phone, text_number, url)
    db.add(row)
    _audit(db, "crisis_resource_changed", by_id, row.id)


def move(db: Session, *, by_id: int, row: CrisisResource, up: bool) -> None:
    """Swap a line with the one above (or below); the ends stay where they are."""
    rows = _seed(db)
    i = next(n for n, r in enumerate(rows) if r.id == row.id)
    j = i - 1 if up else i + 1
    if not 0 <= j < len(rows):
        return
    rows[i], rows[j] = rows[j], rows[i]
    for n, r in enumerate(rows):
        r.position = n
        db.add(r)
    _audit(db, "crisis_resource_moved", by_id, row.id)


def remove(db: Session, *, by_id: int, row: CrisisResource) -> None:
    count = db.exec(select(func.count(col(CrisisResource.id)))).one()
    if count <= 1:
        raise ResourceError("Keep at least one crisis line: the help page must never be empty.")
    db.delete(row)
    _audit(db, "crisis_resource_removed", by_id, row.id)
