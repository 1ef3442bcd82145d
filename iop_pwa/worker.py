"""The background worker's rounds. It runs beside the web server (`make run` starts both).

Its jobs are core housekeeping (ending expired sign-in sessions, sending queued mail) and
whatever the features registered (`features.Job`): push reminders land here too, so no request
handler ever talks to a push or mail server. Each job is one unit of work, committed on its own,
so one failing job neither undoes nor blocks the others.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from iop_pwa import mail
from iop_pwa.accounts import links, throttle
from iop_pwa.accounts.sessions import purge_expired
from iop_pwa.db import session_scope, utcnow
from iop_pwa.features import Job, registry

log = logging.getLogger(__name__)

CORE_JOBS = (
    Job("expired_sessions", timedelta(minutes=1), lambda db, now: purge_expired(db)),
    Job("old_sign_in_failures", timedelta(minutes=10), lambda db, now: throttle.prune(db)),
    Job("expired_sign_in_links", timedelta(minutes=10), lambda db, now: links.prune(db)),
    # Every round: a sign-in link someone asked for should not wait.
    Job("mail_outbox", timedelta(0), lambda db, now: mail.deliver(db, now, links.COMPOSERS)),
)


def jobs() -> list[Job]:
    return [*CORE_JOBS, *registry().jobs]


def run_round(
    now: datetime | None = None, last_run: dict[str, datetime] | None = None
) -> dict[str, int]:
    """One pass over every job that is due; returns counts (never personal data) for the log.

    `last_run` (kept by the worker loop between rounds) holds when each job last ran, so a job
    runs at most once per its `every`; without it every job is due (`worker --once`)."""
    now = now or utcnow()
    last_run = {} if last_run is None else last_run
    counts: dict[str, int] = {}
    for job in jobs():
        last = last_run.get(job.name)
        if last is not None and now - last < job.every:
            continue
        try:
            with session_scope() as db:
                counts[job.name] = job.run(db, now)
        except Exception as exc:  # one job's failure must not stop the others
            # The type only: an exception's text can carry personal data (SQL parameters).
            log.error("worker job %s failed: %s", job.name, type(exc).__name__)
            continue
        last_run[job.name] = now
    if any(counts.values()):
        log.info("worker round: %s", counts)
    return counts
