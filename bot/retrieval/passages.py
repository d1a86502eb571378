"""Turn the knowledge base into citable passages: the unit that search ranks and answers cite.

Each passage keeps a stable id (the clause/service/indicator/action id), the chapter path it
belongs to, the exact text we quote, and a richer ``search_text`` (chapter title, neighbouring
sentences, aliases …) that only the search engines see.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from bot.kb.documents.model import Document
from bot.kb.loader import KnowledgeBase
from bot.kb.plan import SEED_CITE

# Plain-language glosses of the indicator units, so "要多少平方米" finds an area indicator.
_UNIT_GLOSS = {"%": "比例 百分比 覆盖率 达到 全覆盖", "平方米": "面积 平方米 多大", "人": "人数 配备 多少人"}


QA_DOCUMENT = "社区问答"


@dataclass(frozen=True)
class Passage:
    id: str  # clause id (plan-7-10), service id, indicator-4, action-2
    type: str  # "plan" | "service" | "indicator" | "action" | "qa"
    title: str
    chapter: str  # chapter path, e.g. "三、扩大城乡社区服务有效供给 › (七)强化为民服务功能"
    text: str  # what an answer quotes
    search_text: str  # what dense search sees (with neighbouring sentences for context)
    sparse_text: str = ""  # what BM25 sees when it differs (the clause alone: neighbours would blur term matches)
    clause: str = ""  # the plan clause a service/action rests on
    agencies: tuple[str, ...] = field(default_factory=tuple)
    document: str = SEED_CITE  # the document's name in citations (《规划》); services keep the default

    def to_json(self) -> dict:
        d = asdict(self)
        d["agencies"] = list(self.agencies)
        return d

    @classmethod
    def from_json(cls, d: dict) -> Passage:
        return cls(**{**d, "agencies": tuple(d.get("agencies", ()))})


def _indicator_text(ind) -> str:
    base = ind.base_2020.text if ind.base_2020 else "无基期值"
    binding = f"（{ind.binding}）" if ind.binding else ""
    return f"{ind.name}：{ind.base_year}年基期值{base}，{ind.target_year}年目标值{ind.target_2025.text}{binding}"


def build_passages(kb: KnowledgeBase, window: int = 0) -> list[Passage]:
    """All passages in a stable order (each document's clauses, indicators, actions; then services)."""
    out: list[Passage] = []
    for doc in kb.documents:
        out.extend(_document_passages(doc, window))
    for svc in kb.services:
        chapter = _chapter_of(kb, svc.clause)
        how = "；".join(svc.how_to_apply.steps)
        mats = "、".join(svc.how_to_apply.materials)
        search = "。".join(
            x
            for x in (
                svc.name,
                " ".join(svc.aliases),
                svc.category,
                " ".join(svc.populations),
                svc.eligible,
                svc.provides,
                how,
                mats,
                svc.where,
            )
            if x
        )
        out.append(
            Passage(
                id=svc.id,
                type="service",
                title=svc.name,
                chapter=chapter,
                text=f"{svc.name}：{svc.provides}",
                search_text=search,
                clause=svc.clause,
                agencies=(svc.agency,),
            )
        )
    return _with_qa(out, getattr(kb, "qa", ()))


def _with_qa(out: list[Passage], entries) -> list[Passage]:
    """Reviewed Q&A entries (``bot.kb.qa``): a linked question joins its passage's search text; an answered one
    is a passage of its own (type "qa"), after all the others so the other passages keep their positions."""
    position = {p.id: i for i, p in enumerate(out)}
    for e in entries:
        if e.link and e.link in position:
            p = out[position[e.link]]
            out[position[e.link]] = replace(
                p,
                search_text=f"{p.search_text}。{e.question}",
                sparse_text=f"{p.sparse_text}。{e.question}" if p.sparse_text else "",
            )
        elif e.answer:
            out.append(
                Passage(
                    id=e.id,
                    type="qa",
                    title=e.question,
                    chapter="",
                    text=e.answer,
                    search_text=f"{e.question}。{e.answer}",
                    sparse_text=e.question,
                    document=QA_DOCUMENT,
                )
            )
    return out


def _document_passages(doc: Document, window: int) -> list[Passage]:
    plan, cite = doc.plan, doc.cite
    out: list[Passage] = []
    chapter_by_id = {c.id: c for c in plan.chapters}
    for ch in plan.chapters:
        sents = ch.sentences
        for k, s in enumerate(sents):
            lo, hi = max(0, k - window), min(len(sents), k + window + 1)
            context = "".join(x.text for x in sents[lo:hi])
            out.append(
                Passage(
                    id=s.id,
                    type="plan",
                    title=f"{ch.title} 第{s.index}句",
                    chapter=ch.path,
                    text=s.text,
                    search_text=f"{ch.heading}。{context}",
                    sparse_text=f"{ch.heading}。{s.text}",
                    clause=s.id,
                    agencies=ch.agencies + ch.local_bodies,
                    document=cite,
                )
            )
    box = plan.indicator_box or "专栏1 主要指标"
    for ind in plan.indicators:
        gloss = _UNIT_GLOSS.get(ind.target_2025.unit, "")
        out.append(
            Passage(
                id=ind.id,
                type="indicator",
                title=f"{box} 第{ind.number}项",
                chapter=box,
                text=_indicator_text(ind),
                search_text=f"指标 目标 {ind.name} {ind.target_year}年{ind.target_2025.text} 要求 {ind.binding} {gloss}",
                clause=ind.id,
                document=cite,
            )
        )
    for act in plan.actions:
        ch = chapter_by_id.get(act.after_chapter)
        out.append(
            Passage(
                id=act.id,
                type="action",
                title=f"{act.box} {act.number}.{act.title}",
                chapter=f"{act.part} › {act.box}",
                text=f"{act.title}。{act.text}",
                search_text=f"{act.title}。{act.text}",
                clause=act.id,
                agencies=(ch.agencies + ch.local_bodies) if ch else (),
                document=cite,
            )
        )
    return out


def _chapter_of(kb: KnowledgeBase, clause_id: str) -> str:
    try:
        doc, chapter = kb.locate(clause_id)
    except KeyError:
        return ""
    action = next((a for a in doc.plan.actions if a.id == clause_id), None)
    if action is not None:
        return f"{action.part} › {action.box}"
    return chapter.path if chapter is not None else doc.plan.indicator_box
