"""Who may reach a conversation and its messages, written with the rules in `access.py`.

- A care team's thread: the participant, and every therapist with them on their caseload.
- A group's room: its members and its facilitators.
- A direct conversation: exactly its two participants (not the facilitators, not staff), also
  after it became read-only (the facilitators turned direct messages off, someone left the group,
  or blocked the other): the service says why it is read-only instead of a 404.
Membership is what counts, never whether a participant is active: alumni keep their groups and
their care team's thread (a deactivated account cannot sign in at all). Changing (posting) needs
more: a staff member may not post into the thread of a deactivated participant
(`open_to_new_work`). Mutes are checked by the service (they answer with a reason, not a 404).
Moderating (hiding a message, muting, removing a member, reports) is for the group's facilitators
only; reports in a direct conversation go to the facilitators of the group it was started in.
"""

from __future__ import annotations

from sqlalchemy import exists, or_
from sqlmodel import Session, select

from iop_pwa.access import (
    Action,
    Policy,
    facilitates,
    member_of,
    on_caseload,
    open_to_new_work,
)
from iop_pwa.accounts.models import User
from iop_pwa.messages.models import Conversation, Message, MessageReport
from iop_pwa.messages.rules import message_seen, reported_to


def reaches(db: Session, user: User, conversation: Conversation) -> bool:
    """Whether a person belongs to a conversation (reads it)."""
    if conversation.is_direct:
        return user.is_participant and user.id in (conversation.peer_a_id, conversation.peer_b_id)
    if conversation.is_group:
        if user.is_staff:
            return facilitates(db, user.id, conversation.group_id)
        return member_of(db, user.id, conversation.group_id)
    if user.is_staff:
        return on_caseload(db, user.id, conversation.participant_id)
    return user.is_participant and conversation.participant_id == user.id


def _conversation(db: Session, user: User, conversation: Conversation, action: Action) -> bool:
    if not reaches(db, user, conversation):
        return False
    if action == Action.view or conversation.is_group or not user.is_staff:
        return True
    participant = db.get(User, conversation.participant_id)
    return participant is not None and open_to_new_work(participant)


CONVERSATION = Policy(
    "conversation",
    Conversation,
    _conversation,
    subject=lambda c: c.participant_id,
)


def moderates(db: Session, user: User, conversation: Conversation) -> bool:
    """A group's facilitators moderate its room and its members' direct conversations (hide a
    reported message; they do not read the conversation). No one moderates a care team's
    thread."""
    return (
        (conversation.is_group or conversation.is_direct)
        and user.is_staff
        and facilitates(db, user.id, conversation.group_id)
    )


def _exists(db: Session, message_id: int | None, condition) -> bool:
    if message_id is None:
        return False
    return db.exec(select(exists().where(Message.id == message_id, condition))).one()


def sees_message(db: Session, user: User, message_id: int | None) -> bool:
    """Whether the reader's room shows them this message, words and all (`rules.message_seen`,
    the rule of the room's own list): one indexed lookup."""
    return _exists(db, message_id, message_seen(user.is_staff, user.id))


def _message(db: Session, user: User, message: Message, action: Action) -> bool:
    if action == Action.view:
        return sees_message(db, user, message.id)
    conversation = db.get(Conversation, message.conversation_id)
    if conversation is None or not moderates(db, user, conversation):
        return False
    return _exists(db, message.id, or_(message_seen(True, user.id), reported_to(user.id)))


GROUP_ROOM = Policy(
    "group_room",
    Conversation,
    lambda db, user, conversation, _action: (
        conversation.is_group and moderates(db, user, conversation)
    ),
)
"""A group's room as its facilitators run it: guidelines, muting and removing members."""

MESSAGE = Policy("message", Message, _message)
"""A message: those whose room shows it view it (and may report it): not one from before a
member joined, nor, for anyone but its author and the facilitators, one a moderator removed.
Its group's facilitators change it (remove it): in the room, or reported to them from a direct
conversation."""


def _report(db: Session, user: User, report: MessageReport, _action: Action) -> bool:
    message = db.get(Message, report.message_id)
    return message is not None and _message(db, user, message, Action.change)


MESSAGE_REPORT = Policy("message_report", MessageReport, _report)
"""A report: only the facilitators of the group whose message it names."""
