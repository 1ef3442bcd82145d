"""Every table, imported in one place so Alembic and the tests see the whole schema."""

from sqlmodel import SQLModel

from iop_pwa.accounts.models import (  # noqa: F401
    CareTeamLink,
    Group,
    GroupMembership,
    Invitation,
    LoginSession,
    Passkey,
    RecoveryCode,
    SessionSecret,
    SignInFailure,
    SignInLink,
    TotpFactor,
    User,
    WebAuthnChallenge,
)
from iop_pwa.audit import AuditEvent  # noqa: F401
from iop_pwa.checkins.models import (  # noqa: F401
    CheckinAnswer,
    CheckinSchedule,
    Questionnaire,
)
from iop_pwa.journal.models import JournalEntry  # noqa: F401
from iop_pwa.mail import QueuedMail  # noqa: F401
from iop_pwa.messages.models import (  # noqa: F401
    Block,
    Conversation,
    GuidelineAgreement,
    Message,
    MessageReport,
    Mute,
    ReadCursor,
)
from iop_pwa.notifications import Notification  # noqa: F401
from iop_pwa.practice.models import (  # noqa: F401
    Assignment,
    AssignmentEvent,
    Completion,
    Exercise,
    Feedback,
)
from iop_pwa.push.models import (  # noqa: F401
    Delivery,
    PushSubscription,
    ReminderPreference,
    SendResult,
)
from iop_pwa.safety import CareFlag  # noqa: F401
from iop_pwa.safety.program import ProgramContact  # noqa: F401
from iop_pwa.safety.resources import CrisisResource  # noqa: F401
from iop_pwa.therapy.models import (  # noqa: F401
    Attendance,
    CalendarFeed,
    FamilyGuest,
    TherapySession,
)

metadata = SQLModel.metadata
