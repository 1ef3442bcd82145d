"""Choosing a time zone on a phone: a short list of the zones people pick, by region and with
names they know, the phone's own zone first, and every other zone under "Other"."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from iop_pwa.accounts.models import User
from tests.browser.helpers import assert_no_axe_violations, make_invitation_token, sign_in

# Every group of the select, and how many options each has, in order.
GROUPS = """(select) => [...select.querySelectorAll('optgroup')].map(
    (g) => [g.label, [...g.querySelectorAll('option')].map((o) => o.textContent)])"""


def test_joining_from_tokyo_the_phones_zone_comes_first_and_is_chosen(
    app, new_context, live_server, make_user, db
):
    therapist = make_user("therapist")
    token = make_invitation_token(app, therapist, "Kai Mori")
    phone = new_context(phone=True, timezone_id="Asia/Tokyo").new_page()
    phone.goto(f"{live_server}/join/{token}")
    zone = phone.get_by_role("combobox", name="Time zone")
    expect(zone).to_have_value("Asia/Tokyo")

    groups = dict(zone.evaluate(GROUPS))
    assert list(groups)[0] == "This device's time zone"
    assert groups["This device's time zone"] == ["Tokyo (Japan)"]
    assert list(groups)[1:3] == ["United States and Canada", "Mexico, Central and South America"]
    assert "New York (Eastern)" in groups["United States and Canada"]
    assert "London (UK)" in groups["UK and Ireland"]
    assert "India (Kolkata)" in groups["Asia"]
    assert list(groups)[-1] == "Other"
    # Every other zone, with its country: no bare old names such as "North" or "US/Eastern".
    other = groups["Other"]
    assert len(other) > 300 and "Norway: Oslo" not in other  # Oslo is in "Europe" already
    assert "Argentina: Cordoba" in other and "United States: Indiana / Marengo" in other
    assert all(re.fullmatch(r"[^:/]+: .+", label) for label in other), other
    labels = [label for options in groups.values() for label in options]
    assert not {"North", "Eastern", "Calcutta", "US/Eastern"} & set(labels)
    values = zone.evaluate("(s) => [...s.options].map((o) => o.value)")
    assert not [v for v in values if "/" not in v or v.startswith(("US/", "Etc/"))]

    # The person chooses Oslo; a mistake elsewhere shows the form again with Oslo kept.
    phone.get_by_label("Email", exact=True).fill("kai@example.test")
    phone.get_by_label("Choose a password").fill("short")
    zone.select_option(label="Oslo (Norway)")
    phone.get_by_label("I have read how my information is kept private").check()
    phone.get_by_role("button", name="Create my account").click()
    expect(phone.get_by_text("Use at least 8 characters")).to_be_visible()
    expect(zone).to_have_value("Europe/Oslo")
    assert zone.evaluate(GROUPS)[0] == ["This device's time zone", ["Tokyo (Japan)"]]
    assert_no_axe_violations(phone)
    phone.get_by_label("Choose a password").fill("a calm walk by the river")
    phone.get_by_label("I have read how my information is kept private").check()
    phone.get_by_role("button", name="Create my account").click()
    expect(phone).to_have_url(live_server + "/today")
    with app.app_context():
        from sqlmodel import select

        kai = db.exec(select(User).where(User.email == "kai@example.test")).one()
    assert kai.timezone == "Europe/Oslo"


def test_account_offers_the_phones_zone_without_changing_the_saved_one(
    new_context, live_server, make_user
):
    person = make_user("participant", timezone="America/Chicago")
    phone = new_context(phone=True, timezone_id="Europe/London").new_page()
    sign_in(phone, live_server, person.email)
    phone.goto(live_server + "/account")
    zone = phone.get_by_role("combobox", name="Time zone")
    expect(zone).to_have_value("America/Chicago")
    assert zone.evaluate(GROUPS)[0] == ["This device's time zone", ["London (UK)"]]

    zone.select_option(label="London (UK)")
    phone.get_by_role("button", name="Save time zone").click()
    expect(phone.get_by_role("combobox", name="Time zone")).to_have_value("Europe/London")
    # Saved and the same as the phone's: nothing more to suggest.
    assert phone.get_by_role("combobox", name="Time zone").evaluate(GROUPS)[0][0] == (
        "United States and Canada"
    )
