"""Route a resident's text to a consultation category and to the committee that handles it.

Keywords from ``communities.yml`` decide (scored by matched keywords, longer ones weigh more);
the embedding model only breaks near-ties or rescues texts no keyword matches, and is loaded
lazily, so routing keeps working when the model is unavailable or undecided. What stays
unroutable goes to the community's fallback committee (居委会/村委会) with a flag.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.kb.models import Committee, Community, CommunityDirectory

log = logging.getLogger(__name__)

OWNERS = "业主委员会"
PROPERTY_MEETING = "物业议事协调会"

#: Candidates within this share of the best keyword score count as a tie for the embedding to break.
NEAR_TIE = 0.8
#: The embedding must separate the tied candidates by at least this cosine margin, else keywords decide.
TIE_MARGIN = 0.005
#: Without any keyword, the embedding alone routes only when this similar to an example and this clear.
RESCUE_MIN_SIM = 0.89
RESCUE_MARGIN = 0.02


#: Matters only a village has (its rules, its affairs and collective money): an urban 居委会 cannot take them.
VILLAGE_MATTER = re.compile(
    r"村规民约|村务公开|村务|村集体|集体收入|集体经济|集体资产|集体土地|土地承包|宅基地|村干部|村委会|村民委员会|村民代表|我们村|村里"
)


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(frozen=True)
class RouteResult:
    category: str | None  # category id; None when unroutable
    category_name: str | None
    committee: Committee
    community: Community
    flagged_unroutable: bool
    method: str  # keyword | embedding | unroutable | given
    scores: dict[str, float] = field(default_factory=dict)
    #: A village's matter (村规民约, 村务公开, 集体收入) from an urban community: ask which village before sending it.
    needs_village: bool = False

    def to_json(self) -> dict:
        """The ``python -m bot route --json`` shape (``needs_village`` only when true)."""
        out = {
            "category": self.category,
            "committee": {"id": self.committee.id, "name": self.committee.name, "type": self.committee.type},
            "community": {"id": self.community.id, "name": self.community.name},
        }
        if self.needs_village:
            out["needs_village"] = True
        return out


def _weight(keyword: str) -> float:
    """Longer keywords are more specific: 物业费 (3) outweighs 物业 (2)."""
    return 1.0 + 0.5 * max(len(keyword) - 2, 0)


class Router:
    """Keyword classifier with an embedding tie-breaker; thread-safe, caches built lazily."""

    def __init__(self, directory: CommunityDirectory, kb_dir: Path | None = None, *, use_embedding: bool = True):
        self.directory = directory
        self.kb_dir = kb_dir
        self.use_embedding = use_embedding
        self._categories = {c.id: c for c in directory.categories}
        self._communities = {c.id: c for c in directory.communities}
        self._keywords = {
            c.id: sorted({normalize(k) for k in c.keywords if k.strip()}, key=len, reverse=True)
            for c in directory.categories
        }
        self._lock = threading.Lock()
        self._tok_lock = threading.Lock()
        self._tok = None
        self._anchors: tuple[np.ndarray, list[str]] | None = None
        self._embedding_failed = False

    # category ------------------------------------------------------------------------
    def _tokenizer(self):
        """jieba with the domain dictionary, built once under a lock (jieba's own init is not
        thread-safe: parallel first calls would each load the dictionary)."""
        if self._tok is None and self.kb_dir is not None:
            with self._tok_lock:
                if self._tok is None:
                    from bot.kb.terms import tokenizer

                    tok = tokenizer(Path(self.kb_dir))
                    tok.initialize()
                    self._tok = tok
        return self._tok

    def _tokens(self, text: str) -> set[str]:
        tok = self._tokenizer()
        return {t for t in tok.lcut(text) if t.strip()} if tok is not None else set()

    def keyword_scores(self, text: str) -> dict[str, float]:
        """Score per category: whole jieba tokens count fully, keywords inside longer words a bit
        less; a keyword inside a longer matched keyword (of any category) adds nothing."""
        t = normalize(text)
        tokens = self._tokens(t)
        found = sorted(
            ((kw, cid) for cid, kws in self._keywords.items() for kw in kws if kw in t), key=lambda x: -len(x[0])
        )
        scores: dict[str, float] = {}
        covered: list[str] = []
        for kw, cid in found:
            if any(kw in c and kw != c for c in covered):
                continue
            covered.append(kw)
            scores[cid] = round(scores.get(cid, 0.0) + _weight(kw) * (1.0 if kw in tokens or not tokens else 0.8), 3)
        return scores

    def _anchor_matrix(self) -> tuple[np.ndarray, list[str]] | None:
        if not self.use_embedding or self._embedding_failed:
            return None
        with self._lock:
            if self._anchors is None and not self._embedding_failed:
                try:
                    from bot.embedding import encode_passages

                    texts, owners = [], []
                    for c in self.directory.categories:
                        for ex in [f"{c.name}：{c.description}" if c.description else c.name, *c.examples]:
                            texts.append(ex)
                            owners.append(c.id)
                    self._anchors = (np.asarray(encode_passages(texts), dtype=np.float32), owners)
                except Exception as e:  # model missing or broken: keywords alone decide
                    log.warning("routing without embeddings: %s", e)
                    self._embedding_failed = True
            return self._anchors

    def embedding_scores(self, text: str, candidates: list[str] | None = None) -> dict[str, float]:
        """Best cosine similarity of ``text`` to each category's examples ({} if no model)."""
        anchors = self._anchor_matrix()
        if anchors is None:
            return {}
        try:
            from bot.embedding import encode_queries

            q = np.asarray(encode_queries([text]), dtype=np.float32)[0]
        except Exception as e:
            log.warning("embedding failed: %s", e)
            return {}
        matrix, owners = anchors
        sims = matrix @ q
        best: dict[str, float] = {}
        for cid, sim in zip(owners, sims.tolist()):
            if candidates is None or cid in candidates:
                best[cid] = max(best.get(cid, -1.0), float(sim))
        return best

    def classify(self, text: str) -> tuple[str | None, str, dict[str, float]]:
        """Return (category id or None, method, scores)."""
        scores = self.keyword_scores(text)
        order = list(self._categories)
        if scores:
            top = max(scores.values())
            tied = [c for c in order if scores.get(c, 0) >= top * NEAR_TIE]
            if len(tied) > 1:
                sims = self.embedding_scores(text, tied)
                ranked = sorted(sims.items(), key=lambda kv: kv[1], reverse=True)
                if len(ranked) >= 2 and ranked[0][1] - ranked[1][1] >= TIE_MARGIN:
                    return ranked[0][0], "embedding", scores
            # keywords decide: highest score, then the longest matched keyword, then file order
            best = max(order, key=lambda c: (scores.get(c, 0), self._longest_match(c, text), -order.index(c)))
            return best, "keyword", scores
        sims = self.embedding_scores(text)
        ranked = sorted(sims.items(), key=lambda kv: kv[1], reverse=True)
        if (
            ranked
            and ranked[0][1] >= RESCUE_MIN_SIM
            and (len(ranked) < 2 or ranked[0][1] - ranked[1][1] >= RESCUE_MARGIN)
        ):
            return ranked[0][0], "embedding", {k: round(v, 4) for k, v in ranked[:3]}
        return None, "unroutable", {k: round(v, 4) for k, v in ranked[:3]}

    def _longest_match(self, cid: str, text: str) -> int:
        t = normalize(text)
        return max((len(k) for k in self._keywords[cid] if k in t), default=0)

    # committee -----------------------------------------------------------------------
    @staticmethod
    def fallback(community: Community) -> Committee:
        for m in community.committees:
            if m.fallback:
                return m
        return community.committees[0]

    @staticmethod
    def _mentions(compound: str | None, text: str) -> bool:
        if not compound:
            return False
        t = normalize(text)
        c = normalize(compound)
        short = c.removesuffix("小区")  # "阳光花园小区" is often just "阳光花园"; too short a rest is too vague
        return c in t or (len(short) >= 3 and short in t)

    def committee_for(self, community: Community, category: str | None, text: str = "") -> tuple[Committee, bool]:
        """The committee of ``community`` handling ``category``: (committee, flagged_unroutable).

        Owners' matters go to the 业主委员会 of the compound the text names, else the
        物业议事协调会, else the first 业主委员会. A category no committee of this community
        handles (a village has no 业委会) goes to the fallback committee, unflagged.
        """
        if category is None:
            return self.fallback(community), True
        cands = [m for m in community.committees if category in m.categories]
        if not cands:
            return self.fallback(community), False
        owners = [m for m in cands if m.type == OWNERS]
        if owners:
            named = [m for m in owners if self._mentions(m.compound, text)]
            if named:
                return named[0], False
            meeting = [m for m in cands if m.type == PROPERTY_MEETING]
            return (meeting or owners)[0], False
        specific = [m for m in cands if not m.fallback]
        return (specific or cands)[0], False

    def community(self, community_id: str) -> Community:
        return self._communities[community_id]

    def route(self, text: str, community_id: str, category: str | None = None) -> RouteResult:
        """Classify (unless ``category`` is given) and pick the committee in ``community_id``."""
        community = self._communities[community_id]
        if category is not None:
            if category not in self._categories:
                raise KeyError(category)
            cat, method, scores = category, "given", {}
        else:
            cat, method, scores = self.classify(text)
        committee, flagged = self.committee_for(community, cat, text)
        name = self._categories[cat].name if cat else None
        village = community.kind != "村" and bool(VILLAGE_MATTER.search(normalize(text)))
        return RouteResult(cat, name, committee, community, flagged, method, scores, needs_village=village)

    def villages(self) -> list[Community]:
        """The villages of the directory (what to offer when a village's matter comes from a town resident)."""
        return [c for c in self.directory.communities if c.kind == "村"]
