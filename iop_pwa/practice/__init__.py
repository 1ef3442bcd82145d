"""Practice: the exercise library, assignments on a schedule, doing them with a reflection
(offline too), and the therapist's feedback."""

from __future__ import annotations


def register(app) -> None:
    """Hand the app practice's pages, sections, data rights, offline pages and notifications."""
    from iop_pwa.features import (
        CaseloadColumn,
        DataRights,
        Feature,
        Lifecycle,
        NavItem,
        NotificationKind,
        QuickAction,
        ReminderSource,
        Section,
        TimelineSource,
        add,
    )
    from iop_pwa.practice import (
        caseload,
        policies,
        reminders,
        sections,
        services,
        staff_views,
        views,
    )
    from iop_pwa.practice.models import Assignment, AssignmentEvent, Completion, Exercise, Feedback

    add(
        app,
        Feature(
            name="practice",
            blueprints=(views.bp, staff_views.bp),
            policies=(policies.EXERCISE, policies.ASSIGNMENT, policies.COMPLETION),
            data_rights=(
                DataRights(
                    name="practice",
                    # Assignments, their history, feedback and exercises hold staff's rows too
                    # (the person who assigned, wrote or changed them); a participant's go with
                    # their account through the database's cascades.
                    tables=(Assignment, AssignmentEvent, Completion, Exercise, Feedback),
                    deleted=(
                        "every practice you marked done, with your reflections and the "
                        "feedback on them",
                    ),
                    export=services.export_records,
                ),
            ),
            today=(Section("practice", "practice/_today.html", sections.today, order=20),),
            participant_page=(
                Section(
                    "practice", "practice/_participant_page.html", sections.participant_page, 10
                ),
            ),
            offline_pages=("/practice", "/practice/"),
            nav=(
                NavItem("participant", "practice", "practice.index", "Practice", order=20),
                NavItem("staff", "library", "library.index", "Library", order=30),
            ),
            notification_kinds=(
                NotificationKind("assignment", "practice.assignment", "assignment_id", "practice"),
                NotificationKind("feedback", "practice.assignment", "assignment_id", "care_team"),
            ),
            reminder_sources=(ReminderSource("practice", reminders.due),),
            lifecycle=(
                Lifecycle(
                    "practice",
                    on_discharge=services.end_on_discharge,
                    preview=services.discharge_preview,
                ),
            ),
            caseload_columns=(
                CaseloadColumn("practice", "Practice, last 7 days", caseload.week_facts, order=20),
            ),
            timeline=(TimelineSource("practice", caseload.timeline),),
            quick_actions=(QuickAction("assign", "Assign practice", caseload.assign_url, 10),),
        ),
    )
