"""The assistant: validate a question, search, decide what kind of answer it wants, compose it.

Decisions use generic wording cues (哪个部门 → agency, 指标/多少 → indicator, 材料 → how to apply)
together with what the search found; nothing here knows individual questions.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from bot.errors import UserFacingError
from bot.kb.loader import KnowledgeBase, load_kb
from bot.kb.models import Service
from bot.kb.terms import domain_terms, tokenizer
from bot.retrieval import answers as A
from bot.retrieval.bm25 import BM25, COLLOQUIAL, make_analyzer
from bot.retrieval.gate import GateParams, GateSignal, ScopeGate
from bot.retrieval.index import backend_index_dir, index_dir, load_or_build, version_index_dir
from bot.retrieval.matter import MatterDetector, MatterParams, MatterSignal, committee_types, grounding_clause_ids
from bot.retrieval.passages import Passage, build_passages
from bot.retrieval.question import (
    AGENCY_CUE, ASPECTS, CLAUSE_CUE, INDICATOR_CUE, LIST_CUE, OPERATOR_CUE, WHEN_CUE, aspect_of, clean_question, focus, has_topic, names_no_topic,
    split_parts,
)
from bot.retrieval.script import chinese_terms, english_gist, script_of, to_simplified, to_traditional
from bot.retrieval.topics import ScopeSimilarity, TopicClassifier
from bot.retrieval.search import FusionParams, Hit, Retriever, SearchResult

log = logging.getLogger(__name__)


class Assistant:
    def __init__(self, kb: KnowledgeBase, retriever: Retriever, max_question_chars: int, gate: ScopeGate, index_meta: dict | None = None,
                 matters: MatterDetector | None = None, scope_margin: float = float("inf")):
        self.kb = kb
        self.scope_margin = scope_margin
        self.search_mode = "hybrid"  # the ranking ask() answers from; `bot eval` also grades dense and BM25 alone
        self.matters = matters
        self.retriever = retriever
        self.max_question_chars = max_question_chars
        self.gate = gate
        self.index_meta = index_meta or {}
        self._services_by_clause: dict[str, list[Service]] = {}
        for s in kb.services:
            self._services_by_clause.setdefault(s.clause, []).append(s)
        self._indicators = {i.id: i for i in kb.indicators}
        self._names = sorted(((n, s) for s in kb.services for n in (s.name, *s.aliases) if len(n) >= 2), key=lambda x: -len(x[0]))
        local = [kb.directory.city] + [n for c in kb.communities for n in (c.name, c.township)]
        self.topics = TopicClassifier.load(tuple(local))

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def build(cls, settings=None, *, force_rebuild: bool = False, progress: bool = True, embedder=None,
              kb: KnowledgeBase | None = None, on_progress=None) -> "Assistant":
        """Load the knowledge base (``kb``, else the current published version) and its index (built if needed).

        ``on_progress(stage, done, total)`` hears how far the build is (a reload in the background reports it)."""
        from bot.kb.versions import current_dir
        from bot.retrieval.embedder import load_embedder
        from bot.settings import get_settings

        settings = settings or get_settings()
        kb = kb or load_kb(current_dir(settings.kb_dir))
        embedder = embedder or load_embedder(settings)
        window = settings.retrieval_sentence_window
        dense = load_or_build(
            version_index_dir(settings.cache_dir, kb), lambda: build_passages(kb, window=window), embedder, kb.fingerprint,
            force=force_rebuild, progress=progress, options={"window": window}, on_progress=on_progress,
        )
        if on_progress:
            on_progress("gate", 0, 1)
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
        assistant = cls(kb, retriever, settings.max_question_chars, gate, meta, matters, settings.retrieval_scope_margin)
        assistant.topics.embed_prototypes(embedder, backend_index_dir(index_dir(settings.cache_dir), embedder.backend))
        return assistant

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

    def community(self, community_id: object):
        """The knowledge base's community by id (None when unknown or not given)."""
        if not community_id or not isinstance(community_id, str):
            return None
        try:
            return self.kb.community(community_id)
        except KeyError:
            return None

    def ask(self, question: object, top_k: int = 3, service_hint: str | None = None, community: str | None = None) -> Answer:
        """Answer every part of a question, in the script it was written in.

        ``community``: the resident's community id when the conversation knows it; a service without a real
        contact then names that community's own 居委会/村委会 office instead of the general pointer."""
        raw = clean_question(question, self.max_question_chars)
        top_k = max(1, min(int(top_k), 10))
        started = time.perf_counter()
        script = script_of(raw)
        q = to_simplified(raw) if script == "hant" else raw
        answers: list[A.Answer] = []
        prev: A.Answer | None = None
        parts = split_parts(q) if script != "en" else [q]
        if len(parts) > 1:
            self.retriever.prefetch([focus(p, self._names_topic) for p in parts if has_topic(p) and self.topics.classify(p) is None])
        for i, part in enumerate(parts):
            ans = self._answer_part(part, top_k, service_hint if i == 0 else None, prev, english=script == "en")
            if ans is None:
                continue
            answers.append(ans)
            if ans.kind != "out_of_scope":
                prev = ans
        answer = A.with_contact(_merge(q, answers, top_k), self.community(community))
        if script == "hant":
            answer.answer, answer.body = to_traditional(answer.answer), to_traditional(answer.body)
        elif script == "en":
            answer.answer = f"{answer.answer}\n{english_gist(answer.kind)}"
        answer.question, answer.kb_version = raw, self.kb.version
        # free text may hold names we cannot detect: log its size and the outcome, never the words
        log.info("ask kind=%s conf=%.3f %.0fms chars=%d parts=%d top=%s kb=%s", answer.kind, answer.confidence,
                 1000 * (time.perf_counter() - started), len(q), len(answers), answer.sources[0].id if answer.sources else "-",
                 self.kb.version)
        return answer

    def _answer_part(self, q: str, top_k: int, service_hint: str | None, prev: A.Answer | None, english: bool) -> A.Answer | None:
        """One question: the scope layer first, then (for a part that only asks) the previous part's subject, then search."""
        decline = self.topics.classify(q)
        if decline is not None:
            return A.finish(A.Answer(q, "out_of_scope", "", confidence=0.0, topic=decline.topic), decline.reply, 0)
        if prev is not None and not has_topic(q):
            return self._follow_up(q, prev, top_k)
        query = self.search_query(q, english)
        decline = self.topics.by_similarity(self.scope_similarity(q, query), self.scope_margin)
        if decline is not None:
            return A.finish(A.Answer(q, "out_of_scope", "", confidence=0.0, topic=decline.topic), decline.reply, 0)
        result = self.retriever.search(query, k=len(self.retriever.passages), mode=self.search_mode)
        return self._decide(query, result, top_k, service_hint)

    def search_query(self, q: str, english: bool = False) -> str:
        """What is searched for a question part: an English one with its Chinese domain terms, a long one by its asking end."""
        return f"{q} {chinese_terms(q)}".strip() if english else focus(q, self._names_topic)

    def scope_similarity(self, q: str, query: str) -> ScopeSimilarity | None:
        """The nearest off-topic topic next to the best KB passage, from the query embedding the search reuses.

        None when the question names a catalogue service or asks for the plan in so many words (the in-scope
        overrides: then no similarity can decline it)."""
        if self._mentioned_service(q) is not None or _ASKS_PLAN.search(q):
            return None
        vec = self.retriever.query_vector(query)
        scores, _ = self.retriever.faiss_index.search(vec, 1)
        return self.topics.similarity(vec, float(scores[0][0]))

    def _follow_up(self, q: str, prev: A.Answer, top_k: int) -> A.Answer | None:
        """A part such as “这事归哪些部门管” / “在哪做” answered for the previous part's subject; None if it adds nothing."""
        aspect = aspect_of(q)
        if prev.services and aspect:
            return self.service_answer(prev.services[0]["id"], aspect, question=q, top_k=top_k)
        if AGENCY_CUE.search(q) and prev.sources and prev.sources[0].type in ("plan", "action"):
            p = self._passage(prev.sources[0].id)
            line = self._chapter_agency_line(p.clause or p.id)
            if line:
                ans = A.Answer(q, "agency", "", [_source(p, 1.0)], self._chapter_agencies(p.clause or p.id), [])
                return A.finish(ans, line, 0)
        return None

    def service_answer(self, service_id: str, aspect: str = "overview", *, question: str = "", hits: list[Hit] | None = None, top_k: int = 3,
                       community: str | None = None) -> Answer:
        if aspect not in ASPECTS:
            raise ValueError(f"aspect must be one of {ASPECTS}")
        try:
            svc = self.kb.service(service_id)
        except KeyError:
            raise UserFacingError("抱歉，没有找到这项服务，请换个说法再问我。", code="unknown_service") from None
        sources = [self._service_source(svc, _score_of(svc.id, hits))] + self._clause_sources(svc.clause, _score_of(svc.clause, hits))
        agencies = [svc.agency]
        text = A.service_text(self.kb, svc, aspect)
        if aspect == "agency":
            agencies += self._chapter_agencies(svc.clause)
            if question and LIST_CUE.search(question) or "哪些" in question:
                text += "\n" + self._chapter_agency_line(svc.clause)
        sources = self._fill(sources, hits, top_k)
        kind = "agency" if aspect == "agency" else "service"
        ans = A.Answer(question or svc.name, kind, "", sources, _uniq(agencies), [A.service_ref(self.kb, svc)], kb_version=self.kb.version)
        return A.with_contact(A.finish(ans, text, 1), self.community(community))

    def indicator_answer(self, indicator_id: str, *, question: str = "", hits: list[Hit] | None = None, top_k: int = 3) -> Answer:
        ind = self._indicators.get(indicator_id)
        if ind is None:
            raise UserFacingError("抱歉，没有找到这个指标。规划专栏1共有8项指标，您可以说出指标名称再问我。", code="unknown_indicator")
        p = self._passage(indicator_id)
        sources = self._fill([_source(p, _score_of(p.id, hits))], hits, top_k)
        ans = A.Answer(question or ind.name, "indicator", "", sources, [], [], kb_version=self.kb.version)
        return A.finish(ans, A.indicator_text(ind), 1)

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
        body = f"共{len(inds)}项：" + "；".join(f"{i.name}（2025年{i.target_2025.text}）" for i in inds)
        return A.finish(A.Answer(q, "indicator", "", sources, [], []), body, len(sources))

    # ---- decisions ----------------------------------------------------------------------
    def _decide(self, q: str, result: SearchResult, top_k: int, service_hint: str | None) -> A.Answer:
        hits = result.hits
        aspect = aspect_of(q)
        hint = self._service_or_none(service_hint)
        mentioned = self._mentioned_service(q, hits)
        if hint and aspect and (mentioned is None or mentioned.id == hint.id):
            return self._with(self.service_answer(hint.id, aspect, question=q, hits=hits, top_k=top_k), q, 1.0)
        if mentioned is None and names_no_topic(q):  # "这事归哪个部门管" without context: ask, don't guess
            return A.finish(A.Answer(q, "out_of_scope", "", [], [], [], confidence=0.0), A.CLARIFY_REPLY, 0)
        signal = self.scope(q, result)
        conf = signal.score
        matter = self.matter(q, result)
        if matter is not None and self.matters.is_matter(matter):
            return self._matter_answer(q, matter, top_k)
        unknown = self._unknown_subject(q)
        if unknown is not None:
            ans = A.Answer(q, "out_of_scope", "", [], [], [], confidence=conf, topic="not_in_catalogue")
            return A.finish(ans, NOT_IN_CATALOGUE.format(word=unknown), 0)
        if not self.gate.in_scope(signal) and mentioned is None:
            return A.finish(A.Answer(q, "out_of_scope", "", [], [], [], confidence=conf), A.OUT_OF_SCOPE_REPLY, 0)
        top = hits[0].passage
        if INDICATOR_CUE.search(q):
            if LIST_CUE.search(q) and re.search(r"哪(几|些)(个|项)?指标|指标.{0,4}哪(几|些)", q):
                return self._with(self._indicator_list(q, hits, top_k), q, conf)
            named = self._indicators_named(q)
            if len(named) > 1:
                parts = [self.indicator_answer(i.id, question=q, hits=hits, top_k=top_k) for i in named]
                return self._with(_merge(q, parts, top_k), q, conf)
            if named:
                return self._with(self.indicator_answer(named[0].id, question=q, hits=hits, top_k=top_k), q, conf)
            ind_hit = next((h for h in hits[:3] if h.passage.type == "indicator"), None)
            if ind_hit is not None:
                return self._with(self.indicator_answer(ind_hit.passage.id, question=q, hits=hits, top_k=top_k), q, conf)
        named_agency = self._agency_named(q) if mentioned is None else None
        if named_agency is not None and (AGENCY_CUE.search(q) or _ASKS_PART.search(q)):
            return self._with(self._agency_chapters_answer(q, named_agency, top_k), q, conf)
        if AGENCY_CUE.search(q):
            return self._with(self._agency_answer(q, hits, top_k, mentioned), q, conf)
        if WHEN_CUE.search(q) and not aspect and (mentioned is None or _PLAN_GOAL.search(q)):
            dated = next((h for h in hits[:3] if h.passage.type in ("plan", "action") and _YEAR.search(h.passage.text)), None)
            if dated is not None:
                return self._with(self._clause_answer(q, dated, hits, top_k), q, conf)
        if LIST_CUE.search(q) and mentioned is None and top.type in ("plan", "action") and not self._services_by_clause.get(top.id):
            return self._with(self._clause_answer(q, self._listing_hit(hits), hits, top_k), q, conf)
        if CLAUSE_CUE.search(q) or (OPERATOR_CUE.search(q) and not aspect):
            clause_hit = self._listing_hit(hits) if LIST_CUE.search(q) else next((h for h in hits if h.passage.type in ("plan", "action")), hits[0])
            return self._with(self._clause_answer(q, clause_hit, hits, top_k), q, conf)
        svc = mentioned or self._service_near_top(hits)
        if svc is not None:
            if LIST_CUE.search(q) and not aspect and mentioned is None:
                listed = self._services_near(hits, depth=5)
                if len(listed) > 1:
                    return self._with(self._service_list(q, listed[:4], hits, top_k), q, conf)
            return self._with(self.service_answer(svc.id, aspect or "overview", question=q, hits=hits, top_k=top_k), q, conf)
        if top.type == "indicator":
            return self._with(self.indicator_answer(top.id, question=q, hits=hits, top_k=top_k), q, conf)
        return self._with(self._clause_answer(q, hits[0], hits, top_k), q, conf)

    def _listing_hit(self, hits: list[Hit], depth: int = 3) -> Hit:
        """For a list question: of the first plan sentences found, the one that enumerates most (、 and ，)."""
        plan = [h for h in hits[:depth] if h.passage.type in ("plan", "action")]
        if not plan:
            return hits[0]
        return max(plan, key=lambda h: (h.passage.text.count("、") + h.passage.text.count(","), -hits.index(h)))

    def _agency_named(self, q: str):
        """An agency of the plan the question names (市妇联, 民政局 without 市, or its full name), or None."""
        for a in sorted(self.kb.agencies.agencies, key=lambda a: -len(a.name)):
            names = {a.name, a.full_name, a.name.removeprefix("市")}
            if any(len(n) >= 2 and n in q for n in names):
                return a
        return None

    def _agency_chapters_answer(self, q: str, agency, top_k: int) -> A.Answer:
        """“市妇联负责规划哪部分”: the chapters whose closing parenthesis names the agency, and its duties."""
        chapters = [c for c in self.kb.plan.chapters if agency.name in (*c.agencies, *c.local_bodies)]
        sources = []
        for c in chapters:
            p = next((p for p in self.retriever.passages if p.type == "plan" and p.chapter.endswith(c.title)), None)
            if p is not None:
                sources.append(_source(p, 1.0))
        if chapters:
            body = f"{agency.name}是规划{'、'.join(c.title for c in chapters)}的责任单位：{agency.duties}"
        else:
            body = f"规划的责任单位里没有写{agency.name}。"
        ans = A.Answer(q, "agency", "", sources[: max(top_k, len(sources))], [agency.name], [])
        return A.finish(ans, body, len(sources))

    def _indicators_named(self, q: str, min_shared: int = 3) -> list:
        """Indicators whose names the question spells out (most shared character pairs): for each part joined by
        和/与/及/、 the best one, or the two that tie (城乡… names both the urban and the rural indicator)."""
        found = []
        for piece in re.split(r"和|与|及|、|以及", q):
            scored = sorted(((_shared_pairs(piece, i.name), i) for i in self.kb.indicators), key=lambda x: -x[0])
            best = [i for n, i in scored if n == scored[0][0]] if scored and scored[0][0] >= min_shared else []
            for ind in best[:2] if len(best) <= 2 else []:
                if ind not in found:
                    found.append(ind)
        return found

    def _unknown_subject(self, q: str) -> str | None:
        """The one specific word of a service question the knowledge base has never seen (“社区能办护照吗” → 护照).

        None when the question also names anything the KB knows specifically (康复, 托育, a service name): then it is
        a question about that, in the resident's own words."""
        if self._mentioned_service(q) is not None or not _ASKS_SERVICE.search(q):
            return None
        bm25 = self.retriever.bm25
        unknown = []
        for tok in self.retriever.analyze(q):
            if len(tok) < 2 or not _CJK_WORD.fullmatch(tok) or tok in COLLOQUIAL or _QUESTION_WORD.search(tok) or _ASKS_SERVICE.search(tok) or re.fullmatch(r"[能可会要想]\w", tok):
                continue
            if bm25.idf.get(tok, 0.0) >= 1.0:
                return None  # a specific word the KB uses
            if tok not in bm25.idf and not any(tok in t or t in tok for t in self.gate.domain_terms):
                unknown.append(tok)
        return unknown[0] if len(unknown) == 1 else None

    def _service_list(self, q: str, services: list[Service], hits: list[Hit], top_k: int) -> A.Answer:
        """“有哪几种…”: the matching catalogue entries by name, one line each."""
        sources = [self._service_source(s, _score_of(s.id, hits)) for s in services]
        body = "有这几项：\n" + "\n".join(f"· {s.name}：{_first_clause(s.provides)}" for s in services)
        ans = A.Answer(q, "service", "", sources, _uniq([s.agency for s in services]), [A.service_ref(self.kb, s) for s in services])
        return A.finish(ans, body, len(sources))

    def _matter_answer(self, q: str, matter: MatterSignal, top_k: int) -> A.Answer:
        """A community matter: out of the catalogue's scope, but with the committee and the plan clause behind it."""
        category = self.matters.categories[matter.category]
        ids = grounding_clause_ids(self.kb, category)
        sources = [_source(self._passage(pid), 1.0) for pid in ids][: max(1, top_k)]
        grounding = sources[0].text if sources else "围绕群众关心的服务事项广泛开展议事协商"
        text = A.matter_text(category.name, committee_types(self.kb, category.id), grounding)
        ans = A.Answer(q, "out_of_scope", "", sources, [], [], confidence=matter.score, matter_category=category.id)
        return A.finish(ans, text, len(sources))

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
        if svc is not None and not CLAUSE_CUE.search(q):
            return self.service_answer(svc.id, "agency", question=q, hits=hits, top_k=top_k)
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
        where = p.chapter.split("›")[-1].strip()
        services = self._services_by_clause.get(p.id, [])
        text = f"{A.document_word(p.document)}{where}写道：“{p.text}”"
        return A.finish(A.Answer(q, "clause", "", sources, self._chapter_agencies(p.id), [A.service_ref(self.kb, s) for s in services]), text, 1)

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

    def _names_topic(self, text: str, min_idf: float = 2.0) -> bool:
        """Whether text holds a word the KB uses in few passages (托育, 社工师), not just cue words (基期, 多少)."""
        if self._mentioned_service(text) is not None:
            return True
        bm25 = self.retriever.bm25
        for tok in self.retriever.analyze(text):
            if len(tok) >= 2 and _CJK_WORD.fullmatch(tok) and bm25.idf.get(tok, 0.0) >= min_idf and not (INDICATOR_CUE.fullmatch(tok) or CLAUSE_CUE.fullmatch(tok) or AGENCY_CUE.fullmatch(tok)):
                return True
        return False

    def _mentioned_service(self, q: str, hits: list[Hit] | None = None) -> Service | None:
        """A service the question names outright (its name or an alias); of several (独居老人 and 老年助餐), the
        longest name, or with ``hits`` the one the search ranks first."""
        named = [svc for name, svc in self._names if name in q]
        if len(named) > 1 and hits:
            rank = {h.passage.id: i for i, h in enumerate(hits)}
            return min(named, key=lambda s: rank.get(s.id, len(rank)))
        return named[0] if named else None

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


