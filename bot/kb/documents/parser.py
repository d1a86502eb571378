"""A general parser for the structure Chinese government plans share.

一、 parts, (一)/（一） sections whose paragraphs end with the responsible agencies in parentheses,
专栏 boxes holding either an indicator table (序号 指标 基期值 目标值 属性) or numbered actions (1.实施…行动。…).
Nothing is dropped silently: a line the parser cannot place, a table row it cannot read or a heading
it cannot be sure of becomes a :class:`DocProblem` with its line number, shown for review before
publishing. The seed plan is one such document (``bot.kb.plan`` calls :func:`parse_document`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from bot.kb.documents.model import (
    Action,
    Chapter,
    Indicator,
    Plan,
    PlanParseError,
    Sentence,
    parse_quantity,
    split_agencies,
    split_sentences,
)

NUMERALS = "一二三四五六七八九十百"
PART_RE = re.compile(rf"^([{NUMERALS}]+)、(.*)$")
CHAPTER_RE = re.compile(rf"^[（(]([{NUMERALS}]+)[）)](.*)$")
BOX_RE = re.compile(r"^专栏\s*(\d+)\s*(.*)$")
ROW_RE = re.compile(r"^(\d+)\s+(.+)$")
ITEM_RE = re.compile(r"^(\d+)[.．、]\s*(.+)$")
BINDINGS = ("预期性", "约束性")
# the closing parenthesis of a section: balanced (one level of inner parentheses, 乡(镇)), naming who is responsible
AGENCY_TAIL_RE = re.compile(r"[（(]((?:[^()（）]|[（(][^()（）]*[）)])+)[）)]$")
AGENCY_WORDS = re.compile(r"负责$|牵头|配合")


@dataclass(frozen=True)
class DocProblem:
    line: int
    message: str
    text: str = ""
    severity: str = "error"  # "error" blocks a publish; "warning" (a section naming no agency) is shown only

    def __str__(self) -> str:
        quoted = f"：{self.text[:40]}" if self.text else ""
        mark = "（提示）" if self.severity == "warning" else ""
        return f"第{self.line}行 {mark}{self.message}{quoted}"


@dataclass
class ParsedDocument:
    plan: Plan
    title: str = ""  # the title line found before the first heading, if any
    problems: list[DocProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[DocProblem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def summary(self) -> dict[str, int]:
        return {
            "chapters": len(self.plan.chapters),
            "clauses": len(self.plan.clauses),
            "agencies": len(self.plan.all_agencies),
            "indicators": len(self.plan.indicators),
            "actions": len(self.plan.actions),
            "problems": len(self.problems),
        }


def chinese_number(numeral: str) -> int:
    """一 → 1, 十 → 10, 十二 → 12, 二十三 → 23 (headings never go past 百)."""
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")}
    if "十" not in numeral:
        return digits.get(numeral, 0)
    tens, _, ones = numeral.partition("十")
    return (digits.get(tens, 0) if tens else 1) * 10 + (digits.get(ones, 0) if ones else 0)


@dataclass
class _Section:
    numeral: str
    title: str
    part: str
    part_no: int
    line: int
    body: list[str] = field(default_factory=list)
    preamble: bool = False


@dataclass
class _Box:
    number: str
    title: str
    line: int
    kind: str = ""  # "indicators" | "actions" once known
    base_year: int = 2020
    target_year: int = 2025
    columns: int = 0

    @property
    def name(self) -> str:
        return f"专栏{self.number} {self.title}".strip()


def parse_document(text: str, prefix: str = "plan", item_prefix: str = "") -> ParsedDocument:
    """Parse ``text``; clause ids are ``{prefix}-{chapter}-{nn}``, indicators ``{item_prefix}indicator-{n}``."""
    doc = ParsedDocument(Plan())
    plan, problems = doc.plan, doc.problems
    sections: list[_Section] = []
    section: _Section | None = None
    box: _Box | None = None
    part, part_no, part_line = "", 0, 0
    pending_actions: list[
        tuple[int, str, str, str, str, int, int]
    ] = []  # number, title, text, box, part, section index, line
    seen_heading = False

    def close_section() -> None:
        nonlocal section
        if section is not None:
            sections.append(section)
        section = None

    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if m := BOX_RE.match(line):
            close_section()
            box = _Box(m.group(1), m.group(2).strip(), no)
            seen_heading = True
            continue
        if m := PART_RE.match(line):
            close_section()
            box = None
            seen_heading = True
            number = chinese_number(m.group(1))
            if not m.group(2).strip():
                problems.append(DocProblem(no, "含糊的标题：“一、”后没有标题", line))
            elif "。" in m.group(2).rstrip("。"):
                problems.append(DocProblem(no, "含糊的标题：一级标题里有句子，按标题处理，正文请另起一行", line))
            if part_no and number != part_no + 1:
                problems.append(DocProblem(no, f"标题序号不连续：{m.group(1)}、接在第{part_no}部分之后", line))
            part, part_no, part_line = line, number, no
            continue
        if m := CHAPTER_RE.match(line):
            close_section()
            box = None
            seen_heading = True
            title_rest = m.group(2).strip()
            head, dot, body = title_rest.partition("。")
            title = f"{line[0]}{m.group(1)}{line[len(m.group(1)) + 1]}{head}"
            if not head:
                problems.append(DocProblem(no, "含糊的标题：序号后没有标题", line))
            previous = sections[-1] if sections and not sections[-1].preamble else None
            number = chinese_number(m.group(1))
            if previous is not None:
                same_part = previous.part == part
                expected = chinese_number(previous.numeral) + 1
                if same_part and number != expected or not same_part and number not in (1, expected):
                    problems.append(
                        DocProblem(no, f"标题序号不连续：（{m.group(1)}）接在（{previous.numeral}）之后", line)
                    )
            section = _Section(m.group(1), title, part, part_no, no)
            if dot and body.strip():
                section.body.append(body.strip())
            continue
        if box is not None:
            _box_line(box, no, line, plan, problems, pending_actions, part, len(sections) - 1, item_prefix)
            continue
        if section is not None:
            section.body.append(line)
            continue
        if not seen_heading:
            if not doc.title and "。" not in line and len(line) <= 60:
                doc.title = line
            else:
                section = _Section("", "引言", "", 0, no, [line], preamble=True)
            continue
        problems.append(DocProblem(no, "这一行不在任何章节里，没有收录", line))
    close_section()

    chapter_ids = _chapter_ids(sections)
    for sec, cid in zip(sections, chapter_ids):
        chapter = _chapter(sec, cid, prefix, problems)
        if chapter is not None:
            plan.chapters.append(chapter)
    for number, title, body, box_name, a_part, sec_index, no in pending_actions:
        after = chapter_ids[sec_index] if 0 <= sec_index < len(chapter_ids) else ""
        plan.actions.append(Action(f"{item_prefix}action-{number}", number, title, body, box_name, a_part, after, no))
    for kind, items in (("指标", plan.indicators), ("行动", plan.actions)):
        for dup in [i for i, n in Counter(x.id for x in items).items() if n > 1]:
            line_no = next(x.line for x in items if x.id == dup)
            problems.append(DocProblem(line_no, f"{kind}序号重复：{dup}"))
    if not plan.chapters:
        problems.append(DocProblem(part_line or 1, "没有找到任何（一）级章节"))
    problems.sort(key=lambda p: p.line)
    return doc


def _box_line(
    box: _Box,
    no: int,
    line: str,
    plan: Plan,
    problems: list[DocProblem],
    actions: list,
    part: str,
    section_index: int,
    item_prefix: str,
) -> None:
    """One line inside a 专栏: the table header, an indicator row, a numbered action, or a problem."""
    if line.startswith("序号"):
        years = [int(y) for y in re.findall(r"((?:19|20)\d{2})\s*年", line)]
        if len(years) >= 2:
            box.base_year, box.target_year = years[0], years[1]
        if re.search(r"基期|目标|指\s*标", line):
            box.kind = "indicators"
            if not plan.indicator_box:
                plan.indicator_box = box.name
        else:
            problems.append(DocProblem(no, "无法解析的表格：表头里没有指标、基期值或目标值", line))
        return
    if (m := ITEM_RE.match(line)) and box.kind != "indicators":
        box.kind = "actions"
        title, dot, body = m.group(2).partition("。")
        if not dot or not body.strip():
            problems.append(DocProblem(no, "专栏条目没有“标题。内容”的形式", line))
        actions.append((int(m.group(1)), title.strip(), body.strip(), box.name, part, section_index, no))
        return
    if (m := ROW_RE.match(line)) and box.kind != "actions":
        cells = m.group(2).split()
        binding = cells.pop() if cells and cells[-1] in BINDINGS else ""
        if len(cells) != 3:
            problems.append(
                DocProblem(
                    no,
                    f"无法解析的表格行：应为 序号 指标 基期值 目标值 [属性]，这里有{len(cells) + 1 + bool(binding)}列",
                    line,
                )
            )
            return
        name, base_raw, target_raw = cells
        try:
            base, target = parse_quantity(base_raw), parse_quantity(target_raw)
        except PlanParseError:
            problems.append(DocProblem(no, f"无法解析的表格行：基期值“{base_raw}”或目标值“{target_raw}”不是数值", line))
            return
        if target is None:
            problems.append(DocProblem(no, f"指标{m.group(1)}没有目标值", line))
            return
        if not box.kind:
            box.kind = "indicators"
            plan.indicator_box = plan.indicator_box or box.name
        number = int(m.group(1))
        plan.indicators.append(
            Indicator(
                f"{item_prefix}indicator-{number}",
                number,
                name,
                base,
                target,
                binding,
                line,
                box.base_year,
                box.target_year,
                no,
            )
        )
        return
    problems.append(DocProblem(no, f"{box.name}里的这一行既不是表格行也不是编号条目", line))


def _chapter_ids(sections: list[_Section]) -> list[str]:
    """ "5", "6" … when the (一) numbers are unique in the document; "2.1" when every part restarts at (一)."""
    plain = ["0" if s.preamble else str(chinese_number(s.numeral)) for s in sections]
    if len(set(plain)) == len(plain):
        return plain
    qualified = ["0" if s.preamble else f"{s.part_no}.{chinese_number(s.numeral)}" for s in sections]
    seen: Counter[str] = Counter()
    out = []
    for q in qualified:
        seen[q] += 1
        out.append(q if seen[q] == 1 else f"{q}-{seen[q]}")
    return out


def _chapter(sec: _Section, cid: str, prefix: str, problems: list[DocProblem]) -> Chapter | None:
    body = "".join(sec.body)
    if not body:
        problems.append(DocProblem(sec.line, "章节没有正文", sec.title))
        return None
    agency_text, paragraph = "", body
    tail = AGENCY_TAIL_RE.search(body)
    if tail and AGENCY_WORDS.search(tail.group(1)):
        agency_text, paragraph = tail.group(1), body[: tail.start()]
    elif not sec.preamble:
        problems.append(DocProblem(sec.line, "章节末尾没有括号里的责任单位", sec.title, "warning"))
    depts, local = split_agencies(agency_text) if agency_text else ((), ())
    sentences = tuple(
        Sentence(f"{prefix}-{cid}-{k + 1:02d}", k + 1, paragraph[a:b], a, b)
        for k, (a, b) in enumerate(split_sentences(paragraph))
    )
    return Chapter(cid, sec.numeral, sec.title, sec.part, paragraph, depts, local, agency_text, sentences, sec.line)
