"""Consultations (议事协商): store, routing to committees, statuses and status pushes to residents.

:class:`ConsultationService` is the facade; records and errors are importable from here.
"""

from bot.consultations.errors import AccessDenied, DatabaseUnavailable, NotFoundError
from bot.consultations.records import (
    CategoryInfo,
    CommitteeInfo,
    CommunityInfo,
    ConsultationRecord,
    Dashboard,
    DeliveryCounts,
    HandoffRecord,
    HandoffTicket,
    OutboxRecord,
    OutsideView,
    PushRecord,
    ResidentStatus,
    ResidentTrailEntry,
    SyncCounts,
    TrailEntry,
    UserInfo,
)
from bot.consultations.service import ConsultationService
from bot.consultations.statuses import LABELS, Status, TransitionError

__all__ = [
    "LABELS",
    "AccessDenied",
    "CategoryInfo",
    "CommitteeInfo",
    "CommunityInfo",
    "ConsultationRecord",
    "ConsultationService",
    "Dashboard",
    "DatabaseUnavailable",
    "DeliveryCounts",
    "HandoffRecord",
    "HandoffTicket",
    "NotFoundError",
    "OutboxRecord",
    "OutsideView",
    "PushRecord",
    "ResidentStatus",
    "ResidentTrailEntry",
    "Status",
    "SyncCounts",
    "TrailEntry",
    "TransitionError",
    "UserInfo",
]
