"""What a parsed policy document is made of: chapters of citable sentences, agencies, indicators, actions.

Shared by the seed plan (``bot.kb.plan``) and every imported document (``bot.kb.documents.parser``),
so answers, passages and checks treat all documents alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

QUANTITY_RE = re.compile(r"^(≥|≤|>|<|＞|＜)?(\d+(?:\.\d+)?)(.*)$")
NO_VALUE = {"—", "-", "–", "－", "/", ""}


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
    base_2020: Quantity | None  # the base value (the seed's base year is 2020; see base_year)
    target_2025: Quantity  # the target value (see target_year)
    binding: str  # 预期性 (indicative) or 约束性 (binding); "" when the table has no such column
    source_line: str
    base_year: int = 2020
    target_year: int = 2025
    line: int = 0  # line in the source text


@dataclass(frozen=True)
class Sentence:
    id: str
    index: int
    text: str
    start: int  # character span in the chapter paragraph
    end: int


@dataclass(frozen=True)
class Chapter:
    id: str  # "5", "6", "7" (or "2.1" when a document restarts (一) in every part)
    numeral: str  # "五"
    title: str  # "(五)健全党建引领机制"
    part: str  # "二、优化城乡社区服务体系"
    paragraph: str  # body without the closing agency parenthesis
    agencies: tuple[str, ...]  # city departments named in the closing parenthesis
    local_bodies: tuple[str, ...]  # township / street bodies named there
    agency_text: str
    sentences: tuple[Sentence, ...] = ()
    line: int = 0  # line of the heading in the source text

    @property
    def path(self) -> str:
        return f"{self.part} › {self.title}" if self.part else self.title

    @property
    def heading(self) -> str:
        """The title without its numeral: "健全党建引领机制"."""
        return re.sub(r"^[（(][一二三四五六七八九十百]+[）)]", "", self.title)


@dataclass(frozen=True)
class Action:
    id: str
    number: int
    title: str
    text: str
    box: str  # "专栏2 社会力量参与社区服务行动"
    part: str
    after_chapter: str  # the chapter the box belongs to
    line: int = 0


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


def parse_quantity(raw: str) -> Quantity | None:
    raw = raw.strip()
    if raw in NO_VALUE:
        return None
    m = QUANTITY_RE.match(raw)
    if not m:
        raise PlanParseError(f"cannot read quantity {raw!r}")
    comparator = {"≥": "≥", "≤": "≤", ">": ">", "<": "<", "＞": ">", "＜": "<"}.get(m.group(1) or "", "=")
    return Quantity(float(m.group(2)), m.group(3), comparator)


def split_sentences(paragraph: str) -> list[tuple[int, int]]:
    """Sentence spans, split after '。' (the only sentence terminator of these documents)."""
    spans, start = [], 0
    for m in re.finditer("。", paragraph):
        spans.append((start, m.end()))
        start = m.end()
    if paragraph[start:].strip():
        spans.append((start, len(paragraph)))
    return spans


def split_agencies(agency_text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """("市民政局、市医保局等部门及各乡(镇)人民政府按职责分工负责") → departments, local bodies.

    Also reads the other usual form, "区民政局牵头，区卫健委、区医保局配合"."""
    body = re.sub(r"(按职责分工负责|分工负责|负责)$", "", agency_text)
    for joint in ("等部门及", "等单位及", "等部门和"):
        if joint in body:
            departments, local = body.split(joint, 1)
            break
    else:
        departments, local = re.sub(r"等(部门|单位)$", "", body), ""

    def names(text: str) -> tuple[str, ...]:
        out = (re.sub(r"(牵头|配合|参与)$", "", a.strip()) for a in re.split(r"[、，,；;]", text))
        return tuple(dict.fromkeys(a for a in out if a))

    return names(departments), names(local)


@dataclass
class Document:
    """One policy document of the knowledge base: the seed plan, or one imported through ``kb import``."""

    id: str  # "plan" for the seed; clause ids start with it (plan-7-12, doc2-3-04)
    title: str  # "“十四五”城乡社区服务体系建设规划"
    cite: str  # the name citations use: 《规划》(七)强化为民服务功能 第4句
    plan: Plan
    file: str = ""  # its text in the knowledge-base folder (documents/doc2.txt; plan_excerpt.txt for the seed)
    source: str = ""  # the file it was imported from
    problems: tuple = ()  # what the parser reported (accepted when it was published)
