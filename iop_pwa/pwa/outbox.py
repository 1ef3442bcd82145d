"""How write views answer the device's outbox (static/js/outbox.js).

A form marked `data-offline-write` is queued on the device and sent with `X-Outbox: 1` and
`Accept: application/json`, the first time at once and again after any failure. The view answers
JSON that echoes the item's client id; the device removes the item only on a 2xx with that id.
Without JavaScript the same form posts normally and gets the usual redirect.
"""

from __future__ import annotations

from functools import wraps

from flask import flash, jsonify, make_response, redirect, request


def from_outbox() -> bool:
    return request.headers.get("X-Outbox") == "1"


def in_foreground() -> bool:
    """The person is looking at the page that sent it (not a replay of an older item)."""
    return request.headers.get("X-Outbox-Foreground") == "1"


def saved(client_id: str, next_url: str, message: str):
    """A write was stored (or had been: a replay gets the same answer)."""
    if from_outbox():
        if in_foreground():
            flash(message)
        return jsonify(id=client_id, status="saved", redirect=next_url)
    flash(message)
    return redirect(next_url, 303)


def invalid(client_id: str | None, errors: dict, page):
    """The server refuses the item as it is: the device keeps it and shows why."""
    if from_outbox():
        reasons = [
            f"{e}"
            for messages in errors.values()
            for e in (messages if isinstance(messages, list) else [messages])
        ]
        return jsonify(id=client_id, status="invalid", errors=reasons), 422
    return page()


def keep_offline(view):
    """Mark a participant page the service worker may keep for reading offline.

    Only a plain, unfiltered page view qualifies (not an htmx fragment, not a search result),
    and the copy lives in a cache that sign-out deletes.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = make_response(view(*args, **kwargs))
        filtered = any(key != "source" for key in request.args)
        if response.status_code == 200 and not filtered and "HX-Request" not in request.headers:
            response.headers["X-Offline-Page"] = "1"
        return response

    return wrapper
