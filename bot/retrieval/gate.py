"""Out-of-scope gate: is a question about the knowledge base at all?

An absolute cosine threshold is brittle (e5 cosines of unrelated Chinese sentences sit near 0.85,
in-scope ones near 0.90), so the gate compares the question with two references instead:

    score = (best cosine to a KB passage) - (best cosine to an off-topic anchor)
          + sparse_weight * ln(1 + best BM25 score)
          + cue_bonus      if the wording asks for an agency, an indicator or a plan clause
          + domain_bonus   if the question contains a domain term (the jieba user dictionary)

The anchors (``data/offtopic_anchors.txt``) are generic off-topic requests (weather, shopping, diagnosis,
lawsuits, chit-chat, code, ...). The weights and threshold are calibrated on the dev set only
(``python -m bot eval --tune``); the held-out set only measures them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bot.retrieval.detector import Detector, Signal, Weights
from bot.retrieval.embedder import cached_queries
from bot.retrieval.question import AGENCY_CUE, CLAUSE_CUE, INDICATOR_CUE

ANCHORS_FILE = Path(__file__).with_name("data") / "offtopic_anchors.txt"

# Consultation-category keywords in the user dictionary that say nothing about the topic.
GENERIC_TERMS = frozenset("其他 咨询 建议 意见 感谢 求助 投诉 缺少 表扬 增设 开办 不知道找谁".split())


@dataclass(frozen=True)
class GateParams(Weights):
    sparse_weight: float = 0.01
    cue_bonus: float = 0.01
    domain_bonus: float = 0.02


@dataclass(frozen=True)
class GateSignal(Signal):
    kb_cosine: float
    offtopic_cosine: float
    sparse_top: float
    cue: bool
    domain_terms: tuple[str, ...]

    @property
    def margin(self) -> float:
        return self.kb_cosine - self.offtopic_cosine


def load_anchors(path: Path = ANCHORS_FILE) -> list[str]:
    """Anchor sentences, one per line; '#' lines are comments."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


class ScopeGate(Detector[GateParams, GateSignal]):
    def __init__(self, anchor_vectors: np.ndarray, domain_terms: list[str], params: GateParams):
        self.anchor_vectors = np.ascontiguousarray(anchor_vectors, dtype=np.float32)
        self.domain_terms = sorted(
            {t for t in domain_terms if len(t) >= 2 and t not in GENERIC_TERMS}, key=lambda t: -len(t)
        )
        self.params = params

    @classmethod
    def build(
        cls,
        embedder,
        domain_terms: list[str],
        params: GateParams,
        anchors_path: Path = ANCHORS_FILE,
        cache_dir: Path | None = None,
    ) -> ScopeGate:
        anchors = load_anchors(anchors_path)
        return cls(cached_queries(embedder, anchors, cache_dir), domain_terms, params)

    def signal(
        self,
        question: str,
        query_vector: np.ndarray,
        kb_cosine: float,
        sparse_top: float,
        params: GateParams | None = None,
    ) -> GateSignal:
        p = params or self.params
        vec = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        off = float((self.anchor_vectors @ vec).max()) if len(self.anchor_vectors) else 0.0
        kb = 0.0 if math.isnan(kb_cosine) else float(kb_cosine)
        cue = bool(AGENCY_CUE.search(question) or INDICATOR_CUE.search(question) or CLAUSE_CUE.search(question))
        found = tuple(t for t in self.domain_terms if t in question)
        return self.signal_with(GateSignal(kb, off, float(sparse_top), cue, found), p)

    def signal_with(self, s: GateSignal, p: GateParams) -> GateSignal:
        score = (s.kb_cosine - s.offtopic_cosine) + p.sparse_weight * math.log1p(max(s.sparse_top, 0.0))
        return replace(s, score=score + p.cue_bonus * s.cue + p.domain_bonus * bool(s.domain_terms))

    def in_scope(self, signal: GateSignal, params: GateParams | None = None) -> bool:
        return self.passes(signal, params)
