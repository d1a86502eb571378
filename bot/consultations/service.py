"""`ConsultationService`: the one facade actions, the inbox and the CLI call.

Every method opens its own short transaction and returns plain frozen dataclasses, so callers
never hold ORM objects or sessions. Errors a resident or member can see are
:class:`bot.errors.UserFacingError` subclasses with a polite Chinese ``message``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.consultations.routing import RouteResult
from bot.consultations.statuses import Status, TransitionError
from bot.errors import UserFacingError

MAX_TEXT_CHARS = 2000
HANDOFF_REPLY_HOURS = "工作日 2 小时内"


class NotFoundError(UserFacingError):
    def __init__(self, message: str = "没有找到这条诉求，请核对受理编号。"):
        super().__init__(message, code="not_found")


class AccessDenied(UserFacingError):
    def __init__(self, message: str = "您无权查看或处理这条诉求。"):
        super().__init__(message, code="forbidden")


@dataclass(frozen=True)
class CommitteeInfo:
    id: str
    name: str
    type: str  # Chinese kind: 居民委员会, 业主委员会 …
    community_id: str
    categories: tuple[str, ...]
    compound: str | None
    fallback: bool


@dataclass(frozen=True)
class CommunityInfo:
    id: str
    name: str
    kind: str  # 社区 | 村
    township: str
    committees: tuple[CommitteeInfo, ...]


@dataclass(frozen=True)
class CategoryInfo:
    id: str
    name: str
    description: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class TrailEntry:
    at: datetime  # timezone-aware UTC
    actor: str  # username, "resident" or "system"
    kind: str  # status | recategorize
    from_status: str | None
    to_status: str
    to_status_label: str
    note: str
    from_category: str | None = None
    to_category: str | None = None
    committee_id: str | None = None  # committee after this event


@dataclass(frozen=True)
class ConsultationRecord:
    id: int
    tracking_no: str
    channel: str
    sender_id: str
    community_id: str
    community_name: str
    category: str | None
    category_name: str | None
    text: str
    contact_name: str | None
    contact_phone: str | None
    consent: bool
    status: str
    status_label: str
    committee_id: str
    committee_name: str
    committee_type: str
    flagged_unroutable: bool
    created_at: datetime
    updated_at: datetime
    trail: tuple[TrailEntry, ...] = ()  # filled by get(); empty in lists
    created: bool = False  # True only on the submit() call that stored it (False for a retried delivery)


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    committee_id: str | None
    committee_name: str | None
    role: str  # member | admin
    active: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ConsultationService:
    def __init__(self, url: str, kb=None, *, prepare: bool = True, use_embedding: bool = True):
        """``url``: SQLAlchemy URL; ``kb``: a KnowledgeBase (default ``load_kb()``);
        ``prepare`` runs migrations and :meth:`sync_directory`."""
        raise NotImplementedError

    @classmethod
    def from_settings(cls, settings=None, *, prepare: bool = True) -> "ConsultationService":
        """The service on ``settings.sqlalchemy_url`` (SQLite in var/ unless LINLI_DATABASE_URL)."""
        raise NotImplementedError

    # directory -------------------------------------------------------------------------
    def sync_directory(self) -> dict[str, int]:
        """Upsert communities/committees from communities.yml (idempotent); returns counts."""
        raise NotImplementedError

    def communities(self) -> list[CommunityInfo]: ...
    def community(self, community_id: str) -> CommunityInfo: ...
    def committee(self, committee_id: str) -> CommitteeInfo: ...
    def categories(self) -> list[CategoryInfo]: ...

    # routing and submission ----------------------------------------------------------
    def route(self, text: str, community_id: str | None = None) -> RouteResult:
        """Category and committee for ``text`` in ``community_id`` (default community from settings)."""
        raise NotImplementedError

    def submit(self, channel: str, sender_id: str, message_id: str, community_id: str | None, text: str,
               category: str | None = None, contact_name: str | None = None, contact_phone: str | None = None,
               consent: bool = False) -> ConsultationRecord:
        """Store a consultation in one transaction; idempotent on (channel, sender_id, message_id)."""
        raise NotImplementedError

    def get(self, tracking_no: str) -> ConsultationRecord | None:
        """Full record with trail (for committee members; contains personal data)."""
        raise NotImplementedError

    def status_for_resident(self, tracking_no: str, sender_id: str) -> dict:
        """What the resident may see of their own consultation: {tracking_no, status, status_label,
        category, category_name, committee_name, committee_type, community_name, updated_at (ISO),
        updated_at_text, trail: [{at, status, status_label, note}]}; others' → NotFoundError."""
        raise NotImplementedError

    def my_consultations(self, channel: str, sender_id: str, limit: int = 5) -> list[ConsultationRecord]: ...

    def withdraw(self, tracking_no: str, sender_id: str, note: str = "") -> ConsultationRecord:
        raise NotImplementedError

    def change_status(self, tracking_no: str, to_status: str | Status, actor: str, note: str = "",
                      *, committee_id: str | None = None) -> ConsultationRecord:
        """Committee-side transition (raises TransitionError); ``committee_id`` restricts to that committee."""
        raise NotImplementedError

    def recategorize(self, tracking_no: str, category: str, actor: str, note: str = "",
                     *, committee_id: str | None = None) -> ConsultationRecord:
        """Change the category, re-route to the committee handling it, record it in the trail."""
        raise NotImplementedError

    def list_for_committee(self, committee_id: str | None, *, status: str | None = None, category: str | None = None,
                           since: date | datetime | None = None, until: date | datetime | None = None,
                           search: str | None = None, limit: int = 200, offset: int = 0) -> list[ConsultationRecord]:
        """Newest first; ``committee_id=None`` means all (admin)."""
        raise NotImplementedError

    def count_for_committee(self, committee_id: str | None, **filters) -> int: ...

    def dashboard(self, committee_id: str | None, *, overdue_days: int = 7, weeks: int = 8) -> dict:
        """{by_status: {status: n}, by_category: {category: n}, weekly: [(monday date, n)],
        overdue: [ConsultationRecord] (open, no change in overdue_days)}."""
        raise NotImplementedError

    def request_handoff(self, channel: str, sender_id: str, community_id: str | None, text: str) -> tuple[int, str]:
        """Ask for a person; returns (handoff id, expected reply text such as "工作日 2 小时内")."""
        raise NotImplementedError

    # committee users -----------------------------------------------------------------
    def create_user(self, username: str, password: str, committee_id: str | None = None, role: str = "member") -> UserInfo: ...
    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """argon2 check; None for unknown, inactive or wrong password (constant-ish time)."""
    def get_user(self, username: str) -> UserInfo | None: ...
    def list_users(self) -> list[UserInfo]: ...
    def set_password(self, username: str, password: str) -> None: ...
    def set_active(self, username: str, active: bool) -> None: ...

    # notifications -------------------------------------------------------------------
    def deliver_pending(self, *, limit: int = 100) -> dict[str, int]:
        """Push queued status notifications to Rasa; {delivered, failed, pending}."""
        raise NotImplementedError
