"""Who is logged in: a signed session cookie naming a committee user, and login throttling.

Passwords are argon2-hashed and checked by ``ConsultationService.authenticate`` (the store owns users).

The session lives entirely in an itsdangerous-signed cookie (no server-side store), so it carries a
fingerprint of the user's password hash: changing a password or deactivating a user ends their sessions.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from bot.consultations.models import CommitteeUser

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


def password_fingerprint(user: CommitteeUser) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CurrentUser:
    """What a request handler needs to know about the logged-in user (detached from the ORM session)."""

    id: int
    username: str
    role: str
    committee_id: str | None
    committee_name: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


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


def load_user(db: Session, session: dict) -> CurrentUser | None:
    """The user a session names, if still active and the password unchanged since login."""
    uid = session.get("uid")
    if not isinstance(uid, int):
        return None
    user = db.get(CommitteeUser, uid)
    if user is None or not user.active or session.get("pv") != password_fingerprint(user):
        return None
    if user.role != "admin" and not user.committee_id:
        return None
    return CurrentUser(user.id, user.username, user.role, user.committee_id, user.committee.name if user.committee else None)


class LoginThrottle:
    """At most ``limit`` failed logins per (username, client IP) in a sliding ``window`` of seconds.

    In memory: the inbox runs as one process; a restart forgets failures, which is acceptable here.
    """

    def __init__(self, limit: int = 5, window: float = 15 * 60, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._fails: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _key(self, username: str, ip: str) -> tuple[str, str]:
        return ((username or "").strip().lower()[:64], ip or "?")

    def _prune(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window:
            q.popleft()

    def retry_after(self, username: str, ip: str) -> int:
        """Seconds until the next attempt is allowed (0 = allowed now)."""
        now = self.clock()
        with self._lock:
            q = self._fails.get(self._key(username, ip))
            if not q:
                return 0
            self._prune(q, now)
            if len(q) < self.limit:
                return 0
            return max(1, int(q[0] + self.window - now + 0.999))

    def failed(self, username: str, ip: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._fails) > 100_000:  # bound memory under a spray of usernames
                self._fails.clear()
            q = self._fails[self._key(username, ip)]
            self._prune(q, now)
            q.append(now)

    def succeeded(self, username: str, ip: str) -> None:
        with self._lock:
            self._fails.pop(self._key(username, ip), None)
