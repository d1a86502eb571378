"""Group the learning queue's questions by meaning: the same need asked in different words is one item, with counts.

Greedy on the embedding model's query vectors (the one the search uses, passed in): most frequent wording first,
each further wording joins the first group whose representative it is close enough to. Without vectors (the
model still loading) the groups are the store's own (same wording after normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from bot.feedback.store import Gap

THRESHOLD = 0.88  # cosine between e5 query vectors of two wordings of one question


@dataclass
class Cluster:
    question: str  # the most frequent wording
    wordings: list[Gap] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(g.count for g in self.wordings)

    @property
    def thumbs_down(self) -> int:
        return sum(g.thumbs_down for g in self.wordings)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(sorted({r for g in self.wordings for r in g.reasons}))

    @property
    def last_seen(self) -> datetime:
        return max(g.last_seen for g in self.wordings)


def cluster(gaps: list[Gap], vectors: np.ndarray | None = None, threshold: float = THRESHOLD) -> list[Cluster]:
    """``vectors[i]`` is the (L2-normalised) vector of ``gaps[i].question``; the result is most frequent first."""
    order = sorted(range(len(gaps)), key=lambda i: (-gaps[i].count, gaps[i].question))
    groups: list[tuple[int, Cluster]] = []  # (index of the representative, cluster)
    for i in order:
        home = None
        if vectors is not None:
            home = next((c for rep, c in groups if float(vectors[rep] @ vectors[i]) >= threshold), None)
        if home is None:
            home = Cluster(gaps[i].question)
            groups.append((i, home))
        home.wordings.append(gaps[i])
    return sorted((c for _, c in groups), key=lambda c: (-c.count, c.question))
