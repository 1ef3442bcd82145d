"""Who may reach a conversation and its messages, each written once as SQL from the rules in
`messages/rules.py` (the same expressions the lists, counts, the poll and its quick answer use).

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

from sqlalchemy import ColumnElement, and_, exists, false, or_
from sqlmodel import Session, col

from iop_pwa.access import (
    Action,
    Policy,
    facilitated_group_ids,
    open_to_new_work_sql,
    person_meets,
)
from iop_pwa.accounts.models import User
from iop_pwa.messages.models import Conversation, ConversationKind, Message, MessageReport
from iop_pwa.messages.rules import message_seen, reported_to, visible_to


def _conversation(user: User, action: Action) -> ColumnElement[bool]:
    """Its members read it (`rules.visible_to`); staff post into a care team's thread only while
    the participant is open to new work."""
    if not (user.is_staff or user.is_participant):
        return false()
    condition = visible_to(user.is_staff, user.id)
    if action == Action.view or not user.is_staff:
        return condition
    return and_(
        condition,
        or_(
            Conversation.kind == ConversationKind.group,
            person_meets(Conversation.participant_id, open_to_new_work_sql()),
        ),
    )


CONVERSATION = Policy(
    "conversation", Conversation, _conversation, subject=lambda c: c.participant_id
)


def _moderated(user: User, _action: Action) -> ColumnElement[bool]:
    """A group's facilitators moderate its room and its members' direct conversations (hide a
    reported message; they do not read the conversation). No one moderates a care team's
    thread."""
    if not user.is_staff:
        return false()
    return and_(
        col(Conversation.kind).in_([ConversationKind.group, ConversationKind.direct]),
        col(Conversation.group_id).in_(facilitated_group_ids(user.id)),
    )


MODERATED = Policy("conversation", Conversation, _moderated)
"""The conversations a staff member moderates (see `_moderated`)."""


def moderates(db: Session, user: User, conversation: Conversation) -> bool:
    """Whether this person moderates this conversation (`MODERATED`)."""
    return MODERATED.allows(db, user, conversation)


GROUP_ROOM = Policy(
    "group_room",
    Conversation,
    lambda user, action: and_(
        Conversation.kind == ConversationKind.group, _moderated(user, action)
    ),
)
"""A group's room as its facilitators run it: guidelines, muting and removing members."""


def _message(user: User, action: Action) -> ColumnElement[bool]:
    """View: the reader's room shows them this message, words and all (`rules.message_seen`, the
    rule of the room's own list). Change (remove): its conversation is one they moderate, and
    they see it there or it was reported to them from a direct conversation."""
    if not (user.is_staff or user.is_participant):
        return false()
    if action == Action.view:
        return message_seen(user.is_staff, user.id)
    if not user.is_staff:
        return false()
    return and_(
        exists().where(Conversation.id == Message.conversation_id, _moderated(user, action)),
        or_(message_seen(True, user.id), reported_to(user.id)),
    )


MESSAGE = Policy("message", Message, _message)
"""A message: those whose room shows it view it (and may report it): not one from before a
member joined, nor, for anyone but its author and the facilitators, one a moderator removed.
Its group's facilitators change it (remove it): in the room, or reported to them from a direct
conversation."""


MESSAGE_REPORT = Policy(
    "message_report",
    MessageReport,
    lambda user, _action: exists().where(
        Message.id == MessageReport.message_id, _message(user, Action.change)
    ),
)
"""A report: only the facilitators of the group whose message it names."""
