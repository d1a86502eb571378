"""Committee members and admins: accounts, passwords (through an injected hasher), sign-in.

Ending a user's inbox sessions on a password change or deactivation happens here, in the same
transaction, so a captured cookie stops working on every replica.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.consultations import models as m
from bot.consultations.errors import NotFoundError, db_guard
from bot.consultations.passwords import Argon2Hasher, password_problem
from bot.consultations.records import UserInfo
from bot.consultations.validation import USERNAME
from bot.errors import UserFacingError

ROLES = ("member", "admin", "supervisor", "kb-editor")  # kb-editor: the knowledge desk only, no committee


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


def _info(u: m.CommitteeUser) -> UserInfo:
    return UserInfo(
        u.id, u.username, u.committee_id, u.committee.name if u.committee else None, u.role, u.active, u.township
    )


def _checked_password(password: object, username: str = "") -> str:
    problem = password_problem(password, username)
    if problem:
        raise UserFacingError(problem, code="weak_password")
    return password


class Accounts:
    def __init__(self, sessions, hasher: PasswordHasher | None = None):
        self._sessions = sessions
        self._hasher = hasher or Argon2Hasher()
        self._dummy: str | None = None  # a hash to verify against for unknown users (same work in every case)

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hasher.hash("not-a-real-password")
        return self._dummy

    def create_user(
        self,
        username: str,
        password: str,
        committee_id: str | None = None,
        role: str = "member",
        township: str | None = None,
    ) -> UserInfo:
        """A member belongs to one committee; an admin may have none and sees all; a supervisor oversees the
        communities of one 街道/乡镇 (``township``, as Community.township in communities.yml)."""
        if not isinstance(username, str) or not USERNAME.match(username.strip()):
            raise UserFacingError("用户名为 2–64 位字母、数字、汉字或 _ . -。", code="invalid_username")
        if role not in ROLES:
            raise UserFacingError("角色只能是 member、admin、supervisor 或 kb-editor。", code="invalid_role")
        if role == "member" and not committee_id:
            raise UserFacingError("委员会成员必须属于一个委员会。", code="committee_required")
        township = township.strip() if isinstance(township, str) and role == "supervisor" else None
        if role == "supervisor" and not township:
            raise UserFacingError("督办人员必须属于一个街道（乡镇）。", code="township_required")
        password = _checked_password(password, username.strip())
        with self._sessions() as s:
            if committee_id is not None and s.get(m.Committee, committee_id) is None:
                raise NotFoundError("没有找到这个委员会。")
            if township and s.scalar(select(m.Community.id).where(m.Community.township == township).limit(1)) is None:
                raise NotFoundError("没有找到这个街道（乡镇）。")
            u = m.CommitteeUser(
                username=username.strip(),
                password_hash=self._hasher.hash(password),
                committee_id=committee_id if role not in ("supervisor", "kb-editor") else None,
                role=role,
                township=township,
                active=True,
            )
            s.add(u)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise UserFacingError("这个用户名已经存在。", code="duplicate_username") from None
            s.refresh(u)
            return _info(u)

    @db_guard
    def authenticate(self, username: str, password: str) -> UserInfo | None:
        """Password check; None for unknown, inactive or wrong password (same work in every case)."""
        if not isinstance(username, str) or not isinstance(password, str) or len(password) > 256:
            return None
        with self._sessions() as s:
            u = s.scalar(select(m.CommitteeUser).where(m.CommitteeUser.username == username.strip()))
            if not self._hasher.verify(u.password_hash if u else self._dummy_hash(), password):
                return None
            if u is None or not u.active:
                return None
            if self._hasher.needs_rehash(u.password_hash):
                u.password_hash = self._hasher.hash(password)
                s.commit()
                s.refresh(u)
            return _info(u)

    def get_user(self, username: str) -> UserInfo | None:
        with self._sessions() as s:
            u = s.scalar(select(m.CommitteeUser).where(m.CommitteeUser.username == username))
            return _info(u) if u else None

    def session_user(self, sid_hash: str) -> UserInfo | None:
        """The user of a live inbox session (by the hash of its id), if they may still use the inbox:
        active, and a member only with a committee."""
        with self._sessions() as s:
            row = s.get(m.InboxSession, sid_hash)
            if row is None or row.expires_at <= m.utcnow():
                return None
            u = s.get(m.CommitteeUser, row.user_id)
            if u is None or not u.active or (u.role == "member" and not u.committee_id):
                return None
            if u.role == "supervisor" and not u.township:
                return None
            return _info(u)

    def list_users(self) -> list[UserInfo]:
        with self._sessions() as s:
            return [_info(u) for u in s.scalars(select(m.CommitteeUser).order_by(m.CommitteeUser.username))]

    def _update(self, username: str, **values) -> None:
        with self._sessions.begin() as s:
            u = s.scalar(select(m.CommitteeUser).where(m.CommitteeUser.username == username))
            if u is None:
                raise NotFoundError("没有找到这个用户。")
            for k, v in values.items():
                setattr(u, k, v)
            if "password_hash" in values or values.get("active") is False:
                # every inbox session of this user ends, on every replica (a captured cookie stops working)
                s.execute(delete(m.InboxSession).where(m.InboxSession.user_id == u.id))

    def set_password(self, username: str, password: str) -> None:
        self._update(username, password_hash=self._hasher.hash(_checked_password(password, username)))

    def set_active(self, username: str, active: bool) -> None:
        self._update(username, active=bool(active))
