"""Precision and recall of the co-sign detector on labelled pairs, and the tuning search (tuning half only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.closedloop import similar
from bot.settings import REPO_ROOT

TUNING = REPO_ROOT / "tests" / "data" / "cosign_pairs.yml"
HELDOUT = REPO_ROOT / "tests" / "data" / "cosign_pairs_heldout.yml"


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    same: bool
    kind: str


@dataclass(frozen=True, slots=True)
class Result:
    pairs: int
    positives: int
    tp: int
    fp: int
    fn: int
    errors_by_kind: dict[str, int]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_pairs(path: Path) -> list[Pair]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return [Pair(str(p["a"]), str(p["b"]), bool(p["same"]), str(p.get("kind", ""))) for p in data["pairs"]]


def judge(pairs: list[Pair], feats: list[similar.Features], weight: float, threshold: float) -> Result:
    tp = fp = fn = 0
    errors: dict[str, int] = {}
    for p, f in zip(pairs, feats):
        said = similar.score(f, weight) >= threshold
        tp += said and p.same
        fp += said and not p.same
        fn += (not said) and p.same
        if said != p.same:
            errors[p.kind] = errors.get(p.kind, 0) + 1
    return Result(len(pairs), sum(p.same for p in pairs), tp, fp, fn, errors)


def evaluate(path: Path, weight: float, threshold: float) -> Result:
    pairs = load_pairs(path)
    return judge(pairs, similar.features([(p.a, p.b) for p in pairs]), weight, threshold)


def tune(path: Path = TUNING) -> tuple[float, float, Result]:
    """Best (weight, threshold) by F1, ties to precision, on a tuning file (a held-out file is refused)."""
    if "heldout" in Path(path).name:
        raise ValueError("never tune on a held-out file")
    pairs = load_pairs(path)
    feats = similar.features([(p.a, p.b) for p in pairs])
    best: tuple[float, float, Result] | None = None
    for w in [i / 20 for i in range(21)]:
        scores = sorted({round(similar.score(f, w), 4) for f in feats if not f.conflict})
        for t in scores:
            r = judge(pairs, feats, w, t)
            if best is None or (r.f1, r.precision) > (best[2].f1, best[2].precision):
                best = (w, t, r)
    assert best is not None
    return best
