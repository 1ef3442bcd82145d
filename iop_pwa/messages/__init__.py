"""Messages: each participant's thread with their care team, and each group's room, with
guidelines, reports and moderation; written offline through the outbox, read live by polling."""

from __future__ import annotations


def register(app) -> None:
    """Hand the app the messages' pages, policies, navigation, Today section, data rights,
    notification kinds, offline pages, the daily group digest, and its parts of the dashboard."""
    from iop_pwa.features import (
        DataRights,
        Feature,
        NavItem,
        NotificationKind,
        QuickAction,
        QuickAnswer,
        ReminderSource,
        Section,
        TimelineSource,
        add,
    )
    from iop_pwa.messages import caseload, policies, reminders, sections, services, views
    from iop_pwa.messages.models import (
        Block,
        Conversation,
        GuidelineAgreement,
        Message,
        MessageReport,
        Mute,
        ReadCursor,
    )
    from iop_pwa.messages.text import linkify

    app.add_template_filter(linkify, "linkify")
    add(
        app,
        Feature(
            name="messages",
            blueprints=(views.bp,),
            policies=(
                policies.CONVERSATION,
                policies.GROUP_ROOM,
                policies.MESSAGE,
                policies.MESSAGE_REPORT,
            ),
            data_rights=(
                DataRights(
                    name="messages",
                    # Messages in a group hold other people's words too: only the person's own
                    # are exported; their care team's thread goes with them.
                    tables=(
                        Conversation,
                        Message,
                        ReadCursor,
                        GuidelineAgreement,
                        MessageReport,
                        Mute,
                    ),
                    deleted=(
                        "every message you wrote, in your groups and to your care team, your "
                        "care team's thread and your direct conversations with other members",
                    ),
                    export=services.export_records,
                    erase=services.erase_records,
                ),
                DataRights(
                    name="message_blocks",
                    tables=(Block,),
                    deleted=("the members you blocked",),
                    export=services.export_blocks,
                    # (erase_records above removes them with the direct conversations)
                ),
            ),
            today=(Section("messages", "messages/_today.html", sections.today, order=5),),
            nav=(
                NavItem(
                    "participant",
                    "messages",
                    "messages.index",
                    "Messages",
                    order=40,
                    unread=sections.unread_for_nav,
                ),
                NavItem(
                    "staff",
                    "messages",
                    "messages.index",
                    "Messages",
                    order=50,
                    unread=sections.unread_for_nav,
                ),
            ),
            offline_pages=("/messages", "/messages/"),
            notification_kinds=(
                NotificationKind("message", "messages.show", "conversation_id", "care_team"),
                NotificationKind("moderation", "messages.show", "conversation_id", "care_team"),
                NotificationKind("group_removed", "messages.index", None, "care_team"),
            ),
            # Group activity reaches no one at once: those who chose it get a daily digest.
            reminder_sources=(ReminderSource("group_digest", reminders.due),),
            timeline=(TimelineSource("messages", caseload.timeline),),
            quick_actions=(QuickAction("message", "Send a message", caseload.message_url, 30),),
            # Every open conversation asks this every few seconds: "nothing new" skips Flask.
            quick_answers=(
                QuickAnswer(
                    "message poll", services.POLL_PATH, services.poll_params, services.nothing_new
                ),
            ),
        ),
    )
