"""Community matters: a resident describing a problem in their community rather than asking about a service.

"村里的路灯坏了找谁" or "楼上噪音扰民" is not answered by any catalogue entry; it is a matter for a consultation
(议事协商) with the community's committee. Evidence comes only from the knowledge base's consultation categories
(``communities.yml``: keywords and example texts), never from ``bot.consultations``:

    score = (best cosine to a matter category's examples) - (best cosine to a KB passage)
          + keyword_bonus  if a category keyword is in the question and no top-ranked service mentions it
          + cue_bonus      if the wording reports a problem (坏了, 不修, 扰民, 没公示 ...)

A matter needs a category keyword (or example cosine >= min_cosine) and score >= threshold. When every category
keyword found is also in a top-ranked service's own text and nothing is reported as wrong, the service covers the
question ("驻区单位停车场能对居民开放吗") and it is not a matter. Weights are calibrated on the dev set only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bot.kb.loader import KnowledgeBase
from bot.kb.models import ConsultationCategory
from bot.retrieval.detector import Detector, Signal, Weights
from bot.retrieval.embedder import cached_queries
from bot.retrieval.gate import GENERIC_TERMS

# Wording that reports something wrong or asks for it to be dealt with (generic, not topics).
PROBLEM_CUE = re.compile(
    r"坏|不亮|不修|没修|没人(管|修|收|清|理|问)|不管|不理|拖着|老是|总是|总有人|天天|三天两头|好几天|好久|一直(没|不)|"
    r"吵|太响|声音太大|扰民|受不了|投诉|举报|堵|漏水|渗水|臭|脏|乱[停扔倒堆搭建收]|积水|危险|太少|不够|没地方|"
    r"不公开|没公开|没有公开|没公示|没有公示|不透明|不合理|涨价|没同意|不同意|铺张|不牵绳|占(了|用|道)"
)

# Consultation-category keywords that name no topic: the gate's list plus two phrasings of "report".
GENERIC_KEYWORDS = GENERIC_TERMS | {"反映问题", "建议增加"}


@dataclass(frozen=True)
class MatterParams(Weights):
    threshold: float = 0.053
    keyword_bonus: float = 0.02
    cue_bonus: float = 0.02
    min_cosine: float = 0.93


@dataclass(frozen=True)
class MatterSignal(Signal):
    category: str | None
    keywords: tuple[str, ...]
    example_cosine: float
    kb_cosine: float
    covered: bool
    cue: bool


class MatterDetector(Detector[MatterParams, MatterSignal]):
    def __init__(
        self,
        categories: list[ConsultationCategory],
        example_vectors: np.ndarray,
        example_categories: list[str],
        params: MatterParams,
    ):
        self.categories = {c.id: c for c in categories}
        self.example_vectors = np.ascontiguousarray(example_vectors, dtype=np.float32)
        self.example_categories = list(example_categories)
        self.params = params
        self._keywords = {
            c.id: sorted({k for k in c.keywords if len(k) >= 2 and k not in GENERIC_KEYWORDS}, key=lambda k: -len(k))
            for c in categories
        }

    @classmethod
    def build(
        cls, kb: KnowledgeBase, embedder, category_ids: list[str], params: MatterParams, cache_dir: Path | None = None
    ) -> MatterDetector:
        cats = [c for c in kb.directory.categories if c.id in set(category_ids)]
        pairs = [(c.id, e) for c in cats for e in c.examples]
        vectors = cached_queries(embedder, [e for _, e in pairs], cache_dir)
        return cls(cats, vectors, [cid for cid, _ in pairs], params)

    def keywords_in(self, question: str, category_id: str) -> tuple[str, ...]:
        """Category keywords in the question, longest first, dropping ones inside a longer match (停车 in 乱停车)."""
        found: list[str] = []
        for k in self._keywords.get(category_id, []):
            if k in question and not any(k in f for f in found):
                found.append(k)
        return tuple(found)

    def signal(
        self,
        question: str,
        query_vector: np.ndarray,
        kb_cosine: float,
        service_texts: list[str],
        params: MatterParams | None = None,
    ) -> MatterSignal:
        p = params or self.params
        if not len(self.example_categories):
            return MatterSignal(None, (), 0.0, kb_cosine, False, False, score=float("-inf"))
        sims = self.example_vectors @ np.asarray(query_vector, dtype=np.float32).reshape(-1)
        best: dict[str, float] = {}
        for cid, s in zip(self.example_categories, sims):
            best[cid] = max(best.get(cid, -1.0), float(s))
        hits = {cid: self.keywords_in(question, cid) for cid in self.categories}
        # The category: most keyword evidence first (characters matched), then closest examples.
        cid = max(self.categories, key=lambda c: (sum(len(k) for k in hits[c]), best.get(c, -1.0)))
        keywords = hits[cid]
        cos = max(best.values())
        covered = bool(keywords) and all(any(k in t for t in service_texts) for k in keywords)
        cue = bool(PROBLEM_CUE.search(question))
        return self.signal_with(MatterSignal(cid, keywords, cos, float(kb_cosine), covered, cue), p)

    def signal_with(self, s: MatterSignal, params: MatterParams) -> MatterSignal:
        """The same evidence re-scored with other weights (for calibration without re-encoding)."""
        score = (
            (s.example_cosine - s.kb_cosine)
            + params.keyword_bonus * (bool(s.keywords) and not s.covered)
            + params.cue_bonus * s.cue
        )
        return replace(s, score=score)

    def is_matter(self, s: MatterSignal, params: MatterParams | None = None) -> bool:
        p = params or self.params
        if s.category is None or not (s.keywords or s.example_cosine >= p.min_cosine):
            return False
        if s.covered and not s.cue:
            return False
        return self.passes(s, p)


def committee_types(kb: KnowledgeBase, category_id: str) -> dict[str, list[str]]:
    """{community kind (社区/村): committee types that handle the category there}, from the directory."""
    out: dict[str, list[str]] = {}
    for community in kb.communities:
        types = out.setdefault(community.kind, [])
        handling = [m for m in community.committees if category_id in m.categories]
        # Where a specific committee handles it, the fallback 居委会/村委会 is not the one to name.
        specific = [m for m in handling if not m.fallback] or handling
        types.extend(m.type for m in specific if m.type not in types)
    return {kind: types for kind, types in out.items() if types}


def grounding_clause_ids(kb: KnowledgeBase, category: ConsultationCategory) -> list[str]:
    """The plan sentence on 议事协商, then sentences of its chapter naming one of the category's keywords."""
    base = None
    for chapter in kb.plan.chapters:
        for sentence in chapter.sentences:
            if "议事协商" in sentence.text:
                base = (chapter, sentence)
                break
        if base:
            break
    if base is None:
        return []
    chapter, sentence = base
    keywords = [k for k in category.keywords if len(k) >= 2 and k not in GENERIC_KEYWORDS]
    extra = [s.id for s in chapter.sentences if s.id != sentence.id and any(k in s.text for k in keywords)]
    return [sentence.id, *extra[:1]]
