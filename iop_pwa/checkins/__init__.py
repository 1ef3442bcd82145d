"""Check-ins: PHQ-9, GAD-7 and the team's own short check-ins, on a schedule for a participant
or a group, answered on the phone (offline too), scored, charted, with a safety flag on PHQ-9
item 9; alumni get them at 1, 3 and 6 months after discharge."""

from __future__ import annotations


def register(app) -> None:
    """Hand the app the check-ins' pages, sections, data rights, reminders, offline pages and
    their parts of the therapist's dashboard."""
    from iop_pwa.checkins import (
        caseload,
        policies,
        reminders,
        sections,
        services,
        staff_views,
        views,
    )
    from iop_pwa.checkins.models import CheckinAnswer, CheckinSchedule, Questionnaire
    from iop_pwa.features import (
        CaseloadColumn,
        DataRights,
        Feature,
        NavItem,
        NeedSource,
        ReminderSource,
        Section,
        TimelineSource,
        add,
    )

    add(
        app,
        Feature(
            name="checkins",
            blueprints=(views.bp, staff_views.bp),
            policies=(policies.QUESTIONNAIRE, policies.SCHEDULE, policies.ANSWER),
            data_rights=(
                DataRights(
                    name="checkins",
                    # Schedules and a team's own check-ins hold staff's rows too (who set or wrote
                    # them); a participant's schedules and answers go with the account (cascades).
                    tables=(CheckinAnswer, CheckinSchedule, Questionnaire),
                    deleted=("every check-in you answered (PHQ-9, GAD-7 and the team's own)",),
                    export=services.export_records,
                ),
            ),
            today=(Section("checkins", "checkins/_today.html", sections.today, order=25),),
            account=(Section("checkins", "checkins/_account.html", sections.account, order=15),),
            participant_page=(
                Section(
                    "checkins", "checkins/_participant_page.html", sections.participant_page, 15
                ),
            ),
            offline_pages=("/checkins", "/checkins/"),
            nav=(NavItem("staff", "checkins", "checkins_staff.index", "Check-ins", order=35),),
            reminder_sources=(ReminderSource("checkins", reminders.due),),
            needs=(NeedSource("rising_phq9", caseload.rising_needs),),
            caseload_columns=(
                CaseloadColumn(
                    "last_checkin", "Last check-in", caseload.last_facts, audience="alumni"
                ),
            ),
            timeline=(TimelineSource("checkins", caseload.timeline),),
        ),
    )
