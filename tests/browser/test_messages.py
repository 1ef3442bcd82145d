"""Messages in real Chromium: two members of a group see each other's messages within 5 seconds
without a reload, a therapist answers a care-team thread from a laptop (Enter sends), and a
message written offline waits on the phone and arrives once. Every page checked with axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from iop_pwa.messages.models import Conversation, Message
from tests.browser.helpers import assert_no_axe_violations, main_nav, sign_in
from tests.helpers import send_message
from tests.test_messages import _conversations as ensure_conversations

LIVE = 5_000  # ms: a new message from someone else shows within this, without a reload


@pytest.fixture(autouse=True)
def no_script_errors(page):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    yield
    assert errors == [], errors


@pytest.fixture
def people(make_user):
    therapist = make_user(
        "therapist", name="Maya Lopez", email="maya@example.test", group="Evening"
    )
    sam = make_user(
        "participant",
        name="Sam Rivera",
        email="sam@example.test",
        therapist=therapist,
        group="Evening",
    )
    jo = make_user(
        "participant",
        name="Jo Park",
        email="jo@example.test",
        therapist=therapist,
        group="Evening",
    )
    return therapist, sam, jo


def open_conversation(page, base_url: str, email: str, name: str) -> None:
    sign_in(page, base_url, email)
    main_nav(page).get_by_role("link", name=re.compile(r"^Messages")).click()
    expect(page.get_by_role("heading", name="Messages", level=1)).to_be_visible()
    page.get_by_role("link", name=re.compile("^" + re.escape(name))).click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()


def agree(page) -> None:
    expect(page.get_by_text("Be kind.")).to_be_visible()
    page.get_by_role("button", name="I agree").click()
    expect(page.get_by_label("Message", exact=True)).to_be_visible()


def messages_list(page):
    return page.get_by_role("list", name="Messages")


def test_two_members_of_a_group_see_each_others_messages_within_5_seconds(
    page, new_context, live_server, people, db
):
    _, sam, jo = people
    jo_page = new_context(phone=True).new_page()
    open_conversation(jo_page, live_server, jo.email, "Evening")
    agree(jo_page)

    open_conversation(page, live_server, sam.email, "Evening")
    agree(page)
    page.get_by_label("Message", exact=True).fill("Hi everyone, first week for me.")
    page.get_by_role("button", name="Send").click()
    mine = messages_list(page).get_by_role("listitem").filter(has_text="first week for me")
    expect(mine).to_be_visible(timeout=LIVE)
    expect(mine).to_contain_text("You")
    expect(page.get_by_label("Message", exact=True)).to_have_value("")

    theirs = messages_list(jo_page).get_by_role("listitem").filter(has_text="first week for me")
    expect(theirs).to_be_visible(timeout=LIVE)
    expect(theirs).to_contain_text("Sam Rivera")

    jo_page.get_by_label("Message", exact=True).fill("Welcome! See https://example.org/tips")
    jo_page.get_by_role("button", name="Send").click()
    reply = messages_list(page).get_by_role("listitem").filter(has_text="Welcome!")
    expect(reply).to_be_visible(timeout=LIVE)
    expect(reply.get_by_role("link", name="https://example.org/tips")).to_have_attribute(
        "rel", "noopener noreferrer nofollow"
    )
    assert len(db.exec(select(Message)).all()) == 2
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_no_axe_violations(page)


def test_a_therapist_answers_the_care_team_thread_and_the_participant_sees_it(
    page, new_context, live_server, people
):
    therapist, sam, _ = people
    open_conversation(page, live_server, sam.email, "Care team")
    expect(page.get_by_text("not around the clock")).to_be_visible()
    expect(page.get_by_role("link", name="Get help now").last).to_be_visible()
    page.get_by_label("Message", exact=True).fill("Can we move Thursday's session?")
    page.get_by_role("button", name="Send").click()
    expect(messages_list(page).get_by_text("Can we move Thursday's session?")).to_be_visible()

    laptop = new_context(phone=False).new_page()
    sign_in(laptop, live_server, therapist.email)
    main_nav(laptop).get_by_role("link", name="Messages, 1 unread").click()
    expect(laptop.get_by_role("heading", name="Messages", level=1)).to_be_visible()
    assert_no_axe_violations(laptop)
    laptop.get_by_role("link", name=re.compile(r"^Sam Rivera, 1 unread")).click()
    expect(laptop.get_by_role("heading", name="Sam Rivera", level=1)).to_be_visible()
    expect(messages_list(laptop).get_by_text("Can we move Thursday's session?")).to_be_visible()
    assert_no_axe_violations(laptop)

    box = laptop.get_by_label("Message", exact=True)
    box.fill("Yes, how about Friday at 10?")
    box.press("Enter")  # on a laptop, Enter sends
    expect(messages_list(laptop).get_by_text("Yes, how about Friday at 10?")).to_be_visible()
    expect(box).to_have_value("")
    expect(main_nav(laptop).get_by_role("link", name="Messages", exact=True)).to_be_visible()

    answer = messages_list(page).get_by_role("listitem").filter(has_text="Friday at 10")
    expect(answer).to_be_visible(timeout=LIVE)
    expect(answer).to_contain_text("Maya Lopez")
    expect(answer).to_contain_text("Care team")
    assert_no_axe_violations(page)


def test_on_a_phone_enter_is_a_new_line(page, live_server, people):
    _, sam, _ = people
    open_conversation(page, live_server, sam.email, "Care team")
    box = page.get_by_label("Message", exact=True)
    box.fill("First line")
    box.press("Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("First line\nsecond line")
    expect(messages_list(page).get_by_role("listitem")).to_have_count(0)


def test_a_message_written_offline_waits_then_arrives_once(page, context, live_server, people, db):
    _, sam, _ = people
    open_conversation(page, live_server, sam.email, "Care team")
    context.set_offline(True)
    page.get_by_label("Message", exact=True).fill("Written in the subway")
    page.get_by_role("button", name="Send").click()
    waiting = page.get_by_role("region", name="Waiting to send")
    expect(waiting).to_be_visible()
    expect(waiting).to_contain_text("Written in the subway")
    assert db.exec(select(Message)).all() == []

    context.set_offline(False)  # the `online` event sends it
    expect(waiting).to_be_hidden(timeout=LIVE)
    expect(messages_list(page).get_by_text("Written in the subway")).to_be_visible(timeout=LIVE)
    page.evaluate("() => IOPOutbox.flush()")
    page.reload()
    expect(messages_list(page).get_by_text("Written in the subway")).to_have_count(1)
    assert [m.body for m in db.exec(select(Message)).all()] == ["Written in the subway"]


def test_crisis_words_in_a_message_bring_help_at_once(page, live_server, people):
    _, sam, _ = people
    open_conversation(page, live_server, sam.email, "Care team")
    page.get_by_label("Message", exact=True).fill("Some days I don't want to live")
    page.get_by_role("button", name="Send").click()
    panel = page.get_by_role("alert").filter(has_text="You don't have to carry this alone")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("link", name="Call 988")).to_have_attribute("href", "tel:988")


def test_a_reported_message_is_removed_from_the_facilitators_queue(
    page, new_context, live_server, people
):
    therapist, sam, jo = people
    open_conversation(page, live_server, sam.email, "Evening")
    agree(page)
    page.get_by_label("Message", exact=True).fill("Jo never gets anything right")
    page.get_by_role("button", name="Send").click()
    expect(messages_list(page).get_by_text("Jo never gets anything right")).to_be_visible()

    jo_page = new_context(phone=True).new_page()
    open_conversation(jo_page, live_server, jo.email, "Evening")
    jo_page.get_by_role("link", name="Report this message from Sam Rivera").click()
    expect(jo_page.get_by_role("heading", name="Report a message", level=1)).to_be_visible()
    assert_no_axe_violations(jo_page)
    jo_page.get_by_label("Unkind or hurtful").check()
    jo_page.get_by_role("button", name="Send report").click()
    expect(jo_page.get_by_role("status").filter(has_text="facilitators will look")).to_be_visible()

    laptop = new_context(phone=False).new_page()
    sign_in(laptop, live_server, therapist.email)
    main_nav(laptop).get_by_role("link", name=re.compile(r"^Messages")).click()
    laptop.get_by_role("link", name="Moderation queue").click()
    report = laptop.get_by_role("listitem").filter(has_text="Jo never gets anything right")
    expect(report).to_contain_text("Unkind or hurtful")
    assert_no_axe_violations(laptop)
    report.get_by_role("link", name="Remove the message…").click()
    expect(laptop.get_by_role("heading", name="Remove this message?", level=1)).to_be_visible()
    assert_no_axe_violations(laptop)
    laptop.get_by_label("Unkind or hurtful").check()
    laptop.get_by_role("button", name="Remove message").click()
    expect(laptop.get_by_text("Nothing to review")).to_be_visible()

    jo_page.reload()
    expect(messages_list(jo_page).get_by_text("Removed by a moderator")).to_be_visible()
    expect(messages_list(jo_page).get_by_text("Jo never gets anything right")).to_have_count(0)


@pytest.mark.parametrize("width", [320, 390])
def test_unread_counts_fit_a_small_phone(new_context, live_server, people, app, db, width):
    therapist, sam, _ = people
    ensure_conversations(app, sam)
    care_id = db.exec(select(Conversation.id).where(Conversation.participant_id == sam.id)).one()
    for text in ("Hello Sam", "How was group?", "We are here on weekdays."):
        send_message(app, care_id, therapist, text)

    page = new_context(viewport={"width": width, "height": 640}).new_page()
    sign_in(page, live_server, sam.email)
    messages_link = main_nav(page).get_by_role("link", name="Messages, 3 unread")
    expect(messages_link).to_be_visible()
    expect(page.get_by_role("link", name="3 new messages from your care team")).to_be_visible()
    boxes = [
        main_nav(page).get_by_role("link").nth(i).locator("span").bounding_box() for i in range(5)
    ]
    for box, next_box in zip(boxes, boxes[1:], strict=False):
        assert next_box["x"] - (box["x"] + box["width"]) >= 4
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    messages_link.click()
    page.get_by_role("link", name="Care team, 3 unread").click()
    expect(messages_list(page).get_by_role("listitem")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(main_nav(page).get_by_role("link", name="Messages", exact=True)).to_be_visible()
    assert_no_axe_violations(page)


def test_direct_messages_between_two_members_once_a_facilitator_turns_them_on(
    page, new_context, live_server, people
):
    therapist, sam, jo = people
    laptop = new_context(phone=False).new_page()
    open_conversation(laptop, live_server, therapist.email, "Evening")
    laptop.get_by_role("button", name="Turn on direct messages").click()
    expect(laptop.get_by_role("status").filter(has_text="message each other")).to_be_visible()
    expect(laptop.get_by_role("button", name="Turn off direct messages")).to_be_visible()
    assert_no_axe_violations(laptop)

    phone = new_context(viewport={"width": 320, "height": 640}).new_page()
    open_conversation(phone, live_server, sam.email, "Evening")
    members = phone.get_by_role("region", name="Members")
    expect(members.get_by_role("button", name="Message Jo Park")).to_be_visible()
    expect(members.get_by_role("button", name="Message Sam Rivera")).to_have_count(0)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_no_axe_violations(phone)
    members.get_by_role("button", name="Message Jo Park").click()
    expect(phone.get_by_role("heading", name="Jo Park", level=1)).to_be_visible()
    expect(phone.get_by_text("Only you and Jo Park see this conversation")).to_be_visible()
    phone.get_by_label("Message", exact=True).fill("Want to practise before Thursday?")
    phone.get_by_role("button", name="Send").click()
    expect(messages_list(phone).get_by_text("Want to practise before Thursday?")).to_be_visible(
        timeout=LIVE
    )
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert_no_axe_violations(phone)

    sign_in(page, live_server, jo.email)
    main_nav(page).get_by_role("link", name="Messages, 1 unread").click()
    page.get_by_role("link", name="Sam Rivera, 1 unread").click()
    expect(page.get_by_role("heading", name="Sam Rivera", level=1)).to_be_visible()
    expect(messages_list(page).get_by_text("Want to practise before Thursday?")).to_be_visible()
    page.get_by_label("Message", exact=True).fill("Yes, Wednesday evening?")
    page.get_by_role("button", name="Send").click()
    reply = messages_list(phone).get_by_role("listitem").filter(has_text="Wednesday evening")
    expect(reply).to_be_visible(timeout=LIVE)  # live, without a reload
    expect(reply).to_contain_text("Jo Park")

    phone.get_by_role("button", name="Block Jo Park").click()
    expect(phone.get_by_role("status").filter(has_text="can no longer message you")).to_be_visible()
    expect(
        phone.get_by_text("You blocked Jo Park, so this conversation is read-only")
    ).to_be_visible()
    expect(phone.get_by_role("button", name="Unblock Jo Park")).to_be_visible()
    expect(phone.get_by_label("Message", exact=True)).to_have_count(0)
    page.reload()
    expect(page.get_by_text("Sam Rivera is not taking direct messages from you")).to_be_visible()
    expect(page.get_by_label("Message", exact=True)).to_have_count(0)
    assert_no_axe_violations(page)


def test_removing_a_member_asks_first_then_tells_the_facilitator_it_is_done(
    page, live_server, people
):
    therapist, _, _ = people
    open_conversation(page, live_server, therapist.email, "Evening")
    page.get_by_role("link", name="Remove Jo Park from the group").click()
    expect(
        page.get_by_role("heading", name="Remove Jo Park from Evening?", level=1)
    ).to_be_visible()
    expect(page.get_by_text("no longer sees the group's room")).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name="Evening", level=1)).to_be_visible()

    page.get_by_role("link", name="Remove Jo Park from the group").click()
    page.get_by_role("button", name="Remove Jo Park from the group").click()
    expect(
        page.get_by_role("status").filter(has_text="Jo Park is no longer in the group")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Remove Jo Park from the group")).to_have_count(0)


def _above_the_composer(page, item) -> bool:
    """Whether a message is in view on the screen, whole, above the composer (not under it)."""
    box = item.bounding_box()
    composer = page.locator("form.composer").bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= composer["y"] + 1


def test_a_group_room_opens_at_its_newest_message_and_keeps_new_ones_in_view(
    page, new_context, live_server, people, app, make_user, db
):
    therapist, sam, jo = people
    for i in range(4):  # a group with members to message: their card sits below the composer
        make_user("participant", name=f"Member {i}", therapist=therapist, group="Evening")
    ensure_conversations(app, therapist)
    room = db.exec(select(Conversation).where(Conversation.group_id.is_not(None))).one()
    room.direct_messages = True
    db.add(room)
    db.commit()
    for i in range(20):
        send_message(app, room.id, jo if i % 2 else therapist, f"Earlier message {i:02d}")

    open_conversation(page, live_server, sam.email, "Evening")
    agree(page)
    newest = messages_list(page).get_by_role("listitem").filter(has_text="Earlier message 19")
    expect(newest).to_be_in_viewport()
    page.wait_for_function("() => window.scrollY > 0")  # it scrolled
    assert _above_the_composer(page, newest)
    expect(page.get_by_role("button", name="Message Jo Park")).not_to_be_in_viewport()

    jo_page = new_context(phone=True).new_page()
    open_conversation(jo_page, live_server, jo.email, "Evening")  # Jo agreed before
    jo_page.get_by_label("Message", exact=True).fill("Anyone around tonight?")
    jo_page.get_by_role("button", name="Send").click()
    arrived = messages_list(page).get_by_role("listitem").filter(has_text="Anyone around")
    expect(arrived).to_be_in_viewport(timeout=LIVE)  # the reader was at the newest: kept there
    page.wait_for_function(
        """() => {
            const items = document.querySelectorAll("[data-live-item]");
            const last = items[items.length - 1].getBoundingClientRect();
            return last.bottom <= document.querySelector("form.composer")
                .getBoundingClientRect().top + 1;
        }"""
    )
    assert _above_the_composer(page, arrived)


def test_the_characters_left_counter_starts_again_after_send(page, live_server, people):
    _, sam, _ = people
    open_conversation(page, live_server, sam.email, "Care team")
    box = page.get_by_label("Message", exact=True)
    box.fill("Hello there")
    expect(page.get_by_text("1,989 characters left")).to_be_visible()
    page.get_by_role("button", name="Send").click()
    expect(messages_list(page).get_by_text("Hello there")).to_be_visible(timeout=LIVE)
    expect(box).to_have_value("")
    expect(page.get_by_text("2,000 characters left")).to_be_visible()
    expect(page.get_by_text("1,989 characters left")).to_have_count(0)
