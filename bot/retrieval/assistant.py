"""The assistant: validate a question, search, decide what kind of answer it wants, compose it.

Decisions use generic wording cues (哪个部门 → agency, 指标/多少 → indicator, 材料 → how to apply)
together with what the search found; nothing here knows individual questions. This module builds the assistant (index, gate, matter detector) and
splits a question into parts; deciding a part's kind is ``bot.retrieval.route``, composing the answer
``bot.retrieval.compose`` (both mixins of :class:`Assistant`).
"""

from __future__ import annotations

import logging
import re
import threading
import time

from bot.kb.loader import KnowledgeBase, load_kb
from bot.kb.models import Service
from bot.kb.terms import domain_terms, tokenizer
from bot.retrieval import answers as A
from bot.retrieval.bm25 import BM25, make_analyzer
from bot.retrieval.compose import _merge, _source
from bot.retrieval.elsewhere import IssuedElsewhere
from bot.retrieval.gate import GateParams, GateSignal, ScopeGate
from bot.retrieval.index import backend_index_dir, index_dir, load_or_build, version_index_dir
from bot.retrieval.matter import MatterDetector, MatterParams, MatterSignal
from bot.retrieval.passages import build_passages
from bot.retrieval.prepared import Memo, prepare
from bot.retrieval.probe import Example, ScopeProbe, load_examples
from bot.retrieval.question import (
    AGENCY_CUE,
    CLAUSE_CUE,
    INDICATOR_CUE,
    aspect_of,
    clean_question,
    focus,
    has_topic,
)
from bot.retrieval.route import _ASKS_PLAN, Routing, _by_id, _service_text
from bot.retrieval.script import (
    chinese_terms,
    english_gist,
    to_traditional,
)
from bot.retrieval.search import FusionParams, Hit, Retriever, SearchResult
from bot.retrieval.topics import Decline, ScopeSimilarity, TopicClassifier
from bot.retrieval.typos import SoundSpeller

log = logging.getLogger(__name__)

# A resident following up what the community itself told them (社区工作人员打电话说补贴下来了，去哪领): the
# community's own business, so the probe needs near certainty to decline it (the story only sounds like a scam;
# a scam's asks, a fee, a code or a link, are the cues' to catch).
_ASKS_PROCEDURE = re.compile(
    r"(在|去|到)哪(里|儿)?(办|领|申请|报名|登记)|怎么(申请|办理|领|报名|登记)|要带(什么|啥)|需要(什么|啥)材料"
)
_COMMUNITY_SAID = re.compile(
    r"(社区|居委会|村委会?|网格员|街道)[^，。？?]{0,8}(说|通知|告诉|让我|叫我|打(了|我|来)?(个)?电话|来电)"
)
PROCEDURE_BAR = 0.99


