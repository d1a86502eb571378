"""The assistant: validate a question, search, decide what kind of answer it wants, compose it.

Decisions use generic wording cues (哪个部门 → agency, 指标/多少 → indicator, 材料 → how to apply)
together with what the search found; nothing here knows individual questions.
"""

from __future__ import annotations

import logging
import threading
import time

from bot.errors import UserFacingError
from bot.kb.loader import KnowledgeBase, load_kb
from bot.kb.models import Service
from bot.kb.terms import domain_terms, tokenizer
from bot.retrieval import answers as A
from bot.retrieval.bm25 import BM25, make_analyzer
from bot.retrieval.gate import GateParams, GateSignal, ScopeGate
from bot.retrieval.index import index_dir, load_or_build
from bot.retrieval.matter import MatterDetector, MatterParams, MatterSignal, committee_types, grounding_clause_ids
from bot.retrieval.passages import Passage, build_passages
from bot.retrieval.question import AGENCY_CUE, ASPECTS, CLAUSE_CUE, INDICATOR_CUE, aspect_of, clean_question, names_no_topic
from bot.retrieval.search import FusionParams, Hit, Retriever, SearchResult

log = logging.getLogger(__name__)


class Assistant:
    def __init__(self, kb: KnowledgeBase, retriever: Retriever, max_question_chars: int, gate: ScopeGate, index_meta: dict | None = None,
                 matters: MatterDetector | None = None):
        self.kb = kb
        self.matters = matters
        self.retriever = retriever
        self.max_question_chars = max_question_chars
        self.gate = gate
        self.index_meta = index_meta or {}
        self._services_by_clause: dict[str, list[Service]] = {}
        for s in kb.services:
            self._services_by_clause.setdefault(s.clause, []).append(s)
        self._indicators = {i.id: i for i in kb.plan.indicators}
        self._names = sorted(((n, s) for s in kb.services for n in (s.name, *s.aliases) if len(n) >= 2), key=lambda x: -len(x[0]))

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def build(cls, settings=None, *, force_rebuild: bool = False, progress: bool = True, embedder=None) -> "Assistant":
        from bot.retrieval.embedder import load_embedder
        from bot.settings import get_settings

        settings = settings or get_settings()
        kb = load_kb(settings.kb_dir)
        embedder = embedder or load_embedder(settings)
        window = settings.retrieval_sentence_window
        dense = load_or_build(
            index_dir(settings.cache_dir), lambda: build_passages(kb, window=window), embedder, kb.fingerprint,
            force=force_rebuild, progress=progress, options={"window": window},
        )
        analyzer = make_analyzer(tokenizer(kb.kb_dir).lcut_for_search)
        bm25 = BM25([analyzer(p.sparse_text or p.search_text) for p in dense.passages])
        params = FusionParams(settings.retrieval_rrf_k, settings.retrieval_dense_weight, settings.retrieval_sparse_weight)
        retriever = Retriever(dense.passages, dense.faiss_index, bm25, analyzer, embedder, params)
        gate_params = GateParams(
            settings.retrieval_gate_threshold, settings.retrieval_gate_sparse_weight,
            settings.retrieval_gate_cue_bonus, settings.retrieval_gate_domain_bonus,
        )
        gate = ScopeGate.build(embedder, domain_terms(kb), gate_params)
        matter_params = MatterParams(
            settings.retrieval_matter_threshold, settings.retrieval_matter_keyword_bonus,
            settings.retrieval_matter_cue_bonus, settings.retrieval_matter_min_cosine,
        )
        matter_ids = [c.strip() for c in settings.retrieval_matter_categories.split(",") if c.strip()]
        matters = MatterDetector.build(kb, embedder, matter_ids, matter_params)
        meta = {k: v for k, v in dense.meta.items() if k != "passages"} | {"rebuilt": dense.rebuilt}
        return cls(kb, retriever, settings.max_question_chars, gate, meta, matters)

    # ---- public API ---------------------------------------------------------------------
    def search(self, question: object, mode: str = "hybrid", k: int | None = None) -> SearchResult:
        q = clean_question(question, self.max_question_chars)
        return self.retriever.search(q, k=k or len(self.retriever.passages), mode=mode)

    def scope(self, q: str, result: SearchResult, params: GateParams | None = None) -> GateSignal:
        """The out-of-scope gate's signals for a cleaned question and its search result."""
        return self.gate.signal(q, self.retriever.query_vector(q), result.dense_top, result.sparse_top, params)

    def matter(self, q: str, result: SearchResult, params: MatterParams | None = None) -> MatterSignal | None:
        """Community-matter signals for a cleaned question and its search result.

        None when it cannot be a matter: no detector, a service named outright, or wording that asks for a
        plan clause or an indicator."""
        if self.matters is None or self._mentioned_service(q) is not None or CLAUSE_CUE.search(q) or INDICATOR_CUE.search(q):
            return None
        texts = [_service_text(s) for s in self._services_near(result.hits)]
        return self.matters.signal(q, self.retriever.query_vector(q), result.dense_top, texts, params)

    def ask(self, question: object, top_k: int = 3, service_hint: str | None = None) -> Answer:
        q = clean_question(question, self.max_question_chars)
        top_k = max(1, min(int(top_k), 10))
        started = time.perf_counter()
        result = self.retriever.search(q, k=len(self.retriever.passages))
        answer = self._decide(q, result, top_k, service_hint)
        # free text may hold names we cannot detect: log its size and the outcome, never the words
        log.info("ask kind=%s conf=%.3f %.0fms chars=%d top=%s", answer.kind, answer.confidence,
                 1000 * (time.perf_counter() - started), len(q), answer.sources[0].id if answer.sources else "-")
        return answer

    def service_answer(self, service_id: str, aspect: str = "overview", *, question: str = "", hits: list[Hit] | None = None, top_k: int = 3) -> Answer:
        if aspect not in ASPECTS:
            raise ValueError(f"aspect must be one of {ASPECTS}")
        try:
            svc = self.kb.service(service_id)
        except KeyError:
            raise UserFacingError("抱歉，没有找到这项服务，请换个说法再问我。", code="unknown_service") from None
        sources = [self._service_source(svc, _score_of(svc.id, hits))] + self._clause_sources(svc.clause, _score_of(svc.clause, hits))
        agencies = [svc.agency]
        if aspect == "agency":
            agencies += self._chapter_agencies(svc.clause)
        text = A.service_text(self.kb, svc, aspect)
        sources = self._fill(sources, hits, top_k)
        kind = "agency" if aspect == "agency" else "service"
        return A.Answer(question or svc.name, kind, f"{text}\n{A.source_line(sources[:2])}", sources, _uniq(agencies), [A.service_ref(self.kb, svc)])

    def indicator_answer(self, indicator_id: str, *, question: str = "", hits: list[Hit] | None = None, top_k: int = 3) -> Answer:
        ind = self._indicators.get(indicator_id)
        if ind is None:
            raise UserFacingError("抱歉，没有找到这个指标。规划专栏1共有8项指标，您可以说出指标名称再问我。", code="unknown_indicator")
        p = self._passage(indicator_id)
        sources = self._fill([_source(p, _score_of(p.id, hits))], hits, top_k)
        return A.Answer(question or ind.name, "indicator", f"{A.indicator_text(ind)}\n{A.source_line(sources[:1])}", sources, [], [])

    # ---- decisions ----------------------------------------------------------------------
    def _decide(self, q: str, result: SearchResult, top_k: int, service_hint: str | None) -> A.Answer:
        hits = result.hits
        aspect = aspect_of(q)
        hint = self._service_or_none(service_hint)
        mentioned = self._mentioned_service(q)
        if hint and aspect and (mentioned is None or mentioned.id == hint.id):
            return self._with(self.service_answer(hint.id, aspect, question=q, hits=hits, top_k=top_k), q, 1.0)
        if mentioned is None and names_no_topic(q):  # "这事归哪个部门管" without context: ask, don't guess
            return A.Answer(q, "out_of_scope", A.CLARIFY_REPLY, [], [], [], confidence=0.0)
        signal = self.scope(q, result)
        conf = signal.score
        matter = self.matter(q, result)
        if matter is not None and self.matters.is_matter(matter):
            return self._matter_answer(q, matter, top_k)
        if not self.gate.in_scope(signal) and mentioned is None:
            return A.Answer(q, "out_of_scope", A.OUT_OF_SCOPE_REPLY, [], [], [], confidence=conf)
        top = hits[0].passage
        if INDICATOR_CUE.search(q):
            ind_hit = next((h for h in hits[:3] if h.passage.type == "indicator"), None)
            if ind_hit is not None:
                return self._with(self.indicator_answer(ind_hit.passage.id, question=q, hits=hits, top_k=top_k), q, conf)
        if AGENCY_CUE.search(q):
            return self._with(self._agency_answer(q, hits, top_k, mentioned), q, conf)
        if CLAUSE_CUE.search(q):
            clause_hit = next((h for h in hits if h.passage.type in ("plan", "action")), hits[0])
            return self._with(self._clause_answer(q, clause_hit, hits, top_k), q, conf)
        svc = mentioned or self._service_near_top(hits)
        if svc is not None:
            return self._with(self.service_answer(svc.id, aspect or "overview", question=q, hits=hits, top_k=top_k), q, conf)
        if top.type == "indicator":
            return self._with(self.indicator_answer(top.id, question=q, hits=hits, top_k=top_k), q, conf)
        return self._with(self._clause_answer(q, hits[0], hits, top_k), q, conf)

    def _matter_answer(self, q: str, matter: MatterSignal, top_k: int) -> A.Answer:
        """A community matter: out of the catalogue's scope, but with the committee and the plan clause behind it."""
        category = self.matters.categories[matter.category]
        ids = grounding_clause_ids(self.kb, category)
        sources = [_source(self._passage(pid), 1.0) for pid in ids][: max(1, top_k)]
        grounding = sources[0].text if sources else "围绕群众关心的服务事项广泛开展议事协商"
        text = A.matter_text(category.name, committee_types(self.kb, category.id), grounding, sources)
        ans = A.Answer(q, "out_of_scope", text, sources, [], [], confidence=matter.score, matter_category=category.id)
        return ans

    def _services_near(self, hits: list[Hit], depth: int = 3) -> list[Service]:
        """Catalogue services among the first hits, directly or through a clause they rest on."""
        out: list[Service] = []
        for h in hits[:depth]:
            p = h.passage
            found = [self.kb.service(p.id)] if p.type == "service" else self._services_by_clause.get(p.id, [])
            out.extend(s for s in found if s not in out)
        return out

    def _service_near_top(self, hits: list[Hit], depth: int = 2) -> Service | None:
        """A catalogue service among the first hits, directly or through the clause it rests on."""
        for h in hits[:depth]:
            if h.passage.type == "service":
                return self.kb.service(h.passage.id)
        top = hits[0].passage
        linked = {s.id for s in self._services_by_clause.get(top.id, [])}
        for h in hits[:5]:
            if h.passage.type == "service" and h.passage.id in linked:
                return self.kb.service(h.passage.id)
        return None

    def _agency_answer(self, q: str, hits: list[Hit], top_k: int, mentioned: Service | None) -> A.Answer:
        svc = mentioned or next((self.kb.service(h.passage.id) for h in hits[:2] if h.passage.type == "service"), None)
        if svc is not None:
            ans = self.service_answer(svc.id, "agency", question=q, hits=hits, top_k=top_k)
            chapter_line = self._chapter_agency_line(svc.clause)
            if chapter_line:
                body, src = ans.answer.rsplit("\n", 1)
                ans.answer = f"{body}\n{chapter_line}\n{src}"
            return ans
        hit = next((h for h in hits if h.passage.type in ("plan", "action")), hits[0])
        p = hit.passage
        agencies = self._chapter_agencies(p.clause or p.id)
        sources = self._fill([_source(p, hit.score)], hits, top_k)
        line = self._chapter_agency_line(p.clause or p.id) or "规划没有写明这一条的责任部门，建议向社区工作者咨询。"
        text = f"{line}\n相关条文：“{p.text}”\n{A.source_line(sources[:1])}"
        services = [A.service_ref(self.kb, s) for s in self._services_by_clause.get(p.id, [])]
        return A.Answer(q, "agency", text, sources, agencies, services)

    def _clause_answer(self, q: str, hit: Hit, hits: list[Hit], top_k: int) -> A.Answer:
        p = hit.passage
        if p.type == "service":
            linked = self._clause_sources(p.clause, _score_of(p.clause, hits))
            if linked:
                p = self._passage(linked[0].id)
        sources = self._fill([_source(p, _score_of(p.id, hits))], hits, top_k)
        where = p.chapter.split("›")[-1].strip()
        text = f"规划{where}里写道：“{p.text}”"
        services = self._services_by_clause.get(p.id, [])
        if services:
            text += f"\n想具体办理，可以问我“{services[0].name}怎么办”。"
        text += f"\n{A.source_line(sources[:1])}"
        return A.Answer(q, "clause", text, sources, self._chapter_agencies(p.id), [A.service_ref(self.kb, s) for s in services])

    # ---- helpers ------------------------------------------------------------------------
    def _with(self, ans: A.Answer, q: str, conf: float) -> A.Answer:
        ans.question, ans.confidence = q, conf
        return ans

    def _service_or_none(self, service_id: str | None) -> Service | None:
        if not service_id or not isinstance(service_id, str):
            return None
        try:
            return self.kb.service(service_id)
        except KeyError:
            return None

    def _mentioned_service(self, q: str) -> Service | None:
        """A service the question names outright (its name or an alias)."""
        for name, svc in self._names:
            if name in q:
                return svc
        return None

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
        if clause_id.startswith("plan-"):
            return self.kb.plan.clause(clause_id)[0]
        for a in self.kb.plan.actions:
            if a.id == clause_id:
                return self.kb.plan.chapter(a.after_chapter)
        return None

    def _chapter_agencies(self, clause_id: str) -> list[str]:
        ch = self._chapter_of(clause_id)
        return list(ch.agencies + ch.local_bodies) if ch else []

    def _chapter_agency_line(self, clause_id: str) -> str:
        ch = self._chapter_of(clause_id)
        if ch is None:
            return ""
        return A.chapter_agencies_text(ch.title, list(ch.agencies), list(ch.local_bodies))

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


Answer = A.Answer


def _source(p: Passage, score: float) -> A.Source:
    return A.Source(p.type, p.id, p.title, p.chapter, p.text, score)


def _score_of(pid: str, hits: list[Hit] | None) -> float:
    """The fused search score of a cited passage (1.0 when cited without a search, e.g. by id)."""
    if hits is None:
        return 1.0
    return next((h.score for h in hits if h.passage.id == pid), 0.0)


def _service_text(svc: Service) -> str:
    """What a catalogue entry says it covers (for "does a service mention this keyword")."""
    return " ".join([svc.name, *svc.aliases, svc.eligible, svc.provides, *svc.how_to_apply.steps, svc.where])


def _uniq(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


_lock = threading.Lock()
_assistant: Assistant | None = None


def get_assistant() -> Assistant:
    """The process-wide assistant (KB, index and model loaded once, thread-safe)."""
    global _assistant
    if _assistant is None:
        with _lock:
            if _assistant is None:
                _assistant = Assistant.build(progress=False)
    return _assistant


def reset_assistant() -> None:
    """Forget the cached assistant (after a KB or settings change)."""
    global _assistant
    with _lock:
        _assistant = None
