"""Compose the reply a resident reads: a short Chinese text, one "来源：" line in words, and structured sources.

Short first, details on request: a service's first reply says what it is (the follow-up buttons ask 怎么办 /
要带什么 / 在哪办 / 哪个部门); a clause reply is the exact sentence. The citation names the source the way a
resident reads it (《规划》(七)强化为民服务功能 第4句, 服务目录「社区老年助餐」); ids stay in the JSON ``sources``.
Example contact numbers in the sample catalogue are never shown; the reply says whom to ask instead.
Pure formatting over the knowledge base; deciding *which* answer to give is the assistant's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.kb.loader import KnowledgeBase
from bot.kb.models import Service
from bot.kb.plan import SEED_CITE, Indicator
from bot.retrieval.question import ASKS_HOW
from linli_common import citation

KINDS = ("clause", "service", "agency", "indicator", "qa", "out_of_scope")

OUT_OF_SCOPE_REPLY = (
    "抱歉，我掌握的社区服务资料里没有这方面的内容，不想随便回答误导您。"
    "社区里的事我可以帮您提交议事协商或请社区工作者联系您；其他政务问题请拨打12345政务服务便民热线。"
)

CLARIFY_REPLY = "您问的是哪件事呢？说一下具体的事，比如“老年食堂归哪个部门管”“医保在哪办”，我好帮您查。"


@dataclass
class Source:
    type: str  # "plan" | "service" | "indicator" | "action" | "qa"
    id: str
    title: str
    chapter: str
    text: str
    score: float
    document: str = SEED_CITE  # the document's name in citations; not part of the public JSON

    def to_dict(self) -> dict:
        return {
            "type": self.type,
            "id": self.id,
            "title": self.title,
            "chapter": self.chapter,
            "text": self.text,
            "score": round(float(self.score), 4),
        }


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
    cited: int = 1  # how many leading ``sources`` the "来源：" line names (the rest are further search hits)
    body: str = ""  # the reply without its "来源：" line (to join the parts of a two-part question)
    topic: str | None = None  # why it was declined: an off-topic topic id or "other_place"; not in the JSON
    kb_version: str = ""  # the knowledge version that answered ("seed", "v0003"); logged, not in the JSON

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "kind": self.kind,
            "answer": self.answer,
            "sources": [s.to_dict() for s in self.sources],
            "agencies": list(self.agencies),
            "services": [dict(s) for s in self.services],
        }


def source_label(s: Source) -> str:
    """Where a source is, in words a resident reads (no ids): linli_common.citation, shared with the channels.

    A table's row is cited by the table's number and the row (《规划》专栏1 第8项): the table's long name adds
    nothing a resident needs to find it, and the reply stays short."""
    title = s.title
    words = title.split(" ")
    if s.type in ("indicator", "action") and title.startswith("专栏") and len(words) >= 3:
        title = f"{words[0]} {words[-1]}"
    return citation.source_label(s.type, title, s.document)


def source_line(sources: list[Source]) -> str:
    return citation.source_line(source_label(s) for s in sources)


def finish(ans: Answer, body: str, cited: int) -> Answer:
    """Set the reply text: the body, then one citation line naming the first ``cited`` sources."""
    ans.body, ans.cited = body, max(0, min(cited, len(ans.sources)))
    line = source_line(ans.sources[: ans.cited])
    ans.answer = f"{body}\n{line}" if line else body
    return ans


def indicator_text(ind: Indicator, gap: bool = False) -> str:
    """An indicator's figures; with ``gap`` (还差多少 / 要增加多少) also the distance from the base to the target."""
    base = f"{ind.base_year}年基期值{ind.base_2020.text}" if ind.base_2020 else f"{ind.base_year}年无基期值"
    binding = f"，属{ind.binding}指标" if ind.binding else ""
    text = f"“{ind.name}”：{base}，{ind.target_year}年目标值{ind.target_2025.text}{binding}。"
    if gap and ind.base_2020 is not None and ind.base_2020.unit == ind.target_2025.unit:
        diff = round(ind.target_2025.value - ind.base_2020.value, 2)
        more = "至少" if ind.target_2025.comparator in ("≥", ">") else ""
        text += f"比基期{more}增加{diff:g}{ind.target_2025.unit}。" if diff > 0 else "目标与基期持平。"
    return text


