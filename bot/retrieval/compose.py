"""Composing answers from the knowledge base: a service, an indicator, an agency or a plan clause, with its sources.

Split from ``bot.retrieval.assistant`` so the wording of each kind of answer, and how its citations are filled up
to ``top_k``, lives apart from deciding which kind a question wants. :class:`Composition` is a mixin of
:class:`bot.retrieval.assistant.Assistant` and reads the attributes it sets (``kb``, ``retriever``, ``matters``,
``_services_by_clause``, ``_indicators``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.errors import UserFacingError
from bot.kb.loader import KnowledgeBase
from bot.kb.models import Service
from bot.retrieval import answers as A
from bot.retrieval.duties import across_chapters_text, chapter_of, names_all, topic_agencies
from bot.retrieval.matter import MatterDetector, MatterSignal, committee_types, grounding_clause_ids
from bot.retrieval.passages import Passage
from bot.retrieval.question import ASPECTS, CLAUSE_CUE, GAP_CUE, LIST_CUE, WHOLE_QUOTE_CUE
from bot.retrieval.search import Hit, Retriever

# A matter the resident complains of, or that has gone on for days: the hotline too, not only a meeting.
_COMPLAINT = re.compile(
    r"投诉|举报|(好几|几|[两三四五六七八九十\d])天了?(都|还)?(没|不)|(停|断)了?[^，。？?]{0,3}(几|好几|[两三四五六七八九十\d])天"
)
#: A question about who carries a matter out on the ground, below the city's agencies.
_GROUND_ASK = re.compile(r"基层|乡镇|镇里|镇上|街道|落实|除了市(里|级)")


class Composition:
    """The answers of each kind, for a service, indicator, agency or passage already chosen."""

    kb: KnowledgeBase
    retriever: Retriever
    matters: MatterDetector | None
    _services_by_clause: dict[str, list[Service]]
    _indicators: dict
    _not_outranked: Callable[[Hit, list[Hit]], bool]  # the routing's: may a service hit answer for the search

    def service_answer(
        self,
        service_id: str,
        aspect: str = "overview",
        *,
        question: str = "",
        hits: list[Hit] | None = None,
        top_k: int = 3,
        community: str | None = None,
    ) -> A.Answer:
        if aspect not in ASPECTS:
            raise ValueError(f"aspect must be one of {ASPECTS}")
        try:
            svc = self.kb.service(service_id)
        except KeyError:
            raise UserFacingError("抱歉，没有找到这项服务，请换个说法再问我。", code="unknown_service") from None
        sources = [self._service_source(svc, _score_of(svc.id, hits))] + self._clause_sources(
            svc.clause, _score_of(svc.clause, hits)
        )
        agencies = [svc.agency]
        text = A.service_text(self.kb, svc, aspect)
        if aspect == "agency":
            text, whole = self._service_agencies_text(svc, question)
            agencies += self._chapter_agencies(svc.clause)
            if not whole and (question and LIST_CUE.search(question) or "哪些" in question):
                text += "\n" + self._chapter_agency_line(svc.clause)
        sources = self._fill(sources, hits, top_k)
        kind = "agency" if aspect == "agency" else "service"
        ans = A.Answer(
            question or svc.name,
            kind,
            "",
            sources,
            _uniq(agencies),
            [A.service_ref(self.kb, svc)],
            kb_version=self.kb.version,
        )
        return A.with_contact(A.finish(ans, text, 1), self.community(community))

    def _service_agencies_text(self, svc: Service, question: str = "") -> tuple[str, bool]:
        """“这项服务归哪个部门”: the catalogue's agency and the plan's agencies for its topic; True when those are
        the whole chapter's list. A question about the ground level (基层谁落实, 街道管不管) also gets the chapter's
        local bodies."""
        ch = chapter_of(self.kb, svc.clause)
        named = topic_agencies(self.kb, svc.clause, f"{svc.name}{svc.provides}", svc.agency, self._common_pairs())
        whole = list(ch.agencies) if names_all(ch) else None
        title, document = (ch.title, self.kb.locate(svc.clause)[0].cite) if ch else ("", "")
        lead = A.agency_label(self.kb, svc.agency)
        also = [a for a in named if a != svc.agency]
        local = list(ch.local_bodies) if ch and _GROUND_ASK.search(question or "") else None
        return A.topic_agencies_text(svc.name, lead, also, title, whole, document, local), bool(whole)

    def indicator_answer(
        self, indicator_id: str, *, question: str = "", hits: list[Hit] | None = None, top_k: int = 3
    ) -> A.Answer:
        ind = self._indicators.get(indicator_id)
        if ind is None:
            raise UserFacingError(
                "抱歉，没有找到这个指标。规划专栏1共有8项指标，您可以说出指标名称再问我。", code="unknown_indicator"
            )
        p = self._passage(indicator_id)
        sources = self._fill([_source(p, _score_of(p.id, hits))], hits, top_k)
        ans = A.Answer(question or ind.name, "indicator", "", sources, [], [], kb_version=self.kb.version)
        return A.finish(ans, A.indicator_text(ind, gap=bool(GAP_CUE.search(question))), 1)

    def _indicator_list(self, q: str, hits: list[Hit], top_k: int) -> A.Answer:
        """“哪几个指标…”: the indicators that fit the wording (no 2020 baseline, binding or not), else all of them."""
        inds = list(self.kb.indicators)
        if re.search(r"没有基期|无基期|没基期|基期.{0,3}(空|没有)", q):
            inds = [i for i in inds if i.base_2020 is None]
        elif "约束性" in q:
            inds = [i for i in inds if i.binding == "约束性"]
        elif "预期性" in q:
            inds = [i for i in inds if i.binding == "预期性"]
        sources = [_source(self._passage(i.id), _score_of(i.id, hits)) for i in inds]
        with_base = re.search(r"基期|现在|2020", q)
        body = f"共{len(inds)}项：" + "；".join(
            f"{i.name}（{_span(i) if with_base else '2025年' + i.target_2025.text}）" for i in inds
        )
        return A.finish(A.Answer(q, "indicator", "", sources, [], []), body, len(sources))

    def _agency_chapters_answer(self, q: str, agency, top_k: int) -> A.Answer:
        """“市妇联负责规划哪部分”: the chapters whose closing parenthesis names the agency, and its duties."""
        chapters = [c for c in self.kb.plan.chapters if agency.name in (*c.agencies, *c.local_bodies)]
        sources = []
        for c in chapters:
            p = next((p for p in self.retriever.passages if p.type == "plan" and p.chapter.endswith(c.title)), None)
            if p is not None:
                sources.append(_source(p, 1.0))
        if chapters:
            count = f"{len(chapters)}部分" if len(chapters) > 1 else ""
            body = f"{agency.name}是规划{count}{'、'.join(c.title for c in chapters)}的责任单位，按职责分工负责：{agency.duties}"
        else:
            body = f"规划的责任单位里没有写{agency.name}。"
        ans = A.Answer(q, "agency", "", sources[: max(top_k, len(sources))], [agency.name], [])
        return A.finish(ans, body, len(sources))

    def _chapter_agencies_answer(self, q: str, chapter, top_k: int) -> A.Answer:
        """“（七）列了哪些责任部门”: the chapter the question points at, its closing list of responsible bodies."""
        p = next((p for p in self.retriever.passages if p.type == "plan" and p.chapter.endswith(chapter.title)), None)
        sources = [_source(p, 1.0)] if p is not None else []
        body = A.chapter_agencies_text(chapter.title, list(chapter.agencies), list(chapter.local_bodies))
        if re.search(r"几|多少", q):  # 点名了几个部门: the count of municipal agencies it names, then the list
            body = f"共{len(chapter.agencies)}个市级部门。" + body
        ans = A.Answer(q, "agency", "", sources, list(chapter.agencies + chapter.local_bodies), [])
        return A.finish(ans, body, len(sources))

    def _across_chapters_answer(self, q: str, chapters, every: bool) -> A.Answer:
        """“(六)和(七)都有哪些部门” / “三节都列了哪个部门” / “一共几个部门”: the lists of several chapters."""
        sources = []
        for c in chapters:
            p = next((p for p in self.retriever.passages if p.type == "plan" and p.chapter.endswith(c.title)), None)
            if p is not None:
                sources.append(_source(p, 1.0))
        body = across_chapters_text(chapters, every, bool(re.search(r"几|多少", q)))
        agencies = _uniq([a for c in chapters for a in c.agencies])
        return A.finish(A.Answer(q, "agency", "", sources, agencies, []), body, len(sources))

    def _service_list(self, q: str, services: list[Service], hits: list[Hit], top_k: int) -> A.Answer:
        """“有哪几种…”: the matching catalogue entries by name, one line each."""
        sources = [self._service_source(s, _score_of(s.id, hits)) for s in services]
        body = "有这几项：\n" + "\n".join(f"· {s.name}：{_first_clause(s.provides)}" for s in services)
        ans = A.Answer(
            q,
            "service",
            "",
            sources,
            _uniq([s.agency for s in services]),
            [A.service_ref(self.kb, s) for s in services],
        )
        return A.finish(ans, body, len(sources))

    def _matter_answer(self, q: str, matter: MatterSignal, top_k: int) -> A.Answer:
        """A community matter: out of the catalogue's scope, but with the committee and the plan clause behind it."""
        category = self.matters.categories[matter.category]
        ids = grounding_clause_ids(self.kb, category)
        sources = [_source(self._passage(pid), 1.0) for pid in ids][: max(1, top_k)]
        grounding = sources[0].text if sources else "围绕群众关心的服务事项广泛开展议事协商"
        urgent = bool(_COMPLAINT.search(q))
        text = A.matter_text(category.name, committee_types(self.kb, category.id), grounding, urgent)
        ans = A.Answer(q, "out_of_scope", "", sources, [], [], confidence=matter.score, matter_category=category.id)
        return A.finish(ans, text, len(sources))

    def _agency_answer(self, q: str, hits: list[Hit], top_k: int, mentioned: Service | None) -> A.Answer:
        svc = mentioned or next(
            (
                self.kb.service(h.passage.id)
                for h in hits[:2]
                if h.passage.type == "service" and self._not_outranked(h, hits)
            ),
            None,
        )
        if svc is not None and not CLAUSE_CUE.search(q):
            return self.service_answer(svc.id, "agency", question=q, hits=hits, top_k=top_k)
        backing = self._clause_sources(svc.clause, _score_of(svc.clause, hits)) if svc is not None else []
        if backing:  # 规划写的负责单位 about a service: its own clause's chapter, not the first plan sentence found
            hit = Hit(self._passage(backing[0].id), backing[0].score, 0.0, 0.0)
        else:
            hit = next((h for h in hits if h.passage.type in ("plan", "action")), hits[0])
        p = hit.passage
        agencies = self._chapter_agencies(p.clause or p.id)
        sources = self._fill([_source(p, hit.score)], hits, top_k)
        line = self._chapter_agency_line(p.clause or p.id) or "规划没有写明这一条的责任部门，建议向社区工作者咨询。"
        services = [A.service_ref(self.kb, s) for s in self._services_by_clause.get(p.id, [])]
        return A.finish(A.Answer(q, "agency", "", sources, agencies, services), line, 1)

    def _clause_answer(self, q: str, hit: Hit, hits: list[Hit], top_k: int) -> A.Answer:
        p = hit.passage
        if p.type == "service":
            linked = self._clause_sources(p.clause, _score_of(p.clause, hits))
            if linked:
                p = self._passage(linked[0].id)
        sources = self._fill([_source(p, _score_of(p.id, hits))], hits, top_k)
        services = self._services_by_clause.get(p.id, [])
        quote = p.text if WHOLE_QUOTE_CUE.search(q) else A.excerpt(p.text, q, self._common_pairs())
        count = A.items_count(quote, q)  # 重点照顾几类人: 规划列了6类; where it stands is the 来源 line's to say
        said = f"列了{count}" if count else "写道"
        text = f"{A.document_word(p.document)}{said}：“{quote}”"
        return A.finish(
            A.Answer(
                q, "clause", "", sources, self._chapter_agencies(p.id), [A.service_ref(self.kb, s) for s in services]
            ),
            text,
            1,
        )

    def _common_pairs(self, share: float = 0.2) -> frozenset[str]:
        """Character pairs in more than ``share`` of the plan's sentences (社区, 服务): they say nothing about which
        part of a sentence a question is about."""
        cached = getattr(self, "_common_pairs_cache", None)
        if cached is None:
            texts = [p.text for p in self.retriever.passages if p.type in ("plan", "action")]
            counts: dict[str, int] = {}
            for t in texts:
                for pair in {t[i : i + 2] for i in range(len(t) - 1)}:
                    counts[pair] = counts.get(pair, 0) + 1
            cached = frozenset(p for p, n in counts.items() if n > share * max(1, len(texts)))
            self._common_pairs_cache = cached
        return cached

    def _passage(self, pid: str) -> Passage:
        for p in self.retriever.passages:
            if p.id == pid:
                return p
        raise KeyError(pid)

    def _service_source(self, svc: Service, score: float) -> A.Source:
        return _source(self._passage(svc.id), score)

    def _clause_sources(self, clause_id: str, score: float) -> list[A.Source]:
        try:
            return [_source(self._passage(clause_id), score)]
        except KeyError:
            return []

    def _chapter_of(self, clause_id: str):
        try:
            return self.kb.locate(clause_id)[1]
        except KeyError:
            return None

    def _chapter_agencies(self, clause_id: str) -> list[str]:
        ch = self._chapter_of(clause_id)
        return list(ch.agencies + ch.local_bodies) if ch else []

    def _chapter_agency_line(self, clause_id: str) -> str:
        ch = self._chapter_of(clause_id)
        if ch is None:
            return ""
        document = self.kb.locate(clause_id)[0].cite
        return A.chapter_agencies_text(ch.title, list(ch.agencies), list(ch.local_bodies), document)

    def _fill(self, primary: list[A.Source], hits: list[Hit] | None, top_k: int) -> list[A.Source]:
        """The cited sources first, then the next-best search hits, up to top_k (at least the cited ones)."""
        out = list(primary)
        seen = {s.id for s in out}
        for h in hits or []:
            if len(out) >= top_k:
                break
            if h.passage.id not in seen:
                out.append(_source(h.passage, h.score))
                seen.add(h.passage.id)
        return out


