"""`ConsultationService`: the one facade actions, the inbox and the CLI call.

Every method opens its own short transaction and returns plain frozen dataclasses, so callers
never hold ORM objects or sessions. Errors a resident or member can see are
:class:`bot.errors.UserFacingError` subclasses with a polite Chinese ``message``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import selectinload

from bot.consultations import models as m
from bot.consultations import notify, tracking
from bot.consultations.db import engine_for, normalize_url, session_factory, upgrade
from bot.consultations.routing import Router, RouteResult
from bot.consultations.statuses import FINAL, RESIDENT_ACTOR, Status, TransitionError, check_transition, parse_status
from bot.errors import UserFacingError
from bot.consultations.passwords import password_problem
from bot.privacy import mask, mask_phone
from linli_common.text import MAX_MESSAGE_CHARS, has_control, strip_control

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = MAX_MESSAGE_CHARS
HANDOFF_REPLY_HOURS = "工作日 2 小时内"


class DatabaseUnavailable(UserFacingError):
    def __init__(self, message: str = "系统暂时无法保存或查询诉求，请稍后再试。您的内容没有提交，不会重复登记。"):
        super().__init__(message, code="db_unavailable")


def _db_guard(method):
    """Turn a lost or refused database connection into a polite, typed error.

    Each method runs in its own transaction, so a failure leaves nothing half-written; the
    engine's pool (pre-ping) reconnects by itself once the database is back.
    """

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except DBAPIError as e:
            if not store_unreachable(e):
                raise
            log.warning("database unavailable in %s: %s", method.__name__, type(e.orig).__name__ if e.orig else e)
            raise DatabaseUnavailable() from e

    return wrapper


def store_unreachable(e: DBAPIError) -> bool:
    """The database could not be reached (connection refused, lost or read-only), as opposed to a bad query."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    if isinstance(e, IntegrityError):
        return False
    if e.connection_invalidated or isinstance(e, InterfaceError):
        return True
    if isinstance(e, OperationalError):
        text = str(e.orig or e).lower()
        # PostgreSQL connection failures, SQLite read-only / unopenable files; not lock timeouts or syntax
        return any(k in text for k in ("connect", "connection", "server closed", "terminat", "readonly", "read-only", "unable to open", "disk i/o"))
    return False


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
class PushRecord:
    """One status push to the resident, as the inbox shows it: sent, how, or why not yet."""

    created_at: datetime
    message: str
    delivered_at: datetime | None
    delivered_via: str | None  # WeChat: customer_service | template; None when the channel does not say
    failed: bool
    attempts: int


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