Answer = A.Answer


def _source(p: Passage, score: float) -> A.Source:
    return A.Source(p.type, p.id, p.title, p.chapter, p.text, score, p.document)


def _score_of(pid: str, hits: list[Hit] | None) -> float:
    """The fused search score of a cited passage (1.0 when cited without a search, e.g. by id)."""
    if hits is None:
        return 1.0
    return next((h.score for h in hits if h.passage.id == pid), 0.0)


def _service_text(svc: Service) -> str:
    """What a catalogue entry says it covers (for "does a service mention this keyword")."""
    return " ".join([svc.name, *svc.aliases, svc.eligible, svc.provides, *svc.how_to_apply.steps, svc.where])


def _shared_pairs(text: str, name: str) -> int:
    """How many of ``name``'s character pairs occur in ``text``."""
    pairs = {name[i:i + 2] for i in range(len(name) - 1)}
    return sum(p in text for p in pairs)


_YEAR = re.compile(r"20[2-3][0-9]年")
_ASKS_PART = re.compile(r"哪(个|几|些)?(部分|节|章|块|方面)|负责(什么|哪些|啥)|管(什么|哪些|啥)|哪些工作")
_PLAN_GOAL = re.compile(r"覆盖|建成|建好|实现|普及|达到|完成|都(有|能|要|会)|全面")
_ASKS_PLAN = re.compile(r"规划|专栏|十四五|指标")
_ASKS_SERVICE = re.compile(r"(能|可以|可不可以|能不能)(办|申请|领|做|开)|办理|在哪(里|儿)?办|有没有|有冇|怎么(办|申请)")
_QUESTION_WORD = re.compile(r"哪|什么|啥|怎么|多少|几")
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]+")
NOT_IN_CATALOGUE = "服务目录里没有“{word}”这项服务，我不想拿别的服务凑数。可以拨打12345政务服务便民热线，或到政务服务中心问问。"


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
    if not kept:
        kept = answers[:1]
    if len(kept) == 1:
        return kept[0]
    answered = [a for a in kept if a.kind != "out_of_scope"] or kept
    cited = _dedupe_sources(s for a in kept for s in a.sources[: a.cited])
    rest = _dedupe_sources(s for a in kept for s in a.sources[a.cited:] if s.id not in {c.id for c in cited})
    ans = A.Answer(q, answered[0].kind, "", cited + rest[: max(0, top_k - len(cited))],
                   _uniq([x for a in kept for x in a.agencies]),
                   list({s["id"]: s for a in kept for s in a.services}.values()),
                   confidence=min(a.confidence for a in answered), matter_category=answered[0].matter_category)
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


_lock = threading.Lock()
_assistant = None


def get_assistant() -> Assistant:
    """The process-wide assistant (KB, index and model loaded once, thread-safe); it follows published knowledge
    versions without a restart (``bot.retrieval.live``)."""
    global _assistant
    if _assistant is None:
        with _lock:
            if _assistant is None:
                from bot.retrieval.live import LiveAssistant
                from bot.settings import get_settings

                _assistant = LiveAssistant(get_settings())
    return _assistant


def reset_assistant() -> None:
    """Forget the cached assistant (after a KB or settings change)."""
    global _assistant
    with _lock:
        _assistant = None
