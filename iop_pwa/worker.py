"""The background worker's rounds. It runs beside the web server (`make run` starts both).

Today it does housekeeping: ending expired sign-in sessions and forgetting old failed sign-ins.
The push issue adds sending due reminders here, so no request handler ever talks to a push service.
"""

from __future__ import annotations

import logging

from iop_pwa.accounts import throttle
from iop_pwa.accounts.sessions import purge_expired
from iop_pwa.db import session_scope

log = logging.getLogger(__name__)


def run_round() -> dict[str, int]:
    """One pass of every periodic job; returns counts (never personal data) for the log."""
    with session_scope() as db:
        counts = {
            "expired_sessions": purge_expired(db),
            "old_sign_in_failures": throttle.prune(db),
        }
    if any(counts.values()):
        log.info("worker round: %s", counts)
    return counts
