"""Showing a message: plain text, escaped, with its web addresses made into links.

Nothing a person typed is ever treated as markup: the text is split around addresses, every
piece is escaped, and only http(s) addresses become links (opened in a new tab, without the
referrer or any hold on this page). Line breaks are kept by the stylesheet (white-space).
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# An address starts with http:// or https:// (or www.) and runs to the next space or bracket;
# punctuation that ends a sentence is left outside the link.
_ADDRESS = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def linkify(text: str | None) -> Markup:
    if not text:
        return Markup("")
    parts: list[str] = []
    position = 0
    for found in _ADDRESS.finditer(text):
        address = found.group(0)
        trimmed = address.rstrip(_TRAILING)
        # Keep a closing bracket that belongs to the address: (see https://x.org/a_(b))
        if address.endswith(")") and trimmed.count("(") > trimmed.count(")"):
            trimmed += ")"
        end = found.start() + len(trimmed)
        parts.append(str(escape(text[position : found.start()])))
        href = trimmed if trimmed.lower().startswith("http") else "https://" + trimmed
        parts.append(
            f'<a href="{escape(href)}" rel="noopener noreferrer nofollow" '
            f'target="_blank">{escape(trimmed)}</a>'
        )
        position = end
    parts.append(str(escape(text[position:])))
    return Markup("".join(parts))  # noqa: S704 - every piece above is escaped
