"""Who sees which conversation and which message, written once as SQL expressions.

`visible_to` is the condition on Conversation for the ones a reader belongs to (the rule of
`policies.CONVERSATION`); `since_joined` limits a participant's history of a group's room to what
was posted since they joined. `message_seen` puts them together for one message: what the reader's
room shows them, words and all. Lists, counts, the poll and its quick answer use the first two;
every view that takes a message id uses the third (`policies.MESSAGE`), so a message id can never
show more than the room does.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select, true, union
from sqlalchemy.orm import aliased
from sqlmodel import col

from iop_pwa.access import caseload_ids, facilitated_group_ids, member_group_ids
from iop_pwa.accounts.models import GroupMembership
from iop_pwa.messages.models import Conversation, ConversationKind, Message, MessageReport


def visible_ids(staff: bool, user_id):
    """The ids of the conversations `visible_to` selects, as a UNION of one indexed select per
    way of belonging: SQLite answers the OR of `visible_to` by reading every conversation of
    the program, which the navigation's count did on every page."""
    rooms = Conversation.kind == ConversationKind.group
    if staff:
        branches = [
            select(Conversation.id).where(
                col(Conversation.participant_id).in_(caseload_ids(user_id))
            ),
            select(Conversation.id).where(
                rooms, col(Conversation.group_id).in_(facilitated_group_ids(user_id))
            ),
        ]
    else:
        branches = [
            select(Conversation.id).where(Conversation.participant_id == user_id),
            select(Conversation.id).where(
                rooms, col(Conversation.group_id).in_(member_group_ids(user_id))
            ),
            select(Conversation.id).where(Conversation.peer_a_id == user_id),
            select(Conversation.id).where(Conversation.peer_b_id == user_id),
        ]
    return union(*branches)


def visible_to(staff: bool, user_id):
    """The conversations of a staff member or a participant whose id is `user_id` (a value, or
    a bound parameter in a statement built once: see `services._poll_statement`)."""
    rooms = Conversation.kind == ConversationKind.group
    if staff:
        return or_(
            col(Conversation.participant_id).in_(caseload_ids(user_id)),
            and_(rooms, col(Conversation.group_id).in_(facilitated_group_ids(user_id))),
        )
    return or_(
        Conversation.participant_id == user_id,
        and_(rooms, col(Conversation.group_id).in_(member_group_ids(user_id))),
        Conversation.peer_a_id == user_id,
        Conversation.peer_b_id == user_id,
    )


def joined_for(staff: bool, user_id):
    """For a participant: their own membership of each group room's group, to outer-join on
    Conversation (the alias and the ON clause), so a room shows and counts only what was posted
    since they joined (re-admitted: since they joined again). None for staff: facilitators see
    a room's whole history."""
    if staff:
        return None
    joined = aliased(GroupMembership)
    return joined, and_(
        joined.group_id == Conversation.group_id,
        joined.user_id == user_id,
        Conversation.kind == ConversationKind.group,
    )


def since_joined(joined):
    """The condition on Message for a participant's history (see `joined_for`)."""
    return or_(col(joined.joined_at).is_(None), col(Message.received_at) >= joined.joined_at)


def message_seen(staff: bool, user_id):
    """The condition on Message for the messages whose words the reader's room shows them: in a
    conversation of theirs (`visible_to`), within their history of it (`since_joined`), and not
    removed by a moderator, unless they wrote it (its author still reads it) or they are staff
    (a group's facilitators see what they removed)."""
    in_conversation = (
        select(Conversation.id)
        .where(Conversation.id == Message.conversation_id, visible_to(staff, user_id))
        .correlate(Message)
    )
    joined = joined_for(staff, user_id)
    if joined is not None:
        in_conversation = in_conversation.outerjoin(joined[0], joined[1]).where(
            since_joined(joined[0])
        )
    words = true() if staff else or_(col(Message.hidden_at).is_(None), Message.author_id == user_id)
    return and_(in_conversation.exists(), words)


def reported_to(staff_id):
    """The condition on Message for a message reported from a direct conversation of a group the
    staff member facilitates: their moderation queue shows it (and they may remove it), though
    they never read those conversations themselves."""
    return and_(
        exists().where(MessageReport.message_id == Message.id),
        exists().where(
            Conversation.id == Message.conversation_id,
            Conversation.kind == ConversationKind.direct,
            col(Conversation.group_id).in_(facilitated_group_ids(staff_id)),
        ),
    )
