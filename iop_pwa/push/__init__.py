"""Push: reminders people can trust. Devices subscribe (Account → Reminders); notification rows
and features' due reminders become deliveries that the worker sends through the browsers' push
services, recording every result so the person and their therapist can see what arrives."""

from __future__ import annotations

from datetime import timedelta


def register(app) -> None:
    """Hand the app push's interface, sections, data rights and worker jobs."""
    from iop_pwa.features import DataRights, Feature, Job, Section, add
    from iop_pwa.push import by_email, delivery, policies, sections, services, settings, views
    from iop_pwa.push.models import Delivery, PushSubscription, ReminderPreference, SendResult

    settings.configure(app)
    add(
        app,
        Feature(
            name="push",
            blueprints=(views.bp,),
            policies=(policies.PUSH_SUBSCRIPTION,),
            data_rights=(
                DataRights(
                    name="reminders",
                    tables=(PushSubscription, ReminderPreference, Delivery, SendResult),
                    deleted=("your reminder devices, your reminder choices and what was sent",),
                    export=services.export_records,
                ),
            ),
            today=(Section("reminders", "push/_today.html", sections.today, order=90),),
            account=(Section("reminders", "push/_account.html", sections.account, order=5),),
            participant_page=(
                Section("reminders", "push/_participant_page.html", sections.participant_page, 5),
            ),
            jobs=(
                # Every round (the worker runs one every few seconds): an alert or a reminder
                # reaches the phone within a minute.
                Job("push_queue", timedelta(0), delivery.queue),
                Job("push_send", timedelta(0), delivery.send),
                Job("push_email", timedelta(0), by_email.send),
            ),
        ),
    )
