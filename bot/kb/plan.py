"""Parse the plan excerpt into chapters, citable clauses, indicators and actions.

The source is plain text copied from a PDF: headings on their own lines, one paragraph
per chapter closed by the responsible agencies in parentheses, and two tables (专栏).
Known losses in the copy (missing '+') are restored by a reviewed errata file, applied
here before parsing so that every quote we show matches the corrected text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CHINESE_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}

PART_RE = re.compile(r"^([一二三四五六七八九十]+)、(.+)$")
CHAPTER_RE = re.compile(r"^\(([一二三四五六七八九十]+)\)(.+)$")
BOX_RE = re.compile(r"^专栏(\d+)\s*(.+)$")
INDICATOR_RE = re.compile(r"^(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(预期性|约束性)$")
ACTION_RE = re.compile(r"^(\d+)\.(实施[^。]+?行动)。(.+)$")
AGENCY_TAIL_RE = re.compile(r"\((市[^()]*(?:\([^()]*\)[^()]*)*?按职责分工负责)\)$")
QUANTITY_RE = re.compile(r"^(≥|≤|>|<)?(\d+(?:\.\d+)?)(.*)$")


class PlanParseError(ValueError):
    """The plan text does not have the structure the parser relies on."""


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str
    comparator: str = "="  # "=" means "reach exactly / at least this level" as the plan states it

    @property
    def text(self) -> str:
        number = f"{self.value:g}"
        return f"{'' if self.comparator == '=' else self.comparator}{number}{self.unit}"


@dataclass(frozen=True)
class Indicator:
    id: str
    number: int
    name: str
    base_2020: Quantity | None
    target_2025: Quantity
    binding: str  # 预期性 (indicative) or 约束性 (binding)
    source_line: str


@dataclass(frozen=True)
class Sentence:
    id: str
    index: int
    text: str
    start: int  # character span in the chapter paragraph
    end: int


@dataclass(frozen=True)
class Chapter:
    id: str  # "5", "6", "7"
    numeral: str  # "五"
    title: str  # "(五)健全党建引领机制"
    part: str  # "二、优化城乡社区服务体系"
    paragraph: str  # body without the closing agency parenthesis
    agencies: tuple[str, ...]  # city departments named in the closing parenthesis
    local_bodies: tuple[str, ...]  # township / street bodies named there
    agency_text: str
    sentences: tuple[Sentence, ...] = ()

    @property
    def path(self) -> str:
        return f"{self.part} › {self.title}"


@dataclass(frozen=True)
class Action:
    id: str
    number: int
    title: str
    text: str
    box: str  # "专栏2 社会力量参与社区服务行动"
    part: str
    after_chapter: str  # the chapter the box belongs to


@dataclass
class Plan:
    chapters: list[Chapter] = field(default_factory=list)
    indicators: list[Indicator] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    indicator_box: str = ""

    @property
    def clauses(self) -> list[tuple[Chapter, Sentence]]:
        return [(c, s) for c in self.chapters for s in c.sentences]

    def chapter(self, chapter_id: str) -> Chapter:
        for c in self.chapters:
            if c.id == chapter_id:
                return c
        raise KeyError(chapter_id)

    def clause(self, clause_id: str) -> tuple[Chapter, Sentence]:
        for c, s in self.clauses:
            if s.id == clause_id:
                return c, s
        raise KeyError(clause_id)

    @property
    def all_agencies(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.chapters:
            for a in (*c.agencies, *c.local_bodies):
                seen.setdefault(a, None)
        return list(seen)


@dataclass(frozen=True)
class Erratum:
    find: str
    replace: str
    reason: str


def load_errata(path: Path) -> list[Erratum]:
    if not path.exists():
        return []
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [Erratum(str(e["find"]), str(e["replace"]), str(e.get("reason", ""))) for e in raw.get("errata", [])]


def apply_errata(text: str, errata: list[Erratum]) -> str:
    """Apply each erratum; each must match exactly once so a stale erratum is noticed."""
    for e in errata:
        count = text.count(e.find)
        if count != 1:
            raise PlanParseError(f"erratum {e.find!r} → {e.replace!r} matches {count} times; expected exactly once")
        text = text.replace(e.find, e.replace)
    return text


def parse_quantity(raw: str) -> Quantity | None:
    raw = raw.strip()
    if raw in {"—", "-", "–", ""}:
        return None
    m = QUANTITY_RE.match(raw)
    if not m:
        raise PlanParseError(f"cannot read quantity {raw!r}")
    comparator = {"≥": "≥", "≤": "≤", ">": ">", "<": "<"}.get(m.group(1) or "", "=")
    return Quantity(float(m.group(2)), m.group(3), comparator)


def split_sentences(paragraph: str) -> list[tuple[int, int]]:
    """Sentence spans, split after '。' (the plan's only sentence terminator)."""
    spans, start = [], 0
    for m in re.finditer("。", paragraph):
        spans.append((start, m.end()))
        start = m.end()
    if paragraph[start:].strip():
        spans.append((start, len(paragraph)))
    return spans


def split_agencies(agency_text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    body = agency_text.removesuffix("按职责分工负责")
    if "等部门及" in body:
        departments, local = body.split("等部门及", 1)
    else:
        departments, local = body.removesuffix("等部门"), ""
    depts = tuple(a.strip() for a in departments.split("、") if a.strip())
    locals_ = tuple(a.strip() for a in local.split("、") if a.strip())
    return depts, locals_


def parse_plan(text: str) -> Plan:
    plan = Plan()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    part = ""
    box: str | None = None
    last_chapter = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := BOX_RE.match(line):
            box = f"专栏{m.group(1)} {m.group(2).strip()}"
            if m.group(1) == "1":
                plan.indicator_box = box
            i += 1
            continue
        if m := INDICATOR_RE.match(line):
            number = int(m.group(1))
            target = parse_quantity(m.group(4))
            if target is None:
                raise PlanParseError(f"indicator {number} has no 2025 target")
            plan.indicators.append(
                Indicator(f"indicator-{number}", number, m.group(2), parse_quantity(m.group(3)), target, m.group(5), line)
            )
            i += 1
            continue
        if m := ACTION_RE.match(line):
            number = int(m.group(1))
            plan.actions.append(
                Action(f"action-{number}", number, m.group(2), m.group(3), box or "", part, last_chapter)
            )
            i += 1
            continue
        if m := PART_RE.match(line):
            part, box = line, None
            i += 1
            continue
        if m := CHAPTER_RE.match(line):
            numeral = m.group(1)
            if i + 1 >= len(lines):
                raise PlanParseError(f"chapter {line!r} has no body")
            body = lines[i + 1]
            tail = AGENCY_TAIL_RE.search(body)
            if not tail:
                raise PlanParseError(f"chapter {line!r} does not end with the responsible agencies in parentheses")
            agency_text = tail.group(1)
            paragraph = body[: tail.start()]
            depts, local = split_agencies(agency_text)
            cid = str(CHINESE_NUMERALS[numeral])
            sentences = tuple(
                Sentence(f"plan-{cid}-{k + 1:02d}", k + 1, paragraph[a:b], a, b)
                for k, (a, b) in enumerate(split_sentences(paragraph))
            )
            plan.chapters.append(Chapter(cid, numeral, line, part, paragraph, depts, local, agency_text, sentences))
            last_chapter, box = cid, None
            i += 2
            continue
        if line.startswith("序号"):
            i += 1
            continue
        raise PlanParseError(f"unexpected line {i + 1}: {line[:40]!r}")
    if not plan.chapters or not plan.indicators:
        raise PlanParseError("no chapters or no indicators found")
    return plan


def load_plan(kb_dir: Path) -> Plan:
    text = (kb_dir / "plan_excerpt.txt").read_text(encoding="utf-8")
    return parse_plan(apply_errata(text, load_errata(kb_dir / "errata.yml")))