_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,64}$")
ROLES = ("member", "admin")
SYSTEM_ACTOR = "system"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def clean_text(value: object, *, field: str = "内容", max_chars: int = MAX_TEXT_CHARS, required: bool = True) -> str:
    """Strip control/invisible characters; polite errors for empty, wrong type or too long."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise UserFacingError(f"{field}需要是文字。", code="invalid_type")
    v = unicodedata.normalize("NFC", value)
    v = strip_control(v)
    v = re.sub(r"\n{3,}", "\n\n", v).strip()
    if required and not v:
        raise UserFacingError(f"{field}是空的，请写下您想反映的事情。", code="empty")
    if len(v) > max_chars:
        raise UserFacingError(f"{field}太长了（最多 {max_chars} 字，现在 {len(v)} 字），请精简后再提交。", code="too_long")
    return v


def clean_phone(value: object) -> str:
    if not isinstance(value, str | int):
        raise UserFacingError("联系电话需要是数字。", code="invalid_phone")
    v = unicodedata.normalize("NFKC", str(value)).strip()
    v = re.sub(r"[\s\-()（）]", "", v)
    v = re.sub(r"^(\+?86)(?=1\d{10}$)", "", v)
    if not (_MOBILE.match(v) or _LANDLINE.match(v)):
        raise UserFacingError("联系电话格式不对，请填写 11 位手机号或带区号的座机号。", code="invalid_phone")
    return v


def _ident(value: object, field: str, max_len: int = 200) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip() or has_control(value):
        raise UserFacingError(f"这条消息缺少{field}，请重新发送一次。", code="invalid_input")
    value = value.strip()
    if len(value) > max_len:
        raise UserFacingError(f"{field}太长了，请重新发送一次。", code="invalid_input")
    return value


def client_key(channel: str, sender_id: str, message_id: str) -> str:
    raw = f"{channel}\x1f{sender_id}\x1f{message_id}"
    return raw if len(raw) <= 200 else "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def _aware(at: datetime) -> datetime:
    """A timestamp from a raw SQL expression (no TypeDecorator on SQLite) as aware UTC."""
    from datetime import UTC

    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def routing_note(route: RouteResult) -> str:
    """The first trail line, in the words a committee member reads: where it went and why."""
    to = route.committee.name
    if route.category is None:
        return f"未能识别类别，已转至{to}，请核对分类"
    how = "按提交时选定的类别" if route.method == "given" else "自动"
    return f"{how}分派至{to}（类别：{route.category_name}）"


def _committee_info(c: m.Committee) -> CommitteeInfo:
    return CommitteeInfo(c.id, c.name, c.type, c.community_id, tuple(c.category_ids), c.compound, c.fallback)


class ConsultationService:
    def __init__(self, url: str, kb=None, *, prepare: bool = True, use_embedding: bool = True, settings=None):
        """``url``: SQLAlchemy URL; ``kb``: a KnowledgeBase (default ``load_kb()``);
        ``prepare`` runs migrations and :meth:`sync_directory`."""
        from bot.settings import get_settings

        self.settings = settings or get_settings()
        if kb is None:
            from bot.kb import load_kb

            kb = load_kb()
        self.kb = kb
        self.url = normalize_url(url)
        self.engine = engine_for(self.url)
        self.Session = session_factory(self.engine)
        self.router = Router(kb.directory, kb.kb_dir, use_embedding=use_embedding)
        self.tz = ZoneInfo(self.settings.timezone)
        self._categories = {c.id: c for c in kb.directory.categories}
        self._delivery: notify.DeliveryThread | None = None
        self._delivery_lock = threading.Lock()
        channels = getattr(self.settings, "notify_chat_channels", None)
        self.chat_channels = (frozenset(c.strip().lower() for c in channels.split(",") if c.strip())
                              if isinstance(channels, str) else notify.CHAT_CHANNELS)
        if prepare:
            upgrade(self.url, engine=self.engine)
            self.sync_directory()

    @classmethod
    def from_settings(cls, settings=None, *, prepare: bool = True, kb=None) -> "ConsultationService":
        """The service on ``settings.sqlalchemy_url`` (SQLite in var/ unless LINLI_DATABASE_URL)."""
        from bot.settings import get_settings

        settings = settings or get_settings()
        return cls(settings.sqlalchemy_url, kb, prepare=prepare, settings=settings)

    # directory -------------------------------------------------------------------------
    def sync_directory(self) -> dict[str, int]:
        """Upsert communities/committees from communities.yml (idempotent); entries gone from the
        file are deactivated, not deleted, because consultations still point at them."""
        counts = {"communities": 0, "committees": 0, "deactivated": 0}
        with self.Session.begin() as s:
            seen_comm, seen_cmt = set(), set()
            existing_comm = {c.id: c for c in s.scalars(select(m.Community))}
            existing_cmt = {c.id: c for c in s.scalars(select(m.Committee))}
            for c in self.kb.directory.communities:
                row = existing_comm.get(c.id) or m.Community(id=c.id)
                row.name, row.kind, row.township, row.active = c.name, c.kind, c.township, True
                s.add(row)
                seen_comm.add(c.id)
                counts["communities"] += 1
            s.flush()
            for c in self.kb.directory.communities:
                for pos, k in enumerate(c.committees):
                    row = existing_cmt.get(k.id) or m.Committee(id=k.id)
                    row.community_id, row.name, row.type = c.id, k.name, k.type
                    row.categories = ",".join(k.categories)
                    row.compound, row.fallback, row.position, row.active = k.compound, k.fallback, pos, True
                    s.add(row)
                    seen_cmt.add(k.id)
                    counts["committees"] += 1
            for cid, row in existing_comm.items():
                if cid not in seen_comm and row.active:
                    row.active = False
                    counts["deactivated"] += 1
            for cid, row in existing_cmt.items():
                if cid not in seen_cmt and row.active:
                    row.active = False
                    counts["deactivated"] += 1
        return counts

    def communities(self) -> list[CommunityInfo]:
        out = []
        for c in self.kb.directory.communities:
            cmts = tuple(CommitteeInfo(k.id, k.name, k.type, c.id, tuple(k.categories), k.compound, k.fallback) for k in c.committees)
            out.append(CommunityInfo(c.id, c.name, c.kind, c.township, cmts))
        return out

    def community(self, community_id: str | None) -> CommunityInfo:
        cid = self._community_id(community_id)
        return next(c for c in self.communities() if c.id == cid)

    def committee(self, committee_id: str) -> CommitteeInfo:
        with self.Session() as s:
            row = s.get(m.Committee, committee_id)
            if row is None:
                raise NotFoundError("没有找到这个委员会。")
            return _committee_info(row)

    def committees(self) -> list[CommitteeInfo]:
        return [k for c in self.communities() for k in c.committees]

    def categories(self) -> list[CategoryInfo]:
        return [CategoryInfo(c.id, c.name, c.description, tuple(c.keywords)) for c in self.kb.directory.categories]

    def category_name(self, category: str | None) -> str | None:
        return self._categories[category].name if category in self._categories else None

    def _community_id(self, community_id: object) -> str:
        if community_id is None or (isinstance(community_id, str) and not community_id.strip()):
            community_id = self.settings.default_community
        known = {c.id: c for c in self.kb.directory.communities}
        if isinstance(community_id, str):
            key = community_id.strip()
            if key in known:
                return key
            for c in known.values():  # residents may type the Chinese name
                if key in (c.name, c.name.removesuffix("社区"), c.name.removesuffix("村")) and len(key) >= 2:
                    return c.id
        names = "、".join(c.name for c in known.values())
        raise UserFacingError(f"没有找到这个社区或村，可以选择：{names}。", code="unknown_community")

    def _category_id(self, category: object) -> str:
        if isinstance(category, str):
            key = category.strip()
            if key in self._categories:
                return key
            for c in self._categories.values():
                if key == c.name:
                    return c.id
        names = "、".join(c.name for c in self._categories.values())
        raise UserFacingError(f"没有这个议事类别，可以选择：{names}。", code="unknown_category")

    # routing and submission ----------------------------------------------------------
    def route(self, text: str, community_id: str | None = None) -> RouteResult:
        """Category and committee for ``text`` in ``community_id`` (default community from settings)."""
        return self.router.route(clean_text(text), self._community_id(community_id))

    def _record(self, c: m.Consultation, *, trail: bool = False, created: bool = False) -> ConsultationRecord:
        events: tuple[TrailEntry, ...] = ()
        if trail:
            events = tuple(
                TrailEntry(e.at, e.actor, e.kind, e.from_status, e.to_status, parse_status(e.to_status).label, e.note,
                           e.from_category, e.to_category, e.to_committee_id)
                for e in c.events
            )
        st = parse_status(c.status)
        return ConsultationRecord(
            c.id, c.tracking_no, c.channel, c.sender_id, c.community_id, c.community.name, c.category,
            self.category_name(c.category), c.text, c.contact_name, c.contact_phone, c.consent, st.value, st.label,
            c.committee_id, c.committee.name, c.committee.type, c.flagged_unroutable, c.created_at, c.updated_at,
            events, created,
        )

    def _by_key(self, s, key: str) -> m.Consultation | None:
        return s.scalar(select(m.Consultation).where(m.Consultation.client_key == key))

    @_db_guard
    def submit(self, channel: str, sender_id: str, message_id: str | None, community_id: str | None, text: str,
               category: str | None = None, contact_name: str | None = None, contact_phone: str | None = None,
               consent: bool = False) -> ConsultationRecord:
        """Store a consultation in one transaction; idempotent on (channel, sender_id, message_id):
        a retried delivery returns the stored record (``created=False``), also under a race."""
        channel = _ident(channel, "渠道", 64)
        sender_id = _ident(sender_id, "用户标识")
        message_id = _ident(message_id, "消息编号") if message_id is not None else uuid.uuid4().hex
        key = client_key(channel, sender_id, message_id)
        with self.Session() as s:
            found = self._by_key(s, key)
            if found is not None:
                return self._record(found)
        text = clean_text(text)
        cid = self._community_id(community_id)
        cat = self._category_id(category) if category is not None else None
        name = phone = None
        consent = consent is True
        if consent:
            name = clean_text(contact_name, field="联系人姓名", max_chars=50, required=False) or None
            phone = clean_phone(contact_phone) if contact_phone not in (None, "") else None
        route = self.router.route(text, cid, cat)
        for attempt in range(5):
            s = self.Session()
            try:
                now = m.utcnow()
                day = tracking.local_day(now, self.settings.timezone)
                seq = tracking.next_sequence(s, day)  # takes the day's lock first (write-first for SQLite)
                found = self._by_key(s, key)  # a concurrent twin may have committed while we waited
                if found is not None:
                    rec = self._record(found)
                    s.rollback()  # gives the number back
                    return rec
                c = m.Consultation(
                    tracking_no=tracking.format_tracking_no(day, seq), client_key=key, channel=channel,
                    sender_id=sender_id, community_id=cid, category=route.category, text=text,
                    contact_name=name, contact_phone=phone, consent=consent, status=Status.SUBMITTED.value,
                    committee_id=route.committee.id, flagged_unroutable=route.flagged_unroutable,
                    created_at=now, updated_at=now,
                )
                s.add(c)
                s.flush()
                s.add(m.StatusEvent(consultation_id=c.id, kind="status", actor=RESIDENT_ACTOR, at=now, from_status=None,
                                    to_status=Status.SUBMITTED.value, to_category=route.category,
                                    to_committee_id=route.committee.id, note=routing_note(route)))
                s.flush()
                rec = self._record(c, created=True)
                s.commit()
                log.info("consultation %s → %s (%s)", rec.tracking_no, rec.committee_id, route.method)
                return rec
            except IntegrityError:
                s.rollback()
                found = self._by_key(s, key)
                if found is not None:
                    return self._record(found)
                log.warning("tracking number collision, retrying (attempt %d)", attempt + 1)
            finally:
                s.close()
        raise UserFacingError("系统繁忙，提交没有成功，请稍后再试。", code="busy")

    @_db_guard
    def get(self, tracking_no: str) -> ConsultationRecord | None:
        """Full record with trail (for committee members; contains personal data)."""
        tn = tracking.normalize_tracking_no(tracking_no)
        if tn is None:
            return None
        with self.Session() as s:
            c = s.scalar(select(m.Consultation).where(m.Consultation.tracking_no == tn).options(selectinload(m.Consultation.events)))
            return self._record(c, trail=True) if c else None

    @_db_guard
    def pushes(self, tracking_no: str) -> list[PushRecord]:
        """The status pushes of one consultation, oldest first (inbox detail page)."""
        with self.Session() as s:
            rows = s.scalars(
                select(m.OutboxMessage).join(m.Consultation, m.OutboxMessage.consultation_id == m.Consultation.id)
                .where(m.Consultation.tracking_no == tracking_no).order_by(m.OutboxMessage.id)
            )
            return [PushRecord(r.created_at, r.message, r.delivered_at, r.delivered_via, r.failed, r.attempts) for r in rows]

    def local_time_text(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%Y年%m月%d日 %H:%M")

    @_db_guard
    def status_for_resident(self, tracking_no: str, channel: str, sender_id: str) -> dict:
        """What the resident may see of their own consultation (no personal data, no member names).

        A resident is the pair (channel, sender_id): a Telegram chat id sent from another channel finds
        nothing, and items of a channel without a chat (``open311``) are never shown in a chat.

        Keys: tracking_no, status, status_label, is_open, category, category_name, committee_name,
        committee_type, community_name, created_at / updated_at (ISO), updated_at_text (local),
        trail: [{at, at_text, status, status_label, note}]. Not theirs or unknown → NotFoundError.
        """
        tn = tracking.normalize_tracking_no(tracking_no)
        if tn is None:
            raise UserFacingError("受理编号的格式是 YS-日期-序号，例如 YS-20261129-0042，请核对后再查。", code="invalid_tracking_no")
        rec = self.get(tn)
        if rec is None or not self._owned_by(rec.channel, rec.sender_id, channel, sender_id):
            raise NotFoundError("没有查到这个编号下您提交的诉求，请核对受理编号。")
        trail = [
            {"at": e.at.isoformat(), "at_text": self.local_time_text(e.at), "status": e.to_status,
             "status_label": e.to_status_label, "note": mask(e.note, [n for n in (rec.contact_name,) if n]) if e.kind == "status" and e.actor != RESIDENT_ACTOR else ""}
            for e in rec.trail if e.kind == "status"
        ]
        return {
            "tracking_no": rec.tracking_no, "status": rec.status, "status_label": rec.status_label,
            "is_open": parse_status(rec.status).is_open, "category": rec.category, "category_name": rec.category_name,
            "committee_name": rec.committee_name, "committee_type": rec.committee_type,
            "community_name": rec.community_name, "created_at": rec.created_at.isoformat(),
            "updated_at": rec.updated_at.isoformat(), "updated_at_text": self.local_time_text(rec.updated_at),
            "trail": trail,
        }

    def _owned_by(self, owner_channel: str, owner_sender: str, channel: object, sender_id: object) -> bool:
        """True when the chat resident (channel, sender_id) submitted the item of (owner_channel, owner_sender)."""
        return (isinstance(channel, str) and isinstance(sender_id, str)
                and notify.is_chat_channel(channel, self.chat_channels)
                and owner_channel == channel.strip() and owner_sender == sender_id.strip())

    @_db_guard
    def my_consultations(self, channel: str, sender_id: str, limit: int = 5) -> list[ConsultationRecord]:
        """The sender's latest consultations (for "查我的诉求" without a number)."""
        with self.Session() as s:
            q = (select(m.Consultation).where(m.Consultation.channel == channel, m.Consultation.sender_id == sender_id)
                 .order_by(m.Consultation.id.desc()).limit(max(1, min(int(limit), 50))))
            return [self._record(c) for c in s.scalars(q)]

    def _load_for_update(self, s, tracking_no: str) -> m.Consultation:
        tn = tracking.normalize_tracking_no(tracking_no)
        c = None
        if tn is not None:
            q = select(m.Consultation).where(m.Consultation.tracking_no == tn)
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update()
            c = s.scalar(q)
        if c is None:
            raise NotFoundError()
        return c

    def _change(self, tracking_no: str, to_status: str | Status, actor: str, note: str, *, by_resident: bool,
                resident: tuple[str, str] | None = None, committee_id: str | None = None) -> ConsultationRecord:
        note = clean_text(note, field="说明", max_chars=MAX_TEXT_CHARS, required=False)
        actor = _ident(actor, "操作人", 100)
        with self.Session() as s:
            c = self._load_for_update(s, tracking_no)
            if resident is not None and not self._owned_by(c.channel, c.sender_id, *resident):
                raise NotFoundError("没有查到这个编号下您提交的诉求，请核对受理编号。")
            if committee_id is not None and c.committee_id != committee_id:
                raise AccessDenied()
            target = check_transition(c.status, to_status, by_resident=by_resident, note=note)
            now = m.utcnow()
            s.add(m.StatusEvent(consultation_id=c.id, kind="status", actor=actor, at=now, from_status=c.status,
                                to_status=target.value, to_committee_id=c.committee_id, note=note))
            c.status = target.value
            c.updated_at = now
            s.flush()
            if not by_resident:  # the resident's own withdrawal is confirmed in the chat directly
                notify.enqueue(s, c, note, chat_channels=self.chat_channels)
            s.commit()
            s.refresh(c)
            rec = self._record(c, trail=True)
        self._wake_delivery()
        return rec

    @_db_guard
    def withdraw(self, tracking_no: str, channel: str, sender_id: str, note: str = "") -> ConsultationRecord:
        """The chat resident (channel, sender_id) withdraws their own consultation (submitted/accepted/
        deliberating only); an Open311 item is never withdrawn from a chat."""
        sender_id = _ident(sender_id, "用户标识")
        channel = _ident(channel, "渠道", 50)
        return self._change(tracking_no, Status.WITHDRAWN, RESIDENT_ACTOR, note, by_resident=True,
                            resident=(channel, sender_id))

    @_db_guard
    def change_status(self, tracking_no: str, to_status: str | Status, actor: str, note: str = "",
                      *, committee_id: str | None = None) -> ConsultationRecord:
        """Committee-side transition (raises TransitionError); ``committee_id`` restricts to that
        committee (AccessDenied otherwise). Queues a push to the resident."""
        return self._change(tracking_no, to_status, actor, note, by_resident=False, committee_id=committee_id)

    @_db_guard
    def recategorize(self, tracking_no: str, category: str, actor: str, note: str = "",
                     *, committee_id: str | None = None) -> ConsultationRecord:
        """Change the category, re-route to the committee handling it, record it in the trail."""
        cat = self._category_id(category)
        note = clean_text(note, field="说明", required=False)
        actor = _ident(actor, "操作人", 100)
        with self.Session() as s:
            c = self._load_for_update(s, tracking_no)
            if committee_id is not None and c.committee_id != committee_id:
                raise AccessDenied()
            if parse_status(c.status) in FINAL:
                raise TransitionError(f"该事项已是“{parse_status(c.status).label}”状态，不能再改类别。", code="final_status")
            if cat == c.category:
                raise UserFacingError("类别没有变化。", code="same_category")
            target, _flag = self.router.committee_for(self.router.community(c.community_id), cat, c.text)
            now = m.utcnow()
            s.add(m.StatusEvent(consultation_id=c.id, kind="recategorize", actor=actor, at=now, from_status=c.status,
                                to_status=c.status, from_category=c.category, to_category=cat,
                                from_committee_id=c.committee_id, to_committee_id=target.id, note=note))
            c.category, c.committee_id, c.flagged_unroutable, c.updated_at = cat, target.id, False, now
            s.commit()
            s.refresh(c)
            return self._record(c, trail=True)

    def _day_start(self, d: date | datetime, *, end: bool = False) -> datetime:
        if isinstance(d, datetime):
            return d if d.tzinfo else d.replace(tzinfo=self.tz)
        start = datetime.combine(d, time.min, tzinfo=self.tz)
        return start + timedelta(days=1) if end else start

    def _filtered(self, committee_id, status=None, category=None, since=None, until=None, search=None):
        q = select(m.Consultation)
        if committee_id is not None:
            q = q.where(m.Consultation.committee_id == committee_id)
        if status:
            q = q.where(m.Consultation.status == parse_status(status).value)
        if category:
            q = q.where(m.Consultation.category == category)
        if since is not None:
            q = q.where(m.Consultation.created_at >= self._day_start(since))
        if until is not None:
            q = q.where(m.Consultation.created_at < self._day_start(until, end=True))
        if search and search.strip():
            term = search.strip()[:100]
            q = q.where(or_(m.Consultation.text.contains(term, autoescape=True),
                            m.Consultation.tracking_no.contains(term.upper(), autoescape=True)))
        return q

    @_db_guard
    def list_for_committee(self, committee_id: str | None, *, status: str | None = None, category: str | None = None,
                           since: date | datetime | None = None, until: date | datetime | None = None,
                           search: str | None = None, limit: int = 200, offset: int = 0) -> list[ConsultationRecord]:
        """Newest first; ``committee_id=None`` means all (admin). ``until`` is inclusive for dates."""
        q = self._filtered(committee_id, status, category, since, until, search)
        q = q.order_by(m.Consultation.created_at.desc(), m.Consultation.id.desc()).limit(max(0, int(limit))).offset(max(0, int(offset)))
        with self.Session() as s:
            return [self._record(c) for c in s.scalars(q.options(selectinload(m.Consultation.committee), selectinload(m.Consultation.community)))]

    @_db_guard
    def count_for_committee(self, committee_id: str | None, **filters) -> int:
        q = select(func.count()).select_from(self._filtered(committee_id, **filters).subquery())
        with self.Session() as s:
            return int(s.scalar(q) or 0)

    @_db_guard
    def dashboard(self, committee_id: str | None, *, overdue_days: int = 7, weeks: int = 8) -> dict:
        """{by_status: {status: n}, by_category: {category id or "": n}, weekly: [(monday, n)] oldest
        first, overdue: [ConsultationRecord] open with no change in ``overdue_days``}."""
        base = select(m.Consultation)
        if committee_id is not None:
            base = base.where(m.Consultation.committee_id == committee_id)
        sub = base.subquery()
        now = m.utcnow()
        today = now.astimezone(self.tz).date()
        first_monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
        with self.Session() as s:
            by_status = {st: n for st, n in s.execute(select(sub.c.status, func.count()).group_by(sub.c.status))}
            by_category = {cat or "": n for cat, n in s.execute(select(sub.c.category, func.count()).group_by(sub.c.category))}
            created = s.scalars(select(m.Consultation.created_at).select_from(m.Consultation).where(
                m.Consultation.id.in_(select(sub.c.id)), m.Consultation.created_at >= self._day_start(first_monday)))
            weekly = {first_monday + timedelta(weeks=i): 0 for i in range(weeks)}
            for at in created:
                d = at.astimezone(self.tz).date()
                weekly[d - timedelta(days=d.weekday())] = weekly.get(d - timedelta(days=d.weekday()), 0) + 1
            # Overdue counts from the last status transition: a re-route or a category fix is not progress.
            open_states = [st.value for st in Status if st.is_open]
            last = (select(m.StatusEvent.consultation_id.label("cid"), func.max(m.StatusEvent.at).label("at"))
                    .where(m.StatusEvent.kind == "status").group_by(m.StatusEvent.consultation_id).subquery())
            last_change = func.coalesce(last.c.at, m.Consultation.created_at)
            rows = s.execute(base.add_columns(last_change).outerjoin(last, last.c.cid == m.Consultation.id)
                             .where(m.Consultation.status.in_(open_states), last_change < now - timedelta(days=overdue_days))
                             .order_by(last_change, m.Consultation.id)).all()
            overdue_records = [self._record(c) for c, _ in rows]
            since = {c.tracking_no: _aware(at) for c, at in rows}
        return {"by_status": by_status, "by_category": by_category, "weekly": sorted(weekly.items()),
                "overdue": overdue_records, "last_status_change": since}

    @_db_guard
    def request_handoff(self, channel: str, sender_id: str, community_id: str | None, text: str, *,
                        contact_phone: str | None = None, consent: bool = False) -> tuple[int, str]:
        """Ask for a person; the fallback committee of the community gets it. Returns
        (handoff id, expected reply time such as "工作日 2 小时内").

        ``text`` is the resident's summary; ``contact_phone`` is stored only with ``consent=True``
        (a phone without consent is dropped, as for consultations)."""
        channel = _ident(channel, "渠道", 64)
        sender_id = _ident(sender_id, "用户标识")
        cid = self._community_id(community_id)
        text = clean_text(text, required=False)
        consent = consent is True
        phone = clean_phone(contact_phone) if consent and contact_phone not in (None, "") else None
        committee = Router.fallback(self.router.community(cid))
        with self.Session.begin() as s:
            h = m.HandoffRequest(channel=channel, sender_id=sender_id, community_id=cid, committee_id=committee.id, text=text,
                                 contact_phone=phone, consent=consent and phone is not None)
            s.add(h)
            s.flush()
            hid = h.id
        log.info("handoff %s for %s (%d chars)", hid, committee.id, len(text))
        return hid, HANDOFF_REPLY_HOURS

    @staticmethod
    def _handoff_dict(h: m.HandoffRequest) -> dict:
        return {"id": h.id, "channel": h.channel, "sender_id": h.sender_id, "community_id": h.community_id,
                "committee_id": h.committee_id, "text": h.text, "contact_phone": h.contact_phone, "consent": bool(h.consent),
                "status": h.status, "created_at": h.created_at,
                "closed_at": h.closed_at, "closed_by": h.closed_by, "close_note": h.close_note or ""}

    @_db_guard
    def list_handoffs(self, committee_id: str | None = None, status: str | None = "open", limit: int = 100) -> list[dict]:
        """Newest first; ``committee_id=None`` means all (admin)."""
        q = select(m.HandoffRequest).order_by(m.HandoffRequest.id.desc()).limit(max(0, int(limit)))
        if committee_id is not None:
            q = q.where(m.HandoffRequest.committee_id == committee_id)
        if status:
            q = q.where(m.HandoffRequest.status == status)
        with self.Session() as s:
            return [self._handoff_dict(h) for h in s.scalars(q)]

    @_db_guard
    def get_handoff(self, handoff_id: int) -> dict | None:
        with self.Session() as s:
            h = s.get(m.HandoffRequest, handoff_id)
            return self._handoff_dict(h) if h else None

    @_db_guard
    def close_handoff(self, handoff_id: int, note: str = "", actor: str = SYSTEM_ACTOR, *,
                      committee_id: str | None = None) -> dict:
        """Close a handoff; a non-empty ``note`` is pushed to the resident (chat channels only,
        intent ``EXTERNAL_handoff_reply``) through the outbox, in the same transaction."""
        note = clean_text(note, field="回复", max_chars=MAX_TEXT_CHARS, required=False)
        actor = _ident(actor, "操作人", 100)
        with self.Session() as s:
            q = select(m.HandoffRequest).where(m.HandoffRequest.id == handoff_id)
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update()
            h = s.scalar(q)
            if h is None:
                raise NotFoundError("没有找到这条转人工请求。")
            if committee_id is not None and h.committee_id != committee_id:
                raise AccessDenied("您无权处理这条转人工请求。")
            if h.status == "closed":
                raise UserFacingError("这条转人工请求已经处理过了。", code="already_closed")
            h.status, h.closed_at, h.closed_by, h.close_note = "closed", m.utcnow(), actor, note
            s.flush()
            queued = notify.enqueue_handoff_reply(s, h, note, chat_channels=self.chat_channels) if note else None
            s.commit()
            s.refresh(h)
            out = self._handoff_dict(h) | {"pushed": queued is not None}
        if queued is not None:
            self._wake_delivery()
        return out

    # committee users -----------------------------------------------------------------
    @staticmethod
    def _user_info(u: m.CommitteeUser) -> UserInfo:
        return UserInfo(u.id, u.username, u.committee_id, u.committee.name if u.committee else None, u.role, u.active)

    @staticmethod
    def _check_password(password: object, username: str = "") -> str:
        problem = password_problem(password, username)
        if problem:
            raise UserFacingError(problem, code="weak_password")
        return password

    def create_user(self, username: str, password: str, committee_id: str | None = None, role: str = "member") -> UserInfo:
        """A member belongs to one committee; an admin may have none and sees all."""
        if not isinstance(username, str) or not _USERNAME.match(username.strip()):
            raise UserFacingError("用户名为 2–64 位字母、数字、汉字或 _ . -。", code="invalid_username")
        if role not in ROLES:
            raise UserFacingError("角色只能是 member 或 admin。", code="invalid_role")
        if role == "member" and not committee_id:
            raise UserFacingError("委员会成员必须属于一个委员会。", code="committee_required")
        password = self._check_password(password, username.strip())
        with self.Session() as s:
            if committee_id is not None and s.get(m.Committee, committee_id) is None:
                raise NotFoundError("没有找到这个委员会。")
            u = m.CommitteeUser(username=username.strip(), password_hash=_hasher.hash(password), committee_id=committee_id, role=role, active=True)
            s.add(u)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise UserFacingError("这个用户名已经存在。", code="duplicate_username") from None
            s.refresh(u)
            return self._user_info(u)

    @_db_guard
    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """argon2 check; None for unknown, inactive or wrong password (same work in every case)."""
        if not isinstance(username, str) or not isinstance(password, str) or len(password) > 256:
            return None
        with self.Session() as s:
            u = s.scalar(select(m.CommitteeUser).where(m.CommitteeUser.username == username.strip()))
            try:
                _hasher.verify(u.password_hash if u else _DUMMY_HASH, password)
            except (VerificationError, InvalidHashError):
                return None
            if u is None or not u.active:
                return None
            if _hasher.check_needs_rehash(u.password_hash):
                u.password_hash = _hasher.hash(password)
                s.commit()
                s.refresh(u)
            return self._user_info(u)

    def get_user(self, username: str) -> UserInfo | None:
        with self.Session() as s:
            u = s.scalar(select(m.CommitteeUser).where(m.CommitteeUser.username == username))
            return self._user_info(u) if u else None

    def list_users(self) -> list[UserInfo]:
        with self.Session() as s:
            return [self._user_info(u) for u in s.scalars(select(m.CommitteeUser).order_by(m.CommitteeUser.username))]

    def _update_user(self, username: str, **values) -> None:
        with self.Session.begin() as s:
            u = s.scalar(select(m.CommitteeUser).where(m.CommitteeUser.username == username))
            if u is None:
                raise NotFoundError("没有找到这个用户。")
            for k, v in values.items():
                setattr(u, k, v)
            if "password_hash" in values or values.get("active") is False:
                # every inbox session of this user ends, on every replica (a captured cookie stops working)
                s.execute(delete(m.InboxSession).where(m.InboxSession.user_id == u.id))

    def set_password(self, username: str, password: str) -> None:
        self._update_user(username, password_hash=_hasher.hash(self._check_password(password, username)))

    def set_active(self, username: str, active: bool) -> None:
        self._update_user(username, active=bool(active))

    # notifications -------------------------------------------------------------------
    def deliverer(self, **overrides) -> notify.Deliverer:
        st = self.settings
        kw = {"max_attempts": st.notify_max_attempts, "backoff_seconds": st.notify_backoff_seconds} | overrides
        rasa_url = kw.pop("rasa_url", st.rasa_url)
        token = kw.pop("token", st.rasa_token)
        return notify.Deliverer(self.Session, rasa_url, token, **kw)

    def deliver_pending(self, *, limit: int = 100) -> dict[str, int]:
        """Push queued status notifications to Rasa once; {delivered, retry, failed}."""
        return self.deliverer().deliver_pending(limit)

    def start_delivery(self, interval: float = 5.0) -> notify.DeliveryThread:
        """Start (once) a background thread pushing queued notifications; woken on each status change."""
        with self._delivery_lock:
            if self._delivery is None or not self._delivery.is_alive():
                self._delivery = notify.DeliveryThread(self.deliverer(), interval)
                self._delivery.start()
            return self._delivery

    def stop_delivery(self) -> None:
        with self._delivery_lock:
            if self._delivery is not None:
                self._delivery.stop()
                self._delivery = None

    def _wake_delivery(self) -> None:
        if self._delivery is not None:
            self._delivery.wake()

    def outbox(self, tracking_no: str | None = None, *, handoff_id: int | None = None) -> list[dict]:
        """Queued/delivered pushes (ops and tests), optionally of one consultation or one handoff."""
        q = select(m.OutboxMessage).order_by(m.OutboxMessage.id)
        if tracking_no is not None:
            q = q.join(m.Consultation).where(m.Consultation.tracking_no == tracking.normalize_tracking_no(tracking_no))
        if handoff_id is not None:
            q = q.where(m.OutboxMessage.handoff_id == handoff_id)
        with self.Session() as s:
            return [{"id": o.id, "sender_id": o.sender_id, "channel": o.channel, "intent": o.intent, "payload": o.payload,
                     "message": o.message, "attempts": o.attempts, "delivered_at": o.delivered_at, "failed": o.failed,
                     "last_error": o.last_error, "handoff_id": o.handoff_id, "state": notify.delivery_state(o),
                     "state_label": notify.DELIVERY_LABELS[notify.delivery_state(o)]} for o in s.scalars(q)]
