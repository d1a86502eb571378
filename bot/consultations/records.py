"""What the consultation store returns: frozen dataclasses, never ORM rows, sessions, dicts or tuples.

Callers (actions, the inbox, Open311, the CLI) read attributes; ``dataclasses.asdict`` gives JSON-able
dicts where one is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


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
class SyncCounts:
    """What :meth:`Directory.sync` wrote: rows upserted from communities.yml, rows deactivated."""

    communities: int = 0
    committees: int = 0
    deactivated: int = 0


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
class PushRecord:
    """One status push to the resident, as the inbox shows it: sent, how, or why not yet."""

    created_at: datetime
    message: str
    delivered_at: datetime | None
    delivered_via: str | None  # WeChat: customer_service | template; None when the channel does not say
    failed: bool
    attempts: int
    to_owner: bool = True  # False: a co-signer's (附议 or joined by a merge) push
    channel: str = ""
    recipient: str = ""  # a co-signer's masked chat id ("···8f3a"); "" for the submitter


@dataclass(frozen=True)
class ConsultationRecord:
    """The full record for committee members (contains personal data: never shown outside as is)."""

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
    merged_into: str | None = None  # the tracking no this item was merged into (status merged)
    accept_by: date | None = None  # local due days (bot.closedloop.deadlines), None for items filed before 0008
    complete_by: date | None = None  # moved by approved extensions
    due_estimated: bool = False  # a year in the count has no holiday data: shown as 预估
    township: str = ""  # the 街道/乡镇 above the community (its supervisor oversees the item)
    outcome_text: str | None = None  # published outcome (masked), or None
    outcome_published_at: datetime | None = None
    due_line: str = ""  # what the resident reads: "预计12月3日前受理" ("" when closed or without due dates)


@dataclass(frozen=True)
class ResidentTrailEntry:
    at: str  # ISO
    at_text: str  # local time, as the chat shows it
    status: str
    status_label: str
    note: str  # masked; empty for the resident's own steps


@dataclass(frozen=True)
class ResidentStatus:
    """What a resident may see of their own consultation: no personal data, no member names."""

    tracking_no: str
    status: str
    status_label: str
    is_open: bool
    category: str | None
    category_name: str | None
    committee_name: str
    committee_type: str
    community_name: str
    created_at: str  # ISO
    updated_at: str  # ISO
    updated_at_text: str  # local
    trail: tuple[ResidentTrailEntry, ...] = ()
    due_line: str = ""  # "预计12月3日前受理" (plain words), "" when closed or no due dates


@dataclass(frozen=True)
class OutsideView:
    """A consultation for an integrator (Open311): no contact fields, no chat ids, masked text."""

    tracking_no: str
    status: str
    status_label: str
    closed: bool
    category: str | None
    category_name: str | None
    description: str  # masked
    last_note: str  # the latest non-empty trail note, masked; "" when there is none
    committee_name: str | None
    community_name: str | None
    created_at: datetime
    updated_at: datetime
    outcome: str = ""  # the published outcome (协商结果公开), masked; "" when not published


@dataclass(frozen=True)
class Dashboard:
    by_status: dict[str, int]
    by_category: dict[str, int]  # category id, "" for unclassified
    weekly: tuple[tuple[date, int], ...]  # (monday, n), oldest first
    overdue: tuple[ConsultationRecord, ...]  # open, no status change for ``overdue_days``
    last_status_change: dict[str, datetime] = field(default_factory=dict)  # tracking no → aware UTC


@dataclass(frozen=True)
class HandoffTicket:
    """A stored request for a person, and the reply time to promise the resident."""

    id: int
    reply_within: str  # e.g. "工作日 2 小时内"


@dataclass(frozen=True)
class HandoffRecord:
    id: int
    channel: str
    sender_id: str
    community_id: str
    committee_id: str
    text: str
    contact_phone: str | None
    consent: bool
    status: str  # open | closed
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    close_note: str
    pushed: bool = False  # set by close(): the reply was queued for the resident's chat


@dataclass(frozen=True)
class OutboxRecord:
    """A queued or delivered push (ops and tests)."""

    id: int
    sender_id: str
    channel: str
    intent: str
    payload: str  # JSON entities
    message: str
    attempts: int
    delivered_at: datetime | None
    failed: bool
    last_error: str | None
    handoff_id: int | None
    state: str
    state_label: str


@dataclass(frozen=True)
class DeliveryCounts:
    delivered: int = 0
    retry: int = 0
    failed: int = 0


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    committee_id: str | None
    committee_name: str | None
    role: str  # member | admin | supervisor | kb-editor
    active: bool
    township: str | None = None  # a supervisor's 街道/乡镇

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# --- the closed loop's resident side (bot.consultations.loop) ------------------------------------------------


@dataclass(frozen=True)
class OpenText:
    """An open item a new consultation may co-sign (the text stays inside the service: never shown to residents)."""

    tracking_no: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class CosignRecord:
    tracking_no: str
    status: str
    status_label: str
    committee_name: str
    cosigners: int  # co-signers now, this one included


@dataclass(frozen=True)
class MergeRecord:
    source: str
    target: str
    joined: int  # residents of the source who became co-signers of the target


@dataclass(frozen=True)
class UrgeRecord:
    tracking_no: str
    status: str
    status_label: str
    committee_name: str
    accepted: bool
    reason: str  # ok | already (today) | closed
    urges: int  # 催办 recorded on this item so far


@dataclass(frozen=True)
class FollowUpRecord:
    tracking_no: str
    rating: str
    accepted: bool
    reason: str  # ok | answered | not_resolved | withdrawn | merged
    reopened: bool
    merged_into: str | None


@dataclass(frozen=True)
class LoopItemCounts:
    cosigners: int
    urges: int
    reworks: int


@dataclass(frozen=True)
class DueInfo:
    """One due date as the inbox shows it."""

    due: date
    working_days_left: int
    overdue: bool
    working_days_overdue: int
    near: bool  # within ``closedloop_remind_days_left`` working days
    estimated: bool


@dataclass(frozen=True)
class ExtensionRecord:
    id: int
    tracking_no: str
    days: int
    reason: str
    requested_by: str
    requested_at: datetime
    state: str  # requested | approved | refused
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str


@dataclass(frozen=True)
class LimitsRecord:
    category: str
    category_name: str
    accept_days: int
    complete_days: int
    default_accept_days: int
    default_complete_days: int
    overridden: bool
    updated_by: str | None = None


@dataclass(frozen=True)
class PublicOutcome:
    """A published outcome on the public page: no personal data, no chat ids, no member names."""

    tracking_no: str
    category_name: str | None
    committee_name: str
    status_label: str
    outcome: str  # masked
    published_at: datetime


@dataclass(frozen=True)
class OverdueItem:
    """An open item past (or near) a limit, for the supervisor view and the digest."""

    tracking_no: str
    community_name: str
    committee_id: str
    committee_name: str
    township: str
    status_label: str
    stage: str  # accept | complete
    due: date
    working_days_overdue: int
    estimated: bool