def _source(p: Passage, score: float) -> A.Source:
    return A.Source(p.type, p.id, p.title, p.chapter, p.text, score, p.document)


def _score_of(pid: str, hits: list[Hit] | None) -> float:
    """The fused search score of a cited passage (1.0 when cited without a search, e.g. by id)."""
    if hits is None:
        return 1.0
    return next((h.score for h in hits if h.passage.id == pid), 0.0)


def _span(ind) -> str:
    """An indicator's base and target in a few characters: 2020年14.3人→2025年18人."""
    base = f"{ind.base_year}年{ind.base_2020.text}" if ind.base_2020 else f"{ind.base_year}年无基期值"
    return f"{base}→{ind.target_year}年{ind.target_2025.text}"


def _first_clause(text: str) -> str:
    """The first phrase of a catalogue description (up to the first 、，；), for one-line lists."""
    return re.split(r"[，；。]", text, maxsplit=1)[0]


def _merge(q: str, answers: list[A.Answer], top_k: int) -> A.Answer:
    """One reply for the parts of a question: each part's text once, one citation line for all of them."""
    seen: set[str] = set()
    kept = []
    for a in answers:
        if a.body in seen or (len(answers) > 1 and a.kind == "out_of_scope" and not a.topic and not a.sources):
            continue  # a repeat, or a part the assistant could not place while another part was answered
        seen.add(a.body)
        kept.append(a)
    kept = [a for a in kept if not any(b is not a and a.body and a.body in b.body for b in kept)]  # said by another
    if not kept:
        kept = answers[:1]
    if len(kept) == 1:
        return kept[0]
    answered = [a for a in kept if a.kind != "out_of_scope"] or kept
    cited = _dedupe_sources(s for a in kept for s in a.sources[: a.cited])
    rest = _dedupe_sources(s for a in kept for s in a.sources[a.cited :] if s.id not in {c.id for c in cited})
    ans = A.Answer(
        q,
        answered[0].kind,
        "",
        cited + rest[: max(0, top_k - len(cited))],
        _uniq([x for a in kept for x in a.agencies]),
        list({s["id"]: s for a in kept for s in a.services}.values()),
        confidence=min(a.confidence for a in answered),
        matter_category=answered[0].matter_category,
    )
    return A.finish(ans, "\n".join(a.body for a in kept), len(cited))


def _dedupe_sources(sources) -> list[A.Source]:
    out, ids = [], set()
    for s in sources:
        if s.id not in ids:
            ids.add(s.id)
            out.append(s)
    return out


def _uniq(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
