"""Who may reach a device's subscription: only its owner (a therapist sees whether reminders
are on, never anyone's devices)."""

from __future__ import annotations

from iop_pwa.access import Policy
from iop_pwa.push.models import PushSubscription

PUSH_SUBSCRIPTION = Policy(
    "push_subscription",
    PushSubscription,
    lambda user, _action: PushSubscription.user_id == user.id,
    subject=lambda sub: sub.user_id,
)
