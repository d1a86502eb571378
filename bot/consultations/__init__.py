"""Consultations (议事协商): store, routing to committees, statuses and status pushes to residents."""

from bot.consultations.service import (
    AccessDenied,
    CategoryInfo,
    CommitteeInfo,
    CommunityInfo,
    ConsultationRecord,
    ConsultationService,
    DatabaseUnavailable,
    NotFoundError,
    TrailEntry,
    UserInfo,
)
from bot.consultations.statuses import LABELS, Status, TransitionError

__all__ = [
    "AccessDenied", "CategoryInfo", "CommitteeInfo", "CommunityInfo", "ConsultationRecord", "ConsultationService",
    "DatabaseUnavailable",     "LABELS", "NotFoundError", "Status", "TrailEntry", "TransitionError", "UserInfo",
]
