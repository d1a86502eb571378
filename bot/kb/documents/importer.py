"""Import a policy document into a knowledge-base folder: read it, parse it, review it, add it to documents.yml.

The review (:func:`review_lines`) is what an editor checks before publishing: counts, each chapter with its
agencies, each indicator with its base and target, and every problem with its line.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.kb.documents.parser import ParsedDocument, parse_document
from bot.kb.documents.readers import read_document
from bot.kb.loader import DOCUMENTS_DIR, DOCUMENTS_FILE
from bot.kb.plan import SEED_ID

ID_RE = re.compile(r"^[a-z][a-z0-9]{1,15}$")


@dataclass
class Candidate:
    """A document read and parsed, not yet part of any version."""

    id: str
    title: str
    cite: str
    source: Path
    text: str
    parsed: ParsedDocument


def _listed(kb_dir: Path) -> list[dict]:
    path = Path(kb_dir) / DOCUMENTS_FILE
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return list((raw or {}).get("documents", []))


def read_candidate(path: Path, kb_dir: Path, title: str | None = None, doc_id: str | None = None) -> Candidate:
    """Read and parse ``path``; the id is ``doc_id``, or that of a listed document with the same title (an update),
    or the first free ``docN``."""
    text = read_document(path)
    listed = _listed(kb_dir)
    probe = parse_document(text, prefix="doc")
    title = (title or probe.title or Path(path).stem).strip()
    if doc_id is None:
        same = next((d["id"] for d in listed if d.get("title") == title), None)
        taken = {d.get("id") for d in listed} | {SEED_ID}
        doc_id = same or next(f"doc{n}" for n in range(2, 10_000) if f"doc{n}" not in taken)
    if not ID_RE.match(doc_id) or doc_id == SEED_ID:
        raise ValueError(f"文档编号 {doc_id!r} 不可用：小写字母开头，字母或数字，2–16 位，且不能是 {SEED_ID!r}")
    parsed = parse_document(text, prefix=doc_id, item_prefix=f"{doc_id}-")
    cite = re.sub(r"[（(]节选[）)]$", "", title).strip() or title
    return Candidate(doc_id, title, cite, Path(path), text, parsed)


def add_to(kb_dir: Path, c: Candidate) -> list[dict]:
    """Write the candidate into a knowledge-base folder (a version being built); returns the change made."""
    kb_dir = Path(kb_dir)
    (kb_dir / DOCUMENTS_DIR).mkdir(exist_ok=True)
    text_file = f"{DOCUMENTS_DIR}/{c.id}.txt"
    (kb_dir / text_file).write_text(c.text, encoding="utf-8")
    original = f"{DOCUMENTS_DIR}/{c.id}.original{c.source.suffix.lower()}"
    if c.source.suffix.lower() != ".txt":
        shutil.copy2(c.source, kb_dir / original)
    listed = _listed(kb_dir)
    entry = {"id": c.id, "title": c.title, "cite": c.cite, "file": text_file, "source": c.source.name}
    action = "changed" if any(d.get("id") == c.id for d in listed) else "added"
    listed = [d for d in listed if d.get("id") != c.id] + [entry]
    (kb_dir / DOCUMENTS_FILE).write_text(
        "# Imported documents (python -m bot kb import); their text is in documents/.\n"
        + yaml.safe_dump({"documents": listed}, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return [
        {"action": action, "document": c.id, "title": c.title, "source": c.source.name, "summary": c.parsed.summary}
    ]


def review_lines(c: Candidate) -> list[str]:
    p, s = c.parsed.plan, c.parsed.summary
    out = [
        f"文档：《{c.cite}》（编号 {c.id}，来自 {c.source.name}）",
        f"章节 {s['chapters']}，条款 {s['clauses']}，责任单位 {s['agencies']}，指标 {s['indicators']}，"
        f"专栏条目 {s['actions']}，问题 {s['problems']}",
        "章节：",
    ]
    for ch in p.chapters:
        who = "、".join((*ch.agencies, *ch.local_bodies)) or "（未写明）"
        out.append(
            f"  {ch.title}（第{ch.line}行）：{len(ch.sentences)}句，条款 {ch.sentences[0].id if ch.sentences else '-'} 起；责任单位：{who}"
        )
    if p.indicators:
        out.append(f"指标（{p.indicator_box}）：")
        for i in p.indicators:
            base = i.base_2020.text if i.base_2020 else "无"
            out.append(
                f"  {i.id} {i.name}：{i.base_year}年基期值 {base}，{i.target_year}年目标值 {i.target_2025.text}"
                + (f"（{i.binding}）" if i.binding else "")
            )
    for a in p.actions:
        out.append(f"  {a.id} {a.box} {a.number}.{a.title}")
    out.append("问题：" if c.parsed.problems else "问题：无")
    out.extend(f"  {pr}" for pr in c.parsed.problems)
    return out
