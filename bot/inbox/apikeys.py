"""Per-integrator Open311 API keys, stored hashed (SHA-256) in ``var_dir/open311_keys.json``.

A key is 32 random bytes, so a fast hash is enough at rest (no dictionary to attack); the clear
key is shown once, at creation. A file rather than a table keeps the store's schema untouched;
keys are few and change rarely.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import UserFacingError

PREFIX = "ls_"


@dataclass(frozen=True)
class Integrator:
    name: str
    created_at: str
    active: bool


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class ApiKeyStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: tuple[float, list[dict]] | None = None

    @classmethod
    def from_settings(cls, settings) -> ApiKeyStore:
        return cls(Path(settings.var_dir) / "open311_keys.json")

    def _read(self) -> list[dict]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return []
        if self._cache and self._cache[0] == mtime:
            return self._cache[1]
        entries = json.loads(self.path.read_text(encoding="utf-8")).get("keys", [])
        self._cache = (mtime, entries)
        return entries

    def _write(self, entries: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".open311_keys.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"keys": entries}, f, ensure_ascii=False, indent=1)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._cache = None

    def create(self, name: str) -> str:
        """Create a key for integrator ``name``; returns the clear key (shown once)."""
        name = (name or "").strip()
        if not (1 <= len(name) <= 64) or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise UserFacingError("集成方名称需为 1–64 位字母、数字或 . _ -。", code="bad_name")
        key = PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            entries = [e for e in self._read() if e["name"] != name]  # re-creating replaces the old key
            entries.append(
                {
                    "name": name,
                    "sha256": _digest(key),
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "active": True,
                }
            )
            self._write(entries)
        return key

    def revoke(self, name: str) -> bool:
        with self._lock:
            entries = self._read()
            found = False
            for e in entries:
                if e["name"] == name and e["active"]:
                    e["active"], found = False, True
            if found:
                self._write(entries)
        return found

    def list(self) -> list[Integrator]:
        return [Integrator(e["name"], e["created_at"], e["active"]) for e in self._read()]

    def check(self, key: str | None) -> str | None:
        """The integrator's name for a valid active key, else None."""
        if not key or len(key) > 200:
            return None
        d = _digest(key)
        name = None
        for e in self._read():  # compare against all, in constant time each
            if hmac.compare_digest(e["sha256"], d) and e["active"]:
                name = e["name"]
        return name
