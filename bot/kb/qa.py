"""Reviewed Q&A entries (``qa.yml`` in a knowledge version): what the desk's learning queue turns questions into.

An entry either links a resident's question to an existing clause, indicator or service (the question then
joins that passage's search text, so it is found for such wording) or carries a short answer an editor wrote
(its own passage, answered as written when a question comes close enough). Entries are published like the
documents (a new version); the question is stored masked (:mod:`bot.privacy`), as the feedback store holds it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.kb import yamlload
from bot.privacy import mask

QA_FILE = "qa.yml"
MAX_QUESTION = 120
MAX_ANSWER = 400


@dataclass(frozen=True)
class QAEntry:
    id: str  # "qa-1"
    question: str
    answer: str = ""  # the editor's short answer ("" when the entry only links)
    link: str = ""  # a clause, indicator, action or service id ("" when it answers itself)
    by: str = ""
    at: str = ""


def citable_ids(plans, services) -> set[str]:
    """Every id an entry may link to: the documents' clauses, indicators and actions, and the services."""
    ids = {s.id for s in services}
    for p in plans:
        ids |= {s.id for _, s in p.clauses} | {i.id for i in p.indicators} | {a.id for a in p.actions}
    return ids


def load_qa(kb_dir: Path, known_ids: set[str], problems: list) -> list[QAEntry]:
    """The entries of ``qa.yml`` (none without it); a bad entry is a problem with its place, as in ``kb check``."""
    from bot.kb.loader import Problem

    path = Path(kb_dir) / QA_FILE
    if not path.exists():
        return []
    try:
        raw = yamlload.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        problems.append(Problem(QA_FILE, "", "", f"not valid YAML: {getattr(e, 'problem', e)}"))
        return []
    out: list[QAEntry] = []
    for k, e in enumerate(raw.get("entries", []) if isinstance(raw, dict) else []):
        where = f"[{k}] {e.get('id', '')}" if isinstance(e, dict) else f"[{k}]"
        if not isinstance(e, dict) or not isinstance(e.get("id"), str) or not isinstance(e.get("question"), str):
            problems.append(Problem(QA_FILE, where, "", "each entry needs an id and a question"))
            continue
        entry = QAEntry(**{f: str(e.get(f) or "") for f in ("id", "question", "answer", "link", "by", "at")})
        problem = entry_problem(entry, known_ids)
        if problem or any(x.id == entry.id for x in out):
            problems.append(Problem(QA_FILE, where, "", problem or "duplicate id"))
            continue
        out.append(entry)
    return out


def entry_problem(e: QAEntry, known_ids: set[str]) -> str:
    """Why an entry cannot be published ("" when it can)."""
    if not e.question.strip() or len(e.question) > MAX_QUESTION:
        return f"问题不能为空，最多 {MAX_QUESTION} 字"
    if bool(e.answer.strip()) == bool(e.link.strip()):
        return "请二选一：链接到一条条款或服务，或写一个简短回答"
    if len(e.answer) > MAX_ANSWER:
        return f"回答最多 {MAX_ANSWER} 字"
    if e.link and e.link not in known_ids:
        return f"没有这条条款或服务：{e.link}"
    return ""


def add_qa(kb_dir: Path, question: str, answer: str = "", link: str = "", by: str = "") -> list[dict]:
    """Append an entry to a version being built (``bot.kb.versions.publish`` checks it); returns the change."""
    path = Path(kb_dir) / QA_FILE
    raw = (yamlload.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None) or {}
    entries = list(raw.get("entries", []))
    numbers = [int(m.group(1)) for e in entries if (m := re.match(r"^qa-(\d+)$", str(e.get("id", ""))))]
    entry = {
        "id": f"qa-{max(numbers, default=0) + 1}",
        "question": mask(question).strip()[:MAX_QUESTION],
        "answer": answer.strip(),
        "link": link.strip(),
        "by": by,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    entries.append({k: v for k, v in entry.items() if v})
    path.write_text(
        "# Reviewed Q&A entries from the knowledge desk's learning queue.\n"
        + yaml.safe_dump({"entries": entries}, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return [{"action": "added", "qa": entry["id"], "question": entry["question"], "link": entry["link"]}]
