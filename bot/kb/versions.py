"""Published knowledge versions: snapshots of the knowledge-base folder, a pointer to the current one, rollback.

The folder in git (``LINLI_KB_DIR``, the seed) stays the source of truth for the seed plan and the
hand-written YAML; a publish never edits it. It copies the current version's files into
``versions/vNNNN/`` (a complete knowledge-base folder), applies the change there, checks the result as
``kb check`` does, writes ``manifest.json`` (who, when, what changed, fingerprint) and only then moves
``versions/CURRENT`` to it (one atomic rename). Rollback moves the pointer back; nothing is deleted.
``history.jsonl`` is the audit trail of publishes and rollbacks. Readers (``load_kb()``, the running
action servers through ``bot.retrieval.live``) follow the pointer; "seed" (or no pointer) is the folder itself.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.kb.loader import DOCUMENTS_DIR, DOCUMENTS_FILE, KB_FILES, SEED_VERSION, KnowledgeBase, load_kb
from bot.kb.qa import QA_FILE
from bot.kb.terms import USER_DICT_NAME, write_user_dictionary

VERSIONS_DIR = "versions"
POINTER = "CURRENT"
HISTORY = "history.jsonl"
MANIFEST = "manifest.json"
VERSION_RE = re.compile(r"^v\d{4,}$")


class VersionError(ValueError):
    """No such version, or a publish that would not load."""


@dataclass(frozen=True)
class Version:
    name: str
    manifest: dict
    current: bool


def versions_dir(root: Path) -> Path:
    return Path(root) / VERSIONS_DIR


def current_version(root: Path) -> str:
    """The version the pointer names ("seed" without a pointer, or when it names a missing version)."""
    pointer = versions_dir(root) / POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        return SEED_VERSION
    if VERSION_RE.match(name) and (versions_dir(root) / name / MANIFEST).is_file():
        return name
    return SEED_VERSION


def version_dir(root: Path, name: str) -> Path:
    if name == SEED_VERSION:
        return Path(root)
    if not VERSION_RE.match(name) or not (versions_dir(root) / name / MANIFEST).is_file():
        raise VersionError(f"没有这个版本：{name}")
    return versions_dir(root) / name


def current_dir(root: Path) -> Path:
    """The folder to load: the current published version, or the seed folder itself."""
    return version_dir(root, current_version(root))


def list_versions(root: Path) -> list[Version]:
    current = current_version(root)
    out = [Version(SEED_VERSION, {"version": SEED_VERSION, "message": "git 中的初始知识库"}, current == SEED_VERSION)]
    base = versions_dir(root)
    for d in sorted(base.iterdir() if base.is_dir() else [], key=lambda p: p.name):
        if VERSION_RE.match(d.name) and (d / MANIFEST).is_file():
            out.append(Version(d.name, json.loads((d / MANIFEST).read_text(encoding="utf-8")), d.name == current))
    return out


def describe(changes: list[dict], message: str = "") -> str:
    """What a version changed, in one line: 新增《…》；更新服务「…」；新增问答「…」."""
    words = {"added": "新增", "changed": "更新", "removed": "删除"}
    out = []
    for c in changes or ():
        if c.get("qa"):
            what = f"问答「{c.get('question', '')}」" + (f"→{c['link']}" if c.get("link") else "")
        elif c.get("service"):
            what = f"服务「{c.get('name') or c['service']}」"
        else:
            what = f" {c.get('document', '')}《{c.get('title', '')}》"
        out.append(words.get(c.get("action"), str(c.get("action", ""))) + what)
    return "；".join(out) or message


def history(root: Path) -> list[dict]:
    path = versions_dir(root) / HISTORY
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@contextmanager
def _locked(root: Path):
    """One publisher or rollback at a time (across processes)."""
    base = versions_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield base
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _point(base: Path, name: str) -> None:
    tmp = base / f".{POINTER}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, base / POINTER)


def _log(base: Path, entry: dict) -> None:
    with open(base / HISTORY, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _copy_kb(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for name in (*KB_FILES, DOCUMENTS_FILE, QA_FILE):
        if (src / name).exists():
            shutil.copy2(src / name, dest / name)
    for sub in (DOCUMENTS_DIR, "jieba"):
        if (src / sub).is_dir():
            shutil.copytree(src / sub, dest / sub)


def publish(
    root: Path, change: Callable[[Path], list[dict]], by: str | None = None, message: str = ""
) -> tuple[str, KnowledgeBase]:
    """Make a new version: copy the current one, let ``change`` edit the copy (it returns what it changed),
    check it loads, write the manifest, move the pointer. Returns the version name and its knowledge base."""
    root = Path(root)
    with _locked(root) as base:
        parent = current_version(root)
        numbers = [int(d.name[1:]) for d in base.iterdir() if VERSION_RE.match(d.name)]
        name = f"v{max(numbers, default=0) + 1:04d}"
        tmp = base / f".build-{name}-{uuid.uuid4().hex[:8]}"
        try:
            _copy_kb(version_dir(root, parent), tmp)
            changes = change(tmp)
            kb = load_kb(tmp)  # raises KBError: nothing is published
            if (root / USER_DICT_NAME).exists() or (tmp / USER_DICT_NAME).exists():
                write_user_dictionary(kb)  # new documents bring agency and indicator names for the tokenizer
                kb = load_kb(tmp)
            manifest = {
                "version": name,
                "parent": parent,
                "by": who(by),
                "at": _now(),
                "message": message,
                "changes": changes,
                "fingerprint": kb.fingerprint,
                "counts": kb.counts,
                "documents": [{"id": d.id, "title": d.title} for d in kb.documents],
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            os.rename(tmp, base / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _point(base, name)
        _log(
            base,
            {
                "action": "publish",
                "version": name,
                "parent": parent,
                "by": manifest["by"],
                "at": manifest["at"],
                "changes": changes,
            },
        )
    return name, load_kb(base / name)


def rollback(root: Path, name: str, by: str | None = None) -> str:
    """Point at an earlier version (or "seed"); the versions after it stay, so this can be undone too."""
    root = Path(root)
    with _locked(root) as base:
        load_kb(version_dir(root, name))  # a version that no longer loads is refused (KBError)
        previous = current_version(root)
        _point(base, name)
        _log(base, {"action": "rollback", "version": name, "from": previous, "by": who(by), "at": _now()})
    return previous
