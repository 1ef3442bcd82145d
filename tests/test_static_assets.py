"""Static files: content-hashed names, a year in the browser's cache, compressed once.

The weight of a first visit to Today is measured here as the bytes a browser that accepts brotli
receives: the page and every asset it names (issue 15's budget is 45 KB)."""

from __future__ import annotations

import gzip
import re

import brotli
from flask import url_for

from iop_pwa.pwa.views import SHELL
from iop_pwa.static_assets import A_YEAR

ASSET = re.compile(r'(?:src|href)="(/static/[^"#]+)')
FIRST_VISIT_BUDGET = 45 * 1024


def _url(app, name: str) -> str:
    with app.test_request_context("/"):
        return url_for("static", filename=name)


def test_every_shell_file_is_named_by_its_content(app):
    for name in SHELL:
        url = _url(app, name)
        stem, ext = name.rsplit(".", 1)
        assert re.fullmatch(rf"/static/{re.escape(stem)}\.[0-9a-f]{{10}}\.{ext}", url), url


def test_a_hashed_name_is_kept_a_year_and_compressed_to_the_same_bytes(client, app):
    original = (app.static_folder + "/vendor/htmx.min.js").encode()
    with open(original, "rb") as file:
        plain = file.read()
    url = _url(app, "vendor/htmx.min.js")
    for encoding, unpack in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        response = client.get(url, headers={"Accept-Encoding": encoding})
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == encoding
        assert response.cache_control.max_age == A_YEAR
        assert response.cache_control.immutable and response.cache_control.public
        assert "Accept-Encoding" in response.headers["Vary"]
        body = response.get_data()
        assert len(body) < len(plain) / 2
        assert unpack(body) == plain
    identity = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers
    assert identity.get_data() == plain


def test_plain_and_outdated_names_still_answer_but_are_asked_again(client, app):
    plain = client.get("/static/js/app.js")
    assert plain.status_code == 200 and plain.cache_control.no_cache
    current = _url(app, "js/app.js")
    outdated = re.sub(r"\.[0-9a-f]{10}\.js$", ".0000000000.js", current)
    assert outdated != current
    old = client.get(outdated)
    assert old.status_code == 200 and old.cache_control.no_cache
    assert old.get_data() == plain.get_data()
    assert old.cache_control.max_age is None


def test_names_outside_the_static_folder_or_unknown_are_404(client):
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/js/nothing.0123456789.js").status_code == 404
    assert client.get("/static/..%2fapp.0123456789.py").status_code == 404


def test_pages_are_compressed_only_for_requests_from_our_own_pages(client, make_user, sign_in):
    """BREACH needs a compressed secret (the CSRF token) beside text an attacker chooses, in
    many responses to requests the attacker's site starts: those get the page uncompressed."""
    sign_in(make_user("participant"))
    for site, compressed in (("same-origin", True), ("none", True), ("cross-site", False)):
        today = client.get("/today", headers={"Accept-Encoding": "br", "Sec-Fetch-Site": site})
        assert today.status_code == 200
        assert ("Content-Encoding" in today.headers) is compressed, site
        assert "Accept-Encoding" in today.headers["Vary"]
        page = brotli.decompress(today.get_data()) if compressed else today.get_data()
        assert b'name="csrf_token"' in page
    older = client.get("/today", headers={"Accept-Encoding": "br"})  # no Sec-Fetch-Site at all
    assert "Content-Encoding" not in older.headers


def test_a_first_visit_to_today_fits_the_budget_and_names_only_cached_assets(
    client, make_user, sign_in
):
    sign_in(make_user("participant"))
    today = client.get("/today", headers={"Accept-Encoding": "br", "Sec-Fetch-Site": "none"})
    assert today.headers["Content-Encoding"] == "br"
    page = brotli.decompress(today.get_data()).decode()
    assets = sorted(set(ASSET.findall(page)))
    assert any(a.startswith("/static/css/app.") for a in assets), assets
    assert any(a.startswith("/static/vendor/htmx.min.") for a in assets), assets
    total = len(today.get_data())
    for asset in assets:
        response = client.get(asset, headers={"Accept-Encoding": "br, gzip"})
        assert response.status_code == 200, asset
        # A repeat visit asks for none of them: each is fresh for a year.
        assert response.cache_control.immutable and response.cache_control.max_age == A_YEAR
        total += len(response.get_data())
    assert total <= FIRST_VISIT_BUDGET, f"a first visit to Today is {total} bytes"