class Assistant(Routing):
    """Answers residents' questions from one knowledge version (see ``bot.retrieval`` for the contract)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        retriever: Retriever,
        max_question_chars: int,
        gate: ScopeGate,
        index_meta: dict | None = None,
        matters: MatterDetector | None = None,
        scope_margin: float = float("inf"),
        probe: ScopeProbe | None = None,
        probe_threshold: float = float("inf"),
    ):
        self.kb = kb
        self.scope_margin = scope_margin
        self.probe = probe  # the learned scope decision after the cues and the prototype margin
        self.probe_threshold = probe_threshold
        self.search_mode = "hybrid"  # the ranking ask() answers from; `bot eval` also grades dense and BM25 alone
        self.matters = matters
        self.retriever = retriever
        self.max_question_chars = max_question_chars
        self.gate = gate
        self.index_meta = index_meta or {}
        self.prepared = Memo()  # recent questions' text preparation (bot.retrieval.prepared)
        self._services_by_clause: dict[str, list[Service]] = {}
        for s in kb.services:
            self._services_by_clause.setdefault(s.clause, []).append(s)
        self._indicators = {i.id: i for i in kb.indicators}
        self._names = sorted(
            ((n, s) for s in kb.services for n in (s.name, *s.aliases) if len(n) >= 2), key=lambda x: -len(x[0])
        )
        tok = tokenizer(kb.kb_dir)
        self.speller = SoundSpeller.from_texts(
            (p.text for p in retriever.passages), tok.lcut, domain_terms(kb), tok.FREQ
        )
        local = [kb.directory.city] + [n for c in kb.communities for n in (c.name, c.township)]
        self.topics = TopicClassifier.load(tuple(local))
        self.elsewhere = IssuedElsewhere.load()

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        settings=None,
        *,
        force_rebuild: bool = False,
        progress: bool = True,
        embedder=None,
        kb: KnowledgeBase | None = None,
        on_progress=None,
    ) -> Assistant:
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
            version_index_dir(settings.cache_dir, kb),
            lambda: build_passages(kb, window=window),
            embedder,
            kb.fingerprint,
            force=force_rebuild,
            progress=progress,
            options={"window": window},
            on_progress=on_progress,
        )
        if on_progress:
            on_progress("gate", 0, 1)
        analyzer = make_analyzer(tokenizer(kb.kb_dir).lcut_for_search)
        bm25 = BM25([analyzer(p.sparse_text or p.search_text) for p in dense.passages])
        params = FusionParams(
            settings.retrieval_rrf_k, settings.retrieval_dense_weight, settings.retrieval_sparse_weight
        )
        retriever = Retriever(dense.passages, dense.faiss_index, bm25, analyzer, embedder, params)
        gate_params = GateParams(
            settings.retrieval_gate_threshold,
            settings.retrieval_gate_sparse_weight,
            settings.retrieval_gate_cue_bonus,
            settings.retrieval_gate_domain_bonus,
        )
        cache = backend_index_dir(index_dir(settings.cache_dir), embedder.backend)
        gate = ScopeGate.build(embedder, domain_terms(kb), gate_params, cache_dir=cache)
        matter_params = MatterParams(
            settings.retrieval_matter_threshold,
            settings.retrieval_matter_keyword_bonus,
            settings.retrieval_matter_cue_bonus,
            settings.retrieval_matter_min_cosine,
        )
        matter_ids = [c.strip() for c in settings.retrieval_matter_categories.split(",") if c.strip()]
        matters = MatterDetector.build(kb, embedder, matter_ids, matter_params, cache)
        meta = {k: v for k, v in dense.meta.items() if k != "passages"} | {"rebuilt": dense.rebuilt}
        assistant = cls(
            kb, retriever, settings.max_question_chars, gate, meta, matters, settings.retrieval_scope_margin
        )
        assistant.topics.embed_prototypes(embedder, cache)
        assistant.probe = ScopeProbe.build(embedder, assistant.probe_examples(), cache, assistant.scope_context)
        assistant.probe_threshold = settings.retrieval_scope_probe_threshold
        return assistant

    def scope_context(self, vectors):
        """The probe's two extra features per vector: its best cosine to a KB passage and to a topic prototype."""
        import numpy as np

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        kb, _ = self.retriever.faiss_index.search(vectors, 1)
        protos = self.topics.proto_vectors
        topic = (vectors @ protos.T).max(axis=1) if protos is not None and len(protos) else np.zeros(len(vectors))
        return np.column_stack([kb[:, 0], topic])

    def probe_examples(self) -> list[Example]:
        """What the scope probe learns from: the labelled messages, the catalogue's own names for its services (in
        scope), the offtopic topics' prototypes (out of scope, with their topic's reply) and the blind tuning sets'
        questions; never a text a measure-only set asks."""
        from bot.retrieval.blind import measured_texts, tuning_examples

        names = [Example(n, False) for s in self.kb.services for n in (s.name, *s.aliases)]
        protos = [Example(p, True, t.id) for t in self.topics.topics for p in t.prototypes]
        frozen = measured_texts()
        examples = [*load_examples(), *names, *protos, *tuning_examples(self.topics.reply_for)]
        return [e for e in examples if e.text not in frozen]

    # ---- public API ---------------------------------------------------------------------
    def search(self, question: object, mode: str = "hybrid", k: int | None = None) -> SearchResult:
        q = clean_question(question, self.max_question_chars)
        return self.retriever.search(q, k=k or len(self.retriever.passages), mode=mode)

    def scope(self, q: str, result: SearchResult, params: GateParams | None = None) -> GateSignal:
        """The out-of-scope gate's signals for a cleaned question and its search result."""
        return self.gate.signal(q, self.retriever.query_vector(q), result.dense_top, result.sparse_top, params)

    def _matter_before(self, decline, query: str, any_topic: bool = False) -> bool:
        """Whether a topic that yields to the community-matter flow (a quarrel with the neighbours upstairs over
        noise is a matter the residents' committee takes up) meets a matter here: then the matter is answered.
        ``any_topic``: every topic yields (the probe's decline, which no cue backs)."""
        if not (any_topic or self.topics.yields_to_matter(decline.topic)) or self.matters is None:
            return False
        result = self.retriever.search(query, k=len(self.retriever.passages), mode=self.search_mode)
        signal = self.matter(query, result)
        return signal is not None and self.matters.is_matter(signal)

    def matter(self, q: str, result: SearchResult, params: MatterParams | None = None) -> MatterSignal | None:
        """Community-matter signals for a cleaned question and its search result.

        None when it cannot be a matter: no detector, a service named outright, or wording that asks for a
        plan clause or an indicator."""
        if (
            self.matters is None
            or self._mentioned_service(q) is not None
            or CLAUSE_CUE.search(q)
            or INDICATOR_CUE.search(q)
        ):
            return None
        texts = [_service_text(s) for s in self._services_near(result.hits)]
        return self.matters.signal(q, self.retriever.query_vector(q), result.dense_top, texts, params)

    def community(self, community_id: object):
        """The knowledge base's community by id (None when unknown or not given)."""
        return _by_id(self.kb.community, community_id)

    def ask(
        self, question: object, top_k: int = 3, service_hint: str | None = None, community: str | None = None
    ) -> Answer:
        """Answer every part of a question, in the script it was written in.

        ``community``: the resident's community id when the conversation knows it; a service without a real
        contact then names that community's own 居委会/村委会 office instead of the general pointer."""
        raw = clean_question(question, self.max_question_chars)
        top_k = max(1, min(int(top_k), 10))
        started = time.perf_counter()
        prepared = prepare(self, raw)  # script, typo pass, parts: done already if /prepare saw this text
        script, q, parts = prepared.script, prepared.q, prepared.parts
        answers: list[A.Answer] = []
        prev: A.Answer | None = None
        if len(parts) > 1:
            self.retriever.prefetch(list(prepared.batch))
        for i, part in enumerate(parts):
            if answers and self._declined_with(answers[-1], parts[i - 1], part):
                continue
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
            answer.answer = f"{answer.answer}\n{english_gist(answer.kind, *(a.kind for a in answers))}"
        answer.question, answer.kb_version = raw, self.kb.version
        # free text may hold names we cannot detect: log its size and the outcome, never the words
        log.info(
            "ask kind=%s conf=%.3f %.0fms chars=%d parts=%d top=%s kb=%s",
            answer.kind,
            answer.confidence,
            1000 * (time.perf_counter() - started),
            len(q),
            len(answers),
            answer.sources[0].id if answer.sources else "-",
            self.kb.version,
        )
        return answer

    def asking_end(self, part: str) -> str | None:
        """Where a long story told before its question asks (None: the whole part asks): the story's side details
        decide no off-topic topic there; safety topics' cues count anywhere."""
        asking = focus(part, self._names_subject)
        return asking if asking != part else None

    def _answer_part(
        self, q: str, top_k: int, service_hint: str | None, prev: A.Answer | None, english: bool
    ) -> A.Answer | None:
        """One question: a reviewed Q&A entry, the scope layer, then (for a part that only asks) the previous
        part's subject, then search."""
        reviewed = self._qa_answer(q, self.search_query(q, english)) if prev is None else None
        if reviewed is not None:
            return reviewed
        asking = self.asking_end(q)
        decline = self.topics.classify(q, asking)
        issued = self.elsewhere.find(asking or q) if self._mentioned_service(q) is None else None
        if issued is not None and (decline is None or decline.topic == "other_place"):  # 护照过期了: who issues it
            return A.finish(A.Answer(q, "out_of_scope", "", confidence=0.0, topic="not_in_catalogue"), issued.reply, 0)
        matter_first = decline is not None and self._matter_before(decline, self.search_query(q, english))
        if decline is not None and not matter_first:
            return A.finish(A.Answer(q, "out_of_scope", "", confidence=0.0, topic=decline.topic), decline.reply, 0)
        if prev is not None and CLAUSE_CUE.search(q) and prev.services and not self._names_topic(q):
            return self._plan_follow_up(q, prev, top_k)  # 卫生室归谁管？规划怎么说的: the card's plan sentence
        if prev is not None and not has_topic(q):
            follow = self._follow_up(q, prev, top_k)
            if follow is not None or not INDICATOR_CUE.search(q):
                return follow  # 哪个指标是约束性的 after a clause: the indicators themselves are its subject
        query = self.search_query(q, english)
        similar = None if matter_first else self.scope_similarity(q, query)
        decline = self.topics.by_similarity(similar, self.scope_margin) or self._probe_decline(similar, query)
        if decline is not None:
            return A.finish(A.Answer(q, "out_of_scope", "", confidence=0.0, topic=decline.topic), decline.reply, 0)
        told = self._chapter_told(q, query)
        if told is not None:  # …第（七）条…，这一节后面括号里的责任单位都有哪些: that chapter's list
            return self._chapter_agencies_answer(q, told, top_k)
        result = self.retriever.search(query, k=len(self.retriever.passages), mode=self.search_mode)
        return self._decide(query, result, top_k, service_hint)

    def search_query(self, q: str, english: bool = False) -> str:
        """What is searched for a question part: an English one with its Chinese domain terms, a long one by its asking end."""
        return f"{q} {chinese_terms(q)}".strip() if english else focus(q, self._names_subject)

    def scope_similarity(self, q: str, query: str) -> ScopeSimilarity | None:
        """The nearest off-topic topic next to the best KB passage, from the query embedding the search reuses.

        None when the question names a catalogue service or asks for the plan in so many words (the in-scope
        overrides: then no similarity can decline it)."""
        if self._mentioned_service(q) is not None or _ASKS_PLAN.search(q) or "专栏" in query:  # box 2 → 专栏2
            return None
        vec = self.retriever.query_vector(query)
        scores, _ = self.retriever.faiss_index.search(vec, 1)
        return self.topics.similarity(vec, float(scores[0][0]))

    def _probe_decline(self, similar: ScopeSimilarity | None, query: str) -> Decline | None:
        """The probe's decline, with the reply of the labelled out-of-scope messages nearest the question; None
        without a similarity (an in-scope override), below the threshold, or when the question is a community matter."""
        if similar is None or self.probe is None:
            return None
        verdict = self.probe.verdict(self.retriever.query_vector(query))
        follow_up = _ASKS_PROCEDURE.search(query) and _COMMUNITY_SAID.search(query)
        bar = max(self.probe_threshold, PROCEDURE_BAR) if follow_up else self.probe_threshold
        if verdict.p_out < bar:
            return None
        decline = self.topics.reply_decline(verdict.reply, fallback=True)
        return None if self._matter_before(decline, query, any_topic=True) else decline

    def _declined_with(self, before: A.Answer, before_part: str, part: str) -> bool:
        """Whether a part goes on about what the part before was declined for (台风会不会来？学校要不要停课): read
        together the two are declined the same way, and alone it is nearer a topic we decline than any passage."""
        if before.kind != "out_of_scope" or not before.topic:
            return False
        joined = self.topics.classify(f"{before_part}，{part}")
        if joined is None or joined.topic != before.topic:
            return False
        alone = self.scope_similarity(part, part)  # None when it names a service or the plan: answered
        return alone is not None and alone.margin > 0

    def _plan_follow_up(self, q: str, prev: A.Answer, top_k: int) -> A.Answer | None:
        """“规划怎么说的” after a service: the plan sentence its card rests on (None when the reply cited it)."""
        svc = self._service_or_none(prev.services[0]["id"])
        if svc is None or not svc.clause or any(s.id == svc.clause for s in prev.sources[: prev.cited]):
            return None
        hit = Hit(self._passage(svc.clause), 1.0, 1.0, 0.0)
        return self._clause_answer(q, hit, [hit], top_k)

    def _follow_up(self, q: str, prev: A.Answer, top_k: int) -> A.Answer | None:
        """A part such as “这事归哪些部门管” / “在哪做” answered for the previous part's subject; None if it adds nothing."""
        aspect = aspect_of(q)
        if prev.services and aspect and not (aspect == "agency" and prev.kind == "clause"):
            return self.service_answer(prev.services[0]["id"], aspect, question=q, top_k=top_k)
        if AGENCY_CUE.search(q) and prev.sources and prev.sources[0].type in ("plan", "action"):
            p = self._passage(prev.sources[0].id)
            line = self._chapter_agency_line(p.clause or p.id)
            if line:
                ans = A.Answer(q, "agency", "", [_source(p, 1.0)], self._chapter_agencies(p.clause or p.id), [])
                return A.finish(ans, line, 0)
        return None


Answer = A.Answer


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
