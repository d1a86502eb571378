"""The seed plan: the excerpt copied from the PDF, its reviewed errata, parsed by the general document parser.

The source is plain text copied from a PDF: headings on their own lines, one paragraph per chapter
closed by the responsible agencies in parentheses, and two tables (专栏). Known losses in the copy
(missing '+') are restored by a reviewed errata file, applied here before parsing so that every quote we
show matches the corrected text. The parse must be exactly what this module's own parser produced before
documents became general (tests/data/docs/seed_plan_parsed.json), so any problem the general parser
reports on the seed is an error here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.kb import yamlload
from bot.kb.documents.model import (  # noqa: F401  (re-exported: the plan's types are every document's types)
    Action,
    Chapter,
    Indicator,
    Plan,
    PlanParseError,
    Quantity,
    Sentence,
    parse_quantity,
    split_agencies,
    split_sentences,
)
from bot.kb.documents.parser import parse_document

#: The seed document: its id, the clause-id prefix, its title and the name citations use (《规划》(七)… 第4句).
SEED_ID = "plan"
SEED_TITLE = "“十四五”城乡社区服务体系建设规划"
SEED_CITE = "规划"


@dataclass(frozen=True)
class Erratum:
    find: str
    replace: str
    reason: str


def load_errata(path: Path) -> list[Erratum]:
    if not path.exists():
        return []
    raw = yamlload.safe_load(path.read_text(encoding="utf-8")) or {}
    return [Erratum(str(e["find"]), str(e["replace"]), str(e.get("reason", ""))) for e in raw.get("errata", [])]


def apply_errata(text: str, errata: list[Erratum]) -> str:
    """Apply each erratum; each must match exactly once so a stale erratum is noticed."""
    for e in errata:
        count = text.count(e.find)
        if count != 1:
            raise PlanParseError(f"erratum {e.find!r} → {e.replace!r} matches {count} times; expected exactly once")
        text = text.replace(e.find, e.replace)
    return text


def parse_plan(text: str) -> Plan:
    """The seed plan's structure; any problem the general parser reports is an error (the seed must parse cleanly)."""
    doc = parse_document(text, prefix=SEED_ID)
    if doc.problems:
        raise PlanParseError("; ".join(str(p) for p in doc.problems))
    if not doc.plan.chapters or not doc.plan.indicators:
        raise PlanParseError("no chapters or no indicators found")
    return doc.plan


def load_plan(kb_dir: Path) -> Plan:
    text = (kb_dir / "plan_excerpt.txt").read_text(encoding="utf-8")
    return parse_plan(apply_errata(text, load_errata(kb_dir / "errata.yml")))
