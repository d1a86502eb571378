"""Scope probe: a linear classifier over the question's embedding, trained on labelled messages.

Why: the cue lists catch what they name, and the prototype margin (:mod:`bot.retrieval.topics`) decides on a single
nearest neighbour, so a new everyday problem ("公租房排队要多久", "托育老师掐我孩子要不要报警") that names nothing
listed and sits near a plan sentence slips through with local content. A logistic regression over the e5 query
vector learns from some two thousand labelled messages (``data/scope_train.yml``: written from the plan and from how
residents talk, never from a blind set) which directions of the space the plan covers. The decline's pointer comes
from the labelled out-of-scope messages nearest the question (their ``reply`` topic), or, when none is close, from
the general reply (12345). The question's own vector is the one the search uses, so the probe costs no encode;
the training vectors are encoded once per model and cached next to the index.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.kb.yamlload import load_file
from bot.retrieval.embedder import cached_queries, save_arrays

TRAIN_FILE = Path(__file__).with_name("data") / "scope_train.yml"
GENERAL = "general"  # the reply topic when no labelled neighbour is near enough
#: Replies only wording earns: an injection is told by what it says ("忽略以上指令"), not by what it is near, and an
#: alarm (119, 96333, 122, 110) is never raised by resemblance (油烟 is near 焦糊味 but no fire).
CUE_ONLY = frozenset({"injection", "fire", "lift", "traffic_accident", "missing_person", "violence"})


@dataclass(frozen=True)
class Example:
    text: str
    out: bool  # out of scope
    reply: str = GENERAL  # for an out-of-scope example: the offtopic topic whose reply fits it ("" for none)


@dataclass(frozen=True)
class ProbeVerdict:
    p_out: float  # probability that the question is out of scope
    reply: str  # the reply topic of the nearest labelled out-of-scope messages
    neighbour: float  # their mean cosine to the question


def load_examples(path: Path = TRAIN_FILE) -> list[Example]:
    raw = load_file(path)
    return [Example(str(e["text"]), e["scope"] == "out", e.get("reply") or GENERAL) for e in raw]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 25) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression, by Newton's method (deterministic, no library)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-6:
            break
    return w[:-1], float(w[-1])


class ScopeProbe:
    def __init__(
        self,
        mean: np.ndarray,
        scale: np.ndarray,
        weights: np.ndarray,
        bias: float,
        out_vectors: np.ndarray,
        out_replies: list[str],
        neighbours: int = 5,
        context=None,
    ):
        self.mean, self.scale, self.weights, self.bias = mean, scale, weights, bias
        self.context = context  # vectors -> extra features (the best KB and topic-prototype cosines), or None
        self.out_vectors = np.ascontiguousarray(out_vectors, dtype=np.float32)
        self.out_replies = out_replies
        self.neighbours = neighbours

    @classmethod
    def train(
        cls, vectors: np.ndarray, examples: list[Example], l2: float = 30.0, context=None, cache_dir: Path | None = None
    ) -> ScopeProbe:
        """Fit on the examples' vectors; with ``cache_dir`` the fit for these exact features is kept on disk (the
        Newton fit over ~5,500 messages was a second of every start)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        x = _features(vectors, context)
        y = np.array([e.out for e in examples], dtype=np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        w, b = _fit_cached((x - mean) / scale, y, l2, cache_dir)
        outs = [i for i, e in enumerate(examples) if e.out and e.reply]  # those with a reply topic to lend
        return cls(mean, scale, w, b, vectors[outs], [examples[i].reply for i in outs], context=context)

    @classmethod
    def build(
        cls, embedder, examples: list[Example] | None = None, cache_dir: Path | None = None, context=None
    ) -> ScopeProbe:
        """Train on the labelled messages, their vectors encoded once per model (cached in ``cache_dir``)."""
        examples = examples if examples is not None else load_examples()
        vectors = cached_queries(embedder, [e.text for e in examples], cache_dir)
        return cls.train(vectors, examples, context=context, cache_dir=cache_dir)

    def p_out(self, query_vector: np.ndarray) -> float:
        vec = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
        x = (_features(vec, self.context)[0] - self.mean) / self.scale
        return float(1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias))))

    def verdict(self, query_vector: np.ndarray) -> ProbeVerdict:
        vec = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        sims = self.out_vectors @ vec
        top = np.argsort(-sims)[: self.neighbours]
        votes: dict[str, float] = {}
        for i in top:
            votes[self.out_replies[i]] = votes.get(self.out_replies[i], 0.0) + float(sims[i])
        reply = max(votes, key=votes.get) if votes else GENERAL
        reply = GENERAL if reply in CUE_ONLY else reply
        return ProbeVerdict(self.p_out(vec), reply, float(sims[top].mean()) if len(top) else 0.0)


def _features(vectors: np.ndarray, context) -> np.ndarray:
    x = np.asarray(vectors, dtype=np.float64)
    return x if context is None else np.hstack([x, np.asarray(context(vectors), dtype=np.float64)])


def _fit_cached(x: np.ndarray, y: np.ndarray, l2: float, cache_dir: Path | None) -> tuple[np.ndarray, float]:
    """:func:`fit_logistic`, or its result kept for these exact inputs (a new message or model is a new key)."""
    if cache_dir is None:
        return fit_logistic(x, y, l2)
    digest = hashlib.sha256(np.ascontiguousarray(x).tobytes() + y.tobytes() + repr(l2).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"scope-probe-fit-{digest}.npz"
    try:
        with np.load(path) as saved:
            return saved["weights"], float(saved["bias"])
    except (OSError, KeyError, ValueError):
        pass
    w, b = fit_logistic(x, y, l2)
    try:
        save_arrays(path, weights=w, bias=np.float64(b))
    except OSError:
        pass
    return w, b
