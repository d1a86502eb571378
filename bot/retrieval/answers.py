"""Compose the reply a resident reads: short Chinese text, a "来源：" line, and structured sources.

Pure formatting over the knowledge base; deciding *which* answer to give is the assistant's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.kb.loader import KnowledgeBase
from bot.kb.models import Service
from bot.kb.plan import Indicator

KINDS = ("clause", "service", "agency", "indicator", "out_of_scope")

OUT_OF_SCOPE_REPLY = (
    "抱歉，这个问题不在我掌握的社区服务资料里，我不想随便回答误导您。"
    "如果这是社区里的事，我可以帮您提交一条议事协商，或者请社区工作者联系您。"
)

CLARIFY_REPLY = "您问的是哪件事呢？说一下具体的事，比如“老年食堂归哪个部门管”“医保在哪办”，我好帮您查。"


@dataclass
class Source:
    type: str  # "plan" | "service" | "indicator" | "action"
    id: str
    title: str
    chapter: str
    text: str
    score: float

    def to_dict(self) -> dict:
        return {"type": self.type, "id": self.id, "title": self.title, "chapter": self.chapter, "text": self.text, "score": round(float(self.score), 4)}


@dataclass
class Answer:
    question: str
    kind: str
    answer: str
    sources: list[Source] = field(default_factory=list)
    agencies: list[str] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)  # {"id","name","agency"}
    confidence: float = 1.0  # not part of the public JSON
    matter_category: str | None = None  # consultation category id of a community matter; not part of the public JSON

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "kind": self.kind,
            "answer": self.answer,
            "sources": [s.to_dict() for s in self.sources],
            "agencies": list(self.agencies),
            "services": [dict(s) for s in self.services],
        }


def _dedupe(items) -> list:
    return list(dict.fromkeys(i for i in items if i))


def source_line(sources: list[Source]) -> str:
    parts = []
    for s in sources:
        if s.type == "service":
            parts.append(f"服务目录「{s.title}」")
        elif s.type == "plan":
            parts.append(f"《规划》{s.chapter.split('›')[-1].strip()}（{s.id}）")
        else:
            parts.append(f"《规划》{s.title}")
    return "来源：" + "；".join(_dedupe(parts))


def indicator_text(ind: Indicator) -> str:
    base = f"2020年基期值{ind.base_2020.text}" if ind.base_2020 else "2020年无基期值"
    return f"“{ind.name}”：{base}，2025年目标值{ind.target_2025.text}，属{ind.binding}指标。"


def service_ref(kb: KnowledgeBase, svc: Service) -> dict:
    return {"id": svc.id, "name": svc.name, "agency": svc.agency}


def agency_label(kb: KnowledgeBase, short: str) -> str:
    full = kb.agency_full_name(short)
    return short if full == short else f"{full}（{short}）"


def service_text(kb: KnowledgeBase, svc: Service, aspect: str = "overview") -> str:
    steps = "；".join(f"{i}. {s}" for i, s in enumerate(svc.how_to_apply.steps, 1))
    materials = "、".join(svc.how_to_apply.materials)
    how = f"怎么办：{steps}" + (f"\n要带：{materials}" if materials else "")
    lines = {
        "eligibility": f"谁能办：{svc.eligible}",
        "how_to_apply": how,
        "where": f"在哪办：{svc.where}",
        "agency": f"负责部门：{agency_label(kb, svc.agency)}",
    }
    if aspect == "overview":
        body = [f"{svc.name}：{svc.provides}", lines["eligibility"], how, lines["where"], lines["agency"]]
    else:
        body = [f"关于{svc.name}，{lines[aspect]}"]
        if aspect == "how_to_apply":
            body.append(lines["where"])
        elif aspect == "where":
            body.append(f"办理时间等可提前问社区工作人员。负责部门：{agency_label(kb, svc.agency)}")
    if svc.contact and (svc.contact.phone or svc.contact.hours):
        contact = "，".join(x for x in (svc.contact.phone and f"电话{svc.contact.phone}", svc.contact.hours) if x)
        body.append(f"联系：{contact}" + ("（示例数据）" if svc.contact.example else ""))
    return "\n".join(body)


def chapter_agencies_text(chapter_title: str, agencies: list[str], local: list[str]) -> str:
    depts = "、".join(agencies)
    tail = f"，以及{'、'.join(local)}" if local else ""
    return f"规划{chapter_title}这部分的责任单位是{depts}等部门{tail}，按职责分工负责。"


def _quote_on(text: str, word: str) -> str:
    """The comma-separated piece of a plan sentence that contains ``word`` (the whole sentence if none)."""
    parts = [p for p in text.replace("，", ",").split(",") if p]
    piece = next((p for p in parts if word in p), text)
    return piece.strip("。 ")


def matter_text(category_name: str, committee_types: dict[str, list[str]], grounding: str, sources: list[Source]) -> str:
    """Reply to a community matter: whose committee handles it, the plan sentence behind consultation, next step."""
    where = []
    for kind, types in committee_types.items():
        place = "城市社区" if kind == "社区" else "村里" if kind == "村" else kind
        where.append(f"{place}由{'或'.join(types)}受理")
    routing = "，".join(where) if where else "由您所在社区的居（村）民委员会受理"
    lines = [
        f"这听起来是需要社区里商量解决的具体事务（{category_name}），我没法替您办理，但可以向您所在社区的委员会提出议事协商：{routing}。",
        f"规划要求“{_quote_on(grounding, '议事协商')}”。",
        "需要的话，说“发起议事协商”，我帮您把这件事提交给对应的委员会，并告诉您办理进度。",
        source_line(sources),
    ]
    return "\n".join(lines)
