"""The built-in exercise library: Markdown files in `exercises/`, kept in step with the database,
and safe rendering of exercise text (markdown-it-py, then nh3: no raw HTML, no scripts)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup
from sqlmodel import Session, select

from iop_pwa.db import utcnow
from iop_pwa.practice.models import SKILLS, Exercise

EXERCISES_DIR = Path(__file__).with_name("exercises")
_HEADER = re.compile(r"^---\n(.*?)\n---\n(.*)$", re.S)
_FIELD = re.compile(r"^(title|skill|minutes|timer|why): (.+)$", re.M)
_QUESTION = re.compile(r"^  - (.+)$", re.M)

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).disable("image")
ALLOWED_TAGS = {"p", "ol", "ul", "li", "strong", "em", "br", "blockquote", "h3", "h4", "code"}


@lru_cache(maxsize=512)
def render(text: str) -> Markup:
    """Markdown to HTML that is safe to show: raw HTML is not parsed, and nh3 keeps only a few
    harmless tags (no links, images, scripts, styles or attributes)."""
    html = _markdown.render(text or "")
    return Markup(nh3.clean(html, tags=ALLOWED_TAGS, attributes={}))  # noqa: S704 - sanitised


@dataclass
class ExerciseFile:
    slug: str
    title: str
    skill: str
    minutes: int
    why: str
    questions: list[str]
    steps: str
    timer: str | None
    source_hash: str


def parse(path: Path) -> ExerciseFile:
    text = path.read_text(encoding="utf-8")
    match = _HEADER.match(text)
    if not match:
        raise ValueError(f"{path.name}: no '---' header")
    head, body = match.groups()
    fields = dict(_FIELD.findall(head))
    if fields.get("skill") not in SKILLS:
        raise ValueError(f"{path.name}: unknown skill {fields.get('skill')!r}")
    return ExerciseFile(
        slug=path.stem,
        title=fields["title"].strip(),
        skill=fields["skill"].strip(),
        minutes=int(fields["minutes"]),
        why=fields["why"].strip(),
        questions=[q.strip() for q in _QUESTION.findall(head)],
        steps=body.strip(),
        timer=fields.get("timer", "").strip() or None,
        source_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


def sync_builtin_exercises(db: Session, directory: Path = EXERCISES_DIR) -> dict[str, int]:
    """Insert new built-in exercises and update changed ones (by the file's hash). A file that
    was removed archives its exercise (assignments that use it keep working)."""
    files = {f.slug: f for f in (parse(p) for p in sorted(directory.glob("*.md")))}
    existing = {e.slug: e for e in db.exec(select(Exercise).where(Exercise.slug.is_not(None)))}
    counts = {"added": 0, "updated": 0, "archived": 0}
    for slug, f in files.items():
        exercise = existing.get(slug)
        if exercise is not None and exercise.source_hash == f.source_hash:
            continue
        if exercise is None:
            exercise = Exercise(slug=slug)
            counts["added"] += 1
        else:
            exercise.updated_at = utcnow()
            counts["updated"] += 1
        exercise.title, exercise.skill, exercise.minutes = f.title, f.skill, f.minutes
        exercise.why, exercise.steps, exercise.timer = f.why, f.steps, f.timer
        exercise.questions = "\n".join(f.questions)
        exercise.source_hash = f.source_hash
        exercise.archived_at = None
        db.add(exercise)
    for slug, exercise in existing.items():
        if slug not in files and exercise.archived_at is None:
            exercise.archived_at = utcnow()
            db.add(exercise)
            counts["archived"] += 1
    db.flush()
    return counts
