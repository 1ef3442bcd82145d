"""Journal and mood check-ins: a participant's private writing, shared with the care team only
entry by entry, by their choice."""

from __future__ import annotations


def register(app) -> None:
    """Hand the app the journal's pages, sections, data rights and offline page."""
    from iop_pwa.features import (
        CaseloadColumn,
        DataRights,
        Feature,
        NavItem,
        NeedSource,
        Section,
        TimelineSource,
        add,
    )
    from iop_pwa.journal import caseload, policies, sections, services, views
    from iop_pwa.journal.models import JournalEntry

    add(
        app,
        Feature(
            name="journal",
            blueprints=(views.bp,),
            policies=(policies.JOURNAL_ENTRY,),
            data_rights=(
                DataRights(
                    name="journal",
                    tables=(JournalEntry,),
                    deleted=("every journal entry and mood check-in, shared or private",),
                    export=services.export_records,
                    erase=services.erase_records,
                ),
            ),
            today=(Section("checkin", "journal/_today.html", sections.today, order=30),),
            participant_page=(
                Section(
                    "shared", "journal/_participant_page.html", sections.participant_page, order=20
                ),
            ),
            offline_pages=("/journal",),
            nav=(NavItem("participant", "journal", "journal.index", "Journal", order=30),),
            needs=(NeedSource("falling_mood", caseload.needs),),
            caseload_columns=(
                CaseloadColumn("mood", "Mood, 14 days", caseload.mood_facts, order=30),
            ),
            timeline=(TimelineSource("journal", caseload.timeline),),
        ),
    )