def service_ref(kb: KnowledgeBase, svc: Service) -> dict:
    return {"id": svc.id, "name": svc.name, "agency": svc.agency}


def agency_label(kb: KnowledgeBase, short: str) -> str:
    full = kb.agency_full_name(short)
    return short if full == short else f"{full}（{short}）"


ASK_LOCALLY = "具体时间和电话可以问您所在社区的居（村）委会或党群服务中心。"


def contact_line(svc: Service) -> str:
    """A real contact when the catalogue has one; example data is never shown as if it were real."""
    c = svc.contact
    if c and not c.example and (c.phone or c.hours):
        return "联系：" + "，".join(x for x in (c.phone and f"电话{c.phone}", c.hours) if x)
    return ASK_LOCALLY


def service_text(kb: KnowledgeBase, svc: Service, aspect: str = "overview") -> str:
    """One aspect of a catalogue entry, short; "details" is the whole entry (on request)."""
    steps = "；".join(f"{i}. {s}" for i, s in enumerate(svc.how_to_apply.steps, 1))
    materials = "、".join(svc.how_to_apply.materials)
    if aspect == "overview":
        return f"{svc.name}：{svc.provides}"
    if aspect == "eligibility":
        return f"{svc.name}谁能办：{svc.eligible}"
    if aspect == "how_to_apply":
        return f"{svc.name}怎么办：{steps}" + (f"\n要带：{materials}" if materials else "")
    if aspect == "materials":
        return f"办{svc.name}要带：{materials}" if materials else f"{svc.name}没有列出要带的材料，{ASK_LOCALLY}"
    if aspect == "where":
        return f"{svc.name}在哪办：{svc.where}\n{contact_line(svc)}"
    if aspect == "agency":
        return f"{svc.name}由{agency_label(kb, svc.agency)}负责。"
    if aspect == "details":
        return "\n".join(
            [f"{svc.name}：{svc.provides}", f"谁能办：{svc.eligible}", f"怎么办：{steps}"]
            + ([f"要带：{materials}"] if materials else [])
            + [f"在哪办：{svc.where}", f"负责部门：{agency_label(kb, svc.agency)}", contact_line(svc)]
        )
    raise ValueError(aspect)


def document_word(cite: str) -> str:
    """How a reply names a document in a sentence: 规划 for the seed plan, 《…》 for the others."""
    return cite if cite == SEED_CITE else f"《{cite}》"


def chapter_agencies_text(chapter_title: str, agencies: list[str], local: list[str], document: str = SEED_CITE) -> str:
    depts = "、".join(agencies)
    tail = f"，以及{'、'.join(local)}" if local else ""
    return f"{document_word(document)}{chapter_title}这部分的责任单位是{depts}等部门{tail}，按职责分工负责。"


def topic_agencies_text(
    name: str,
    lead: str,
    also: list[str],
    chapter_title: str,
    whole: list[str] | None,
    document: str = SEED_CITE,
    local: list[str] | None = None,
) -> str:
    """Who answers for one topic: the catalogue's agency, then the plan's agencies for the whole chapter (``whole``,
    a short list) or the others whose duties are this topic (``also``); ``local``: the chapter's local bodies
    (各乡(镇)人民政府、街道办事处), given when the question asks who carries it out on the ground."""
    text = f"{name}由{lead}负责。"
    ground = "、".join(local or [])
    if whole:
        bodies = f"{'、'.join(whole)}等部门" + (f"及{ground}" if ground else "")
        return text[:-1] + f"；{document_word(document)}{chapter_title}的责任单位是{bodies}，按职责分工负责。"
    if also:
        text = text[:-1] + f"，{'、'.join(also)}也负责这方面（{document_word(document)}{chapter_title}）。"
    return text[:-1] + f"；基层由{ground}按职责分工落实。" if ground else text


