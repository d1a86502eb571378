"""The knowledge desk's work, without the web: stage an upload, review it, publish it, show a clause in its document.

An uploaded file is kept under ``<var_dir>/kb-uploads/<token>/`` until it is published (or forgotten): the
review page re-reads it, so nothing half-parsed is ever held in a session. Publishing goes through
:func:`bot.kb.versions.publish` like ``kb import --publish`` (the same check, manifest and audit line).
"""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from bot.kb.documents.importer import Candidate, add_to, read_candidate
from bot.kb.documents.readers import KINDS, DocumentError
from bot.kb.loader import KnowledgeBase
from bot.kb.versions import current_dir, publish

UPLOADS = "kb-uploads"
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class DeskError(ValueError):
    """An upload or publish the desk refuses (the message is for the editor, in Chinese)."""


def uploads_dir(var_dir: Path) -> Path:
    return Path(var_dir) / UPLOADS


def _safe_name(filename: str) -> str:
    stem, suffix = Path(filename or "").stem, Path(filename or "").suffix.lower()
    stem = re.sub(r"[^\w\u4e00-\u9fff.-]+", "_", stem).strip("._")[:60] or "document"
    return stem + suffix


def stage_upload(var_dir: Path, filename: str, data: bytes, max_bytes: int) -> str:
    """Keep an uploaded file for review; returns its token. Refuses a wrong type, an empty or too large file."""
    name = _safe_name(filename)
    if Path(name).suffix not in KINDS:
        raise DeskError("只能上传 .txt、.docx 或带文字层的 .pdf 文件。")
    if not data:
        raise DeskError("上传的文件是空的。")
    if len(data) > max_bytes:
        raise DeskError(f"文件太大：最多 {max_bytes // 1024 // 1024 or 1} MB。")
    token = secrets.token_urlsafe(18)
    folder = uploads_dir(var_dir) / token
    folder.mkdir(parents=True)
    (folder / name).write_bytes(data)
    return token


def staged_file(var_dir: Path, token: str) -> Path:
    folder = uploads_dir(var_dir) / token
    files = sorted(folder.iterdir()) if TOKEN_RE.match(token or "") and folder.is_dir() else []
    if not files:
        raise DeskError("没有找到这份上传的文件，请重新上传。")
    return files[0]


def review(var_dir: Path, kb_root: Path, token: str, title: str | None = None) -> Candidate:
    """Read and parse a staged file against the current version (its id: the same title's, or the next docN)."""
    try:
        return read_candidate(staged_file(var_dir, token), current_dir(kb_root), title or None)
    except DocumentError as e:
        raise DeskError(str(e)) from None
    except (UnicodeError, OSError, ValueError) as e:  # a file the readers could not make sense of
        raise DeskError(f"无法读取这份文件：{e}") from None


def publish_staged(
    var_dir: Path, kb_root: Path, token: str, by: str, title: str | None = None, force: bool = False
) -> tuple[str, KnowledgeBase]:
    """Publish the staged document as a new version (refused while the parser reports errors, unless ``force``)."""
    candidate = review(var_dir, kb_root, token, title)
    if candidate.parsed.errors and not force:
        raise DeskError(f"解析报告了 {len(candidate.parsed.errors)} 个错误：请改正文档后重新上传，或勾选“仍然发布”。")
    name, kb = publish(kb_root, lambda d: add_to(d, candidate), by=by, message=f"导入《{candidate.cite}》")
    shutil.rmtree(uploads_dir(var_dir) / token, ignore_errors=True)
    return name, kb


def discard(var_dir: Path, token: str) -> None:
    if TOKEN_RE.match(token or ""):
        shutil.rmtree(uploads_dir(var_dir) / token, ignore_errors=True)


@dataclass(frozen=True)
class ClauseView:
    """A document laid out by chapter, one cited item marked."""

    document: str  # the citation name: 《…》
    title: str
    chapters: list[dict]  # {"id","title","part","sentences": [{"id","text","n"}], "agencies"}
    marked: str  # the id of the highlighted sentence (or the chapter of an indicator/action)
    label: str  # 《XX规划》（七）第4句


def clause_view(kb: KnowledgeBase, item_id: str) -> ClauseView | None:
    """The document holding ``item_id`` (a clause, or an indicator/action: its chapter), or None."""
    try:
        doc, chapter = kb.locate(item_id)
    except (KeyError, ValueError):
        return None
    chapters = [
        {
            "id": c.id,
            "title": c.title,
            "part": c.part,
            "agencies": "、".join((*c.agencies, *c.local_bodies)),
            "sentences": [{"id": s.id, "text": c.paragraph[s.start : s.end], "n": s.index} for s in c.sentences],
        }
        for c in doc.plan.chapters
    ]
    sentence = next((s for c in doc.plan.chapters for s in c.sentences if s.id == item_id), None)
    if sentence is not None and chapter is not None:
        label = f"《{doc.cite}》{chapter.title} 第{sentence.index}句"  # as the answers cite it
    else:
        label = f"《{doc.cite}》{chapter.title if chapter else doc.plan.indicator_box}"
    marked = item_id if sentence is not None else (chapter.sentences[0].id if chapter and chapter.sentences else "")
    return ClauseView(doc.cite, doc.title, chapters, marked, label)
