"""Static files under names that carry their content's hash, cached for a year, compressed.

`url_for("static", filename="css/app.css")` gives `/static/css/app.3f2a9c1b7d.css`: the ten hex
digits are the start of the file's SHA-256. A browser may keep such a file for a year without
asking again (`immutable`), because a change of the file is a change of its name; so a repeat
visit fetches no asset. The plain name still answers, `no-cache`, for what cannot carry a hash
(the service worker's `importScripts`).

Text is compressed with Flask-Compress (brotli, zstd or gzip). Pages carry the CSRF token, and
a compressed secret beside text an attacker chooses is what the BREACH attack measures: it needs
the victim's browser to send many requests the attacker's site starts. So a page is compressed
only when the browser says the request came from our own pages or from the person
(`Sec-Fetch-Site: same-origin` or `none`); a request another site starts gets it uncompressed.
"""

from __future__ import annotations

import gzip
import hashlib
import posixpath
import re
import time
from pathlib import Path

import brotli
from flask import Flask, Response, request, send_from_directory
from flask_compress import Compress
from werkzeug.security import safe_join

DIGEST_LENGTH = 10
HASHED_NAME = re.compile(rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})(?P<ext>\.\w+)$")
A_YEAR = 365 * 24 * 3600

COMPRESSED_TYPES = [
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "image/svg+xml",
    "application/manifest+json",
]

compress = Compress()


class Digests:
    """The content hash of each static file, read again only when the file changes, and the
    files' compressed bodies, made once per version at the strongest level. A file is looked at
    (stat) at most once a second: a page names a dozen of them, and a deploy or an edit in
    development shows within the second."""

    RECHECK_SECONDS = 1.0

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._known: dict[str, tuple[tuple[int, int], str]] = {}
        self._checked: dict[str, tuple[float, str]] = {}
        self._packed: dict[tuple[str, str, str], bytes] = {}

    def packed(self, filename: str, digest: str, encoding: str, data: bytes) -> bytes:
        key = (filename, digest, encoding)
        if key not in self._packed:
            if encoding == "br":
                self._packed[key] = brotli.compress(data, quality=11)
            else:
                self._packed[key] = gzip.compress(data, compresslevel=9, mtime=0)
        return self._packed[key]

    def of(self, filename: str) -> str | None:
        """The file's digest, or None if there is no such file under the static folder."""
        now = time.monotonic()
        recent = self._checked.get(filename)
        if recent is not None and now - recent[0] < self.RECHECK_SECONDS:
            return recent[1]
        path = safe_join(self.folder, filename)
        if path is None:
            return None
        try:
            stat = Path(path).stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        known = self._known.get(filename)
        if known is None or known[0] != stamp:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:DIGEST_LENGTH]
            known = self._known[filename] = (stamp, digest)
        self._checked[filename] = (now, known[1])
        return known[1]


def hashed_name(filename: str, digest: str) -> str:
    stem, ext = posixpath.splitext(filename)
    return f"{stem}.{digest}{ext}"


def init_app(app: Flask) -> None:
    digests = Digests(app.static_folder or "")
    app.extensions["iop_static_digests"] = digests

    @app.url_defaults
    def _hash_static_names(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values:
            digest = digests.of(values["filename"])
            if digest is not None:
                values["filename"] = hashed_name(values["filename"], digest)

    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "zstd", "gzip"])
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "zstd"])
    app.config["COMPRESS_REGISTER"] = False  # `_compress` decides, then Flask-Compress does it
    compress.init_app(app)

    @app.after_request
    def _compress(response: Response) -> Response:
        if response.mimetype == "text/html" and not _started_here():
            response.vary.add("Accept-Encoding")
            return response
        return compress.after_request(response)


def _started_here() -> bool:
    """The browser says the request comes from our own pages, or from the person themselves."""
    return request.headers.get("Sec-Fetch-Site") in ("same-origin", "none")


def send(app: Flask, filename: str) -> Response:
    """A static file. Under its current hashed name: for a year, `immutable`. Under an older hash
    (a page from before a deploy): today's file, `no-cache`. Under its plain name: `no-cache`."""
    digests: Digests = app.extensions["iop_static_digests"]
    folder = app.static_folder or ""
    found = HASHED_NAME.match(filename)
    if found:
        plain = found["stem"] + found["ext"]
        current = digests.of(plain)
        if current is not None:
            fresh = current == found["digest"]
            response = send_from_directory(folder, plain, max_age=A_YEAR if fresh else None)
            if fresh:
                response.cache_control.public = True
                response.cache_control.immutable = True
                _precompressed(digests, plain, current, response)
            else:
                response.cache_control.no_cache = True
            return response
    return send_from_directory(folder, filename, max_age=None)


def _precompressed(digests: Digests, filename: str, digest: str, response: Response) -> None:
    """Send a text file of this version compressed once and kept (brotli, else gzip), rather
    than compressed again for every first visit."""
    if response.status_code != 200 or response.mimetype not in COMPRESSED_TYPES:
        return
    accepted = request.accept_encodings
    encoding = "br" if accepted["br"] else "gzip" if accepted["gzip"] else None
    response.vary.add("Accept-Encoding")
    if encoding is None:
        return
    response.direct_passthrough = False
    body = digests.packed(filename, digest, encoding, response.get_data())
    response.set_data(body)
    response.headers["Content-Encoding"] = encoding