def excerpt(
    sentence: str, question: str, common: frozenset[str] = frozenset(), longest: int = 60, min_saving: int = 20
) -> str:
    """A long plan sentence cut to the run of comma-separated pieces the question is about, the cuts marked “…”
    (the words stay the plan's own; the whole sentence is in the sources). Short sentences stay whole, and so does
    a sentence the question's topic runs through (养老 in most of its pieces). ``common``: character pairs too
    frequent in the plan to say what a question is about (社区, 服务)."""
    if len(sentence) <= longest:
        return sentence
    pieces = [p for p in re.split(r"(?<=[,，;；])", sentence) if p]
    pairs = {question[i : i + 2] for i in range(len(question) - 1) if _HAN2.fullmatch(question[i : i + 2])} - common
    hits = [i for i, p in enumerate(pieces) if any(b in p for b in pairs)]
    if not hits or any(sum(b in p for p in pieces) * 2 > len(pieces) for b in pairs):
        return sentence
    first, last = hits[0], hits[-1]
    if ASKS_HOW.search(question):  # 要怎么发展: the measures come after what they are about
        last = len(pieces) - 1
    text = ("…" if first > 0 else "") + "".join(pieces[first : last + 1]).rstrip(",，;；")
    text += "…" if last < len(pieces) - 1 else ""
    return text if len(sentence) - len(text) >= min_saving else sentence


_HAN2 = re.compile(r"[\u4e00-\u9fff]{2}")
_HOW_MANY_KINDS = re.compile(r"(?<!哪)几(类|种|项|样|个方面)")


def items_count(sentence: str, question: str, least: int = 3) -> str:
    """“6类” when the question asks how many kinds (重点照顾几类人) and the quoted sentence's longest 、-list names
    them (its items counted as written), so the reply says 规划列了6类; "" otherwise."""
    m = _HOW_MANY_KINDS.search(question)
    if not m:
        return ""
    n = max(p.count("、") for p in re.split(r"[,，;；。:：]", sentence)) + 1
    return f"{n}{m.group(1)}" if n >= least else ""


def _quote_on(text: str, word: str) -> str:
    """The comma-separated piece of a plan sentence that contains ``word`` (the whole sentence if none)."""
    parts = [p for p in text.replace("，", ",").split(",") if p]
    piece = next((p for p in parts if word in p), text)
    return piece.strip("。 ")


def matter_text(category_name: str, committee_types: dict[str, list[str]], grounding: str, urgent: bool = False) -> str:
    """Reply to a community matter: whose committee handles it, the plan sentence behind consultation, next step;
    a complaint that cannot wait for a meeting (``urgent``: 投诉, 停了三天) also gets the city's hotline."""
    where = []
    for kind, types in committee_types.items():
        place = "城市社区" if kind == "社区" else "村里" if kind == "村" else kind
        where.append(f"{place}由{'或'.join(types)}受理")
    routing = "，".join(where) if where else "由您所在社区的居（村）民委员会受理"
    return "\n".join(
        [
            f"这是需要社区里商量解决的事（{category_name}），可以提出议事协商：{routing}。",
            f"规划要求“{_quote_on(grounding, '议事协商')}”。说“发起议事协商”，我帮您提交并告诉您进度。",
            *(["着急的话，也可以拨打12345政务服务便民热线投诉。"] if urgent else []),
        ]
    )


def with_contact(ans: Answer, community) -> Answer:
    """Say whom to ask in the resident's own community (its 居委会/村委会 office) where a service has no real contact.

    ``community`` is the one the conversation named (None: the general pointer stays)."""
    if community is None or ASK_LOCALLY not in ans.answer:
        return ans
    local = whom_to_ask(community)
    ans.answer, ans.body = ans.answer.replace(ASK_LOCALLY, local), ans.body.replace(ASK_LOCALLY, local)
    return ans


def whom_to_ask(community) -> str:
    """A community's own contact for residents: its 居委会/村委会 office when real data is known, else whom to ask."""
    office_of = next((m for m in community.committees if m.fallback), community.committees[0])
    o = office_of.office
    if o is not None and not o.example and (o.phone or o.address):
        parts = [x for x in (o.phone and f"电话{o.phone}", o.address and f"地址{o.address}", o.hours) if x]
        return f"{office_of.name}：" + "，".join(parts)
    return f"可以直接到{office_of.name}或社区党群服务中心问，工作人员会告诉您具体时间和电话。"
