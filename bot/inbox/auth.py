"""Who is logged in: a signed session cookie naming a server-side session, and login throttling.

Passwords are argon2-hashed and checked by ``ConsultationService.accounts`` (the store owns users).

The cookie (itsdangerous-signed) carries a random session id; only its SHA-256 is stored, in
``inbox_sessions``. Logout deletes the row, a password change or deactivation deletes all of the
user's rows (``ConsultationService``), so a captured cookie stops working on every replica.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.consultations.models import InboxSession, LoginFailure, utcnow

SESSION_COOKIE = "linli_inbox"
SESSION_MAX_AGE = 12 * 3600  # a working day; then log in again


def secret_key(settings) -> str:
    """``settings.inbox_secret_key``, or one generated once and kept (0600) in ``var_dir``."""
    if settings.inbox_secret_key:
        return settings.inbox_secret_key
    path = Path(settings.var_dir) / "inbox_secret.key"
    try:
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        time.sleep(0.05)
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key)
    return key


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8", "surrogatepass")).hexdigest()


def start_session(db: Session, user_id: int, *, now: datetime | None = None) -> str:
    """A new server-side session for ``user_id``; returns the id to put in the cookie."""
    now = now or utcnow()
    db.execute(delete(InboxSession).where(InboxSession.expires_at <= now))  # expired ones, anyone's
    sid = secrets.token_urlsafe(32)
    db.add(
        InboxSession(
            id_hash=_sid_hash(sid), user_id=user_id, created_at=now, expires_at=now + timedelta(seconds=SESSION_MAX_AGE)
        )
    )
    db.commit()
    return sid


def end_session(db: Session, session: dict) -> None:
    """Logout: the session's row goes, so its cookie is worthless even if someone kept a copy."""
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        db.execute(delete(InboxSession).where(InboxSession.id_hash == _sid_hash(sid)))
        db.commit()


@dataclass(frozen=True)
class CurrentUser:
    """What a request handler needs to know about the logged-in user (detached from the ORM session)."""

    id: int
    username: str
    role: str
    committee_id: str | None
    committee_name: str | None
    township: str | None = None  # a supervisor's 街道/乡镇

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    @property
    def edits_kb(self) -> bool:
        """The knowledge desk: kb-editors and admins."""
        return self.role in ("admin", "kb-editor")

    @property
    def reads_consultations(self) -> bool:
        """A kb-editor belongs to no committee and sees no resident's consultation."""
        return self.role != "kb-editor"


class SessionCodec:
    """Signs and reads the session cookie's dict."""

    def __init__(self, key: str):
        self._s = URLSafeTimedSerializer(key, salt="linli-inbox-session")

    def dumps(self, data: dict) -> str:
        return self._s.dumps(data)

    def loads(self, cookie: str | None) -> dict:
        if not cookie or len(cookie) > 4096:
            return {}
        try:
            data = self._s.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return {}
        return data if isinstance(data, dict) else {}


def load_user(session: dict, accounts) -> CurrentUser | None:
    """The user of a live server-side session, if still allowed in (``accounts``: the service's accounts)."""
    sid = session.get("sid")
    if not isinstance(sid, str) or not sid or len(sid) > 100:
        return None
    user = accounts.session_user(_sid_hash(sid))
    if user is None:
        return None
    return CurrentUser(user.id, user.username, user.role, user.committee_id, user.committee_name, user.township)


class LoginThrottle:
    """Failed logins in a sliding ``window`` (seconds): at most ``account_limit`` per account, counted in
    the database (``login_failures``) so every inbox replica and every client address adds to the same
    count, and at most ``client_limit`` per client address in this process (a spray of usernames).

    The client address is ``request.client.host``: the TCP peer, or what a configured trusted proxy
    says (``inbox_trusted_proxies``); a forged X-Forwarded-For from anyone else changes nothing.
    """

    def __init__(
        self,
        sessionmaker,
        *,
        account_limit: int = 5,
        client_limit: int = 30,
        window: float = 15 * 60,
        clock=time.monotonic,
        now=utcnow,
    ):
        self.Session = sessionmaker
        self.account_limit, self.client_limit, self.window = account_limit, client_limit, window
        self.clock, self.now = clock, now
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    @staticmethod
    def _account(username: str) -> str:
        return (username or "").strip().lower()[:64]

    def _client_wait(self, ip: str) -> int:
        now = self.clock()
        with self._lock:
            q = self._fails.get(ip or "?")
            while q and q[0] <= now - self.window:
                q.popleft()
            if not q or len(q) < self.client_limit:
                return 0
            return max(1, int(q[0] + self.window - now + 0.999))

    def _account_wait(self, username: str) -> int:
        now = self.now()
        since = now - timedelta(seconds=self.window)
        with self.Session() as db:
            recent = db.scalars(
                select(LoginFailure.at)
                .where(LoginFailure.account == self._account(username), LoginFailure.at > since)
                .order_by(LoginFailure.at.desc())
                .limit(self.account_limit)
            ).all()
        if len(recent) < self.account_limit:
            return 0
        oldest = min(recent)  # of the newest ``account_limit`` failures: when it leaves the window, one try is allowed
        return max(1, int((oldest + timedelta(seconds=self.window) - now).total_seconds() + 0.999))

    def retry_after(self, username: str, ip: str) -> int:
        """Seconds until the next attempt is allowed (0 = allowed now)."""
        return max(self._client_wait(ip), self._account_wait(username))

    def failed(self, username: str, ip: str) -> None:
        with self._lock:
            if len(self._fails) > 100_000:  # bound memory under a spray of addresses
                self._fails.clear()
            self._fails[ip or "?"].append(self.clock())
        now = self.now()
        with self.Session.begin() as db:
            db.execute(delete(LoginFailure).where(LoginFailure.at <= now - timedelta(seconds=self.window)))
            db.add(LoginFailure(account=self._account(username), client=(ip or "?")[:64], at=now))

    def succeeded(self, username: str, ip: str) -> None:
        with self.Session.begin() as db:
            db.execute(delete(LoginFailure).where(LoginFailure.account == self._account(username)))
