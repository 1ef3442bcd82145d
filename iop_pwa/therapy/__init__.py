"""Therapy sessions: scheduling with video links, joining, family guests, attendance and
calendars."""

from __future__ import annotations


def register(app) -> None:
    """Hand the app the sessions feature's pages, sections, data rights, offline pages and
    notifications."""
    from iop_pwa.features import (
        CaseloadColumn,
        DataRights,
        Feature,
        Lifecycle,
        NavItem,
        NeedSource,
        NotificationKind,
        QuickAction,
        ReminderSource,
        Section,
        TimelineSource,
        add,
    )
    from iop_pwa.therapy import caseload, policies, reminders, sections, services, views
    from iop_pwa.therapy.models import Attendance, CalendarFeed, TherapySession

    add(
        app,
        Feature(
            name="sessions",
            blueprints=(views.bp,),
            policies=(policies.THERAPY_SESSION, policies.FAMILY_GUEST),
            data_rights=(
                DataRights(
                    name="sessions",
                    # Sessions hold the therapist who scheduled them too; a participant's own
                    # sessions, attendance and calendar link go with their account (cascades).
                    tables=(TherapySession, Attendance, CalendarFeed),
                    deleted=("your sessions, your attendance and your calendar link",),
                    export=services.export_records,
                ),
            ),
            today=(Section("next-session", "therapy/_today.html", sections.today, order=10),),
            account=(Section("calendar", "therapy/_account.html", sections.account, order=10),),
            participant_page=(
                Section(
                    "attendance", "therapy/_participant_page.html", sections.participant_page, 30
                ),
            ),
            offline_pages=("/sessions", "/sessions/"),
            nav=(
                NavItem("participant", "sessions", "sessions.index", "Sessions", order=50),
                NavItem("staff", "sessions", "sessions.staff_index", "Sessions", order=40),
            ),
            notification_kinds=(
                NotificationKind("session_changed", "sessions.show", "session_id", "sessions"),
            ),
            reminder_sources=(ReminderSource("session", reminders.due),),
            lifecycle=(
                Lifecycle(
                    "sessions",
                    on_discharge=services.cancel_on_discharge,
                    preview=services.discharge_preview,
                ),
            ),
            needs=(NeedSource("missed_sessions", caseload.missed_needs),),
            caseload_columns=(
                CaseloadColumn("next_session", "Next session", caseload.next_facts, order=40),
            ),
            timeline=(TimelineSource("attendance", caseload.timeline),),
            quick_actions=(
                QuickAction("schedule", "Schedule a session", caseload.schedule_url, 20),
            ),
        ),
    )
