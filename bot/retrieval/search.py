"""Hybrid search: dense (FAISS inner product on normalized vectors) + sparse (BM25), fused by weighted RRF.

Besides the ranking it reports signals of how well the query is covered (best cosine, how far
the best passage stands out, how many query words the corpus knows) for the out-of-scope gate.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from bot.retrieval.bm25 import BM25, expand_query, top_positive
from bot.retrieval.passages import Passage
from linli_common.timeline import mark

MODES = ("dense", "bm25", "hybrid")
QUERY_CACHE_SIZE = 2048
INFLIGHT_WAIT_SECONDS = 10.0  # a stalled encode elsewhere never holds an answer longer than this


@dataclass(frozen=True)
class FusionParams:
    """Weighted reciprocal-rank fusion; tuned on the dev set (``python -m bot eval --tune``)."""

    rrf_k: float = 5.0
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    depth: int = 50  # candidates taken from each side


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    dense: float  # cosine similarity (nan when not computed)
    sparse: float  # BM25 score (0 when no term matched)


@dataclass
class SearchResult:
    hits: list[Hit]
    terms: list[str]
    coverage: float  # share of query terms the corpus contains
    dense_top: float
    dense_margin: float  # best cosine minus the median cosine over candidates
    sparse_top: float
    extra: dict = field(default_factory=dict)


class Retriever:
    def __init__(
        self, passages: list[Passage], faiss_index, bm25: BM25, analyzer, embedder, params: FusionParams | None = None
    ):
        self.passages = passages
        self.faiss_index = faiss_index
        self.bm25 = bm25
        self.analyze = analyzer
        self.embedder = embedder
        self.params = params or FusionParams()
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qlock = threading.Lock()
        self._inflight: dict[str, Future] = {}  # query → the encode running for it (a /prepare, another thread)
        self.encodes = Counter()  # queries encoded, cache hits, waits on another thread's encode (for the benches)

    def query_vector(self, query: str) -> np.ndarray:
        """Embed a query, remembering recent ones (repeated questions, eval sweeps); a query another thread is
        encoding right now (``/prepare`` while Rasa parses) is awaited, not encoded twice."""
        with self._qlock:
            vec = self._qcache.get(query)
            if vec is not None:
                self._qcache.move_to_end(query)
                self.encodes["hit"] += 1
                return vec
            pending = self._inflight.get(query)
            if pending is None:
                self._inflight[query] = Future()
            else:
                self.encodes["awaited"] += 1
        if pending is not None:
            try:
                mark("retr.wait")
                return pending.result(timeout=INFLIGHT_WAIT_SECONDS)
            except Exception:  # noqa: BLE001 — that encode failed or stalls: this caller encodes for itself
                return np.ascontiguousarray(self.embedder.queries([query]), dtype=np.float32)
        return self._encode([query])[0]

    def prefetch(self, queries: list[str]) -> None:
        """Embed the not-yet-cached queries in one batch (the parts of a two-part question: one encode, not two);
        queries already being encoded elsewhere are left to that encode."""
        with self._qlock:
            todo = [q for q in dict.fromkeys(queries) if q not in self._qcache and q not in self._inflight]
            for q in todo:
                self._inflight[q] = Future()
        if todo:
            self._encode(todo)

    def _encode(self, todo: list[str]) -> list[np.ndarray]:
        """Encode queries this thread has claimed in ``_inflight``; cache them and wake whoever waits on them."""
        mark("retr.encode")
        try:
            vecs = np.ascontiguousarray(self.embedder.queries(todo), dtype=np.float32)
        except BaseException as e:
            with self._qlock:
                futures = [self._inflight.pop(q) for q in todo]
            for f in futures:
                f.set_exception(e)
            raise
        rows = [v.reshape(1, -1) for v in vecs]
        with self._qlock:
            self.encodes["encoded"] += len(todo)
            for q, v in zip(todo, rows):
                self._qcache[q] = v
            while len(self._qcache) > QUERY_CACHE_SIZE:
                self._qcache.popitem(last=False)
            futures = [self._inflight.pop(q) for q in todo]
        for f, v in zip(futures, rows):
            f.set_result(v)
        return rows

    def search(
        self,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        params: FusionParams | None = None,
        *,
        types: set[str] | None = None,
    ) -> SearchResult:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        p = params or self.params
        n = len(self.passages)
        depth = min(max(p.depth, k), n)
        terms = self.analyze(query)
        sparse = self.bm25.scores(expand_query(terms))
        qvec = self.query_vector(query)
        dscores, dids = self.faiss_index.search(qvec, depth)
        dscores, dids = dscores[0], dids[0]
        dense_by_id = {int(i): float(s) for i, s in zip(dids, dscores) if i >= 0}
        sparse_order = top_positive(sparse, depth)

        if mode == "dense":
            ranked = [(int(i), float(s)) for i, s in zip(dids, dscores) if i >= 0]
        elif mode == "bm25":
            ranked = [(i, float(sparse[i])) for i in sparse_order]
        else:
            fused: dict[int, float] = {}
            for r, i in enumerate(int(x) for x in dids if x >= 0):
                fused[i] = fused.get(i, 0.0) + p.dense_weight / (p.rrf_k + r + 1)
            for r, i in enumerate(sparse_order):
                fused[i] = fused.get(i, 0.0) + p.sparse_weight / (p.rrf_k + r + 1)
            ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        if types:
            ranked = [(i, s) for i, s in ranked if self.passages[i].type in types]
        hits = [Hit(self.passages[i], s, dense_by_id.get(i, float("nan")), float(sparse[i])) for i, s in ranked[:k]]
        top = float(dscores[0]) if len(dscores) else 0.0
        margin = top - float(np.median(dscores)) if len(dscores) else 0.0
        return SearchResult(hits, terms, self.bm25.coverage(terms), top, margin, float(sparse.max()) if n else 0.0)
