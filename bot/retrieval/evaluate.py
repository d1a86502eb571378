"""Measure retrieval and answers on the dev set; optionally sweep fusion and confidence settings.

Retrieval: hit@1, hit@3, MRR per question kind for dense-only, BM25-only and hybrid.
Answers: kind accuracy, agency exactness, indicator exactness, out-of-scope precision/recall.
The dev set is the tuning set: tuned values go to settings defaults, never per-question rules.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from bot.errors import UserFacingError
from bot.settings import REPO_ROOT

DEV_SET = REPO_ROOT / "tests" / "data" / "dev_questions.yml"
HELDOUT_SET = REPO_ROOT / "tests" / "data" / "heldout_questions.yml"  # never tune on it
SETS = {"dev": DEV_SET, "heldout": HELDOUT_SET}
KINDS = ("service", "agency", "indicator", "clause")


@dataclass
class DevQuestion:
    q: str
    kind: str
    gold: list[str] = field(default_factory=list)
    agencies: list[str] = field(default_factory=list)
    indicator: str | None = None
    hint: str | None = None
    aspect: str | None = None
    style: str | None = None  # informational (colloquial, typo, fragment, ...)
    matter_category: str | None = None  # kind=out_of_scope community matter: the consultation category it belongs to


def load_dev_set(path: Path | None = None) -> list[DevQuestion]:
    """A question set in the dev-set schema (default: the dev set, the only tuning set)."""
    raw = yaml.safe_load(Path(path or DEV_SET).read_text(encoding="utf-8"))
    return [DevQuestion(**item) for item in raw["questions"]]


def load_set(name: str) -> list[DevQuestion]:
    """A named question set: "dev" (tuning) or "heldout" (measurement only)."""
    if name not in SETS:
        raise ValueError(f"unknown question set {name!r}; choose from {sorted(SETS)}")
    return load_dev_set(SETS[name])


def _rank_metrics(ranked: list[str], gold: set[str]) -> tuple[float, float, float]:
    rank = next((i + 1 for i, pid in enumerate(ranked) if pid in gold), None)
    if rank is None:
        return 0.0, 0.0, 0.0
    return float(rank == 1), float(rank <= 3), 1.0 / rank


def retrieval_table(assistant, questions: list[DevQuestion], modes=("dense", "bm25", "hybrid"), params=None) -> dict:
    """{mode: {kind or "all": {"n", "hit@1", "hit@3", "mrr"}}} over in-scope questions without a hint."""
    table: dict = {}
    scored = [q for q in questions if q.kind in KINDS and not q.hint and q.gold]
    for mode in modes:
        rows: dict = {}
        for q in scored:
            res = assistant.retriever.search(q.q, k=10, mode=mode, params=params)
            m = _rank_metrics([h.passage.id for h in res.hits], set(q.gold))
            for key in (q.kind, "all"):
                acc = rows.setdefault(key, [0, 0.0, 0.0, 0.0])
                acc[0] += 1
                for j in range(3):
                    acc[j + 1] += m[j]
        table[mode] = {
            k: {"n": v[0], "hit@1": v[1] / v[0], "hit@3": v[2] / v[0], "mrr": v[3] / v[0]} for k, v in rows.items()
        }
    return table


def answer_checks(assistant, questions: list[DevQuestion]) -> dict:
    """Answer-level exactness: kind, agency names, indicator rows, out-of-scope gate."""
    stats = {
        "kind": [0, 0],
        "agency": [0, 0],
        "indicator": [0, 0],
        "oos_recall": [0, 0],
        "oos_false_alarm": [0, 0],
        "followup": [0, 0],
        "matter": [0, 0],
        "matter_false_alarm": [0, 0],
    }
    failures: list[str] = []
    for q in questions:
        try:
            ans = assistant.ask(q.q, service_hint=q.hint)
        except UserFacingError as e:
            failures.append(f"{q.q}: error {e.message}")
            continue
        ids = [s.id for s in ans.sources]
        ok_kind = ans.kind == q.kind
        stats["kind"][0] += ok_kind
        stats["kind"][1] += 1
        if not ok_kind:
            failures.append(f"{q.q}: kind {ans.kind} (want {q.kind}) top={ids[:2]}")
        if q.kind == "out_of_scope":
            stats["oos_recall"][0] += ans.kind == "out_of_scope"
            stats["oos_recall"][1] += 1
        else:
            stats["oos_false_alarm"][0] += ans.kind == "out_of_scope"
            stats["oos_false_alarm"][1] += 1
        if q.matter_category:
            ok = ans.matter_category == q.matter_category
            stats["matter"][0] += ok
            stats["matter"][1] += 1
            if not ok:
                failures.append(f"{q.q}: matter {ans.matter_category} (want {q.matter_category})")
        else:
            stats["matter_false_alarm"][0] += ans.matter_category is not None
            stats["matter_false_alarm"][1] += 1
            if ans.matter_category is not None:
                failures.append(f"{q.q}: taken for a {ans.matter_category} matter")
        if q.kind == "agency":
            ok = all(a in ans.agencies and a in ans.answer for a in q.agencies)
            stats["agency"][0] += ok
            stats["agency"][1] += 1
            if not ok:
                failures.append(f"{q.q}: agencies {ans.agencies[:4]} (want {q.agencies})")
        if q.kind == "indicator" and q.indicator:
            ind = next(i for i in assistant.kb.plan.indicators if i.id == q.indicator)
            ok = (
                bool(ids) and ids[0] == q.indicator and ind.target_2025.text in ans.answer and ind.binding in ans.answer
            )
            stats["indicator"][0] += ok
            stats["indicator"][1] += 1
            if not ok:
                failures.append(f"{q.q}: indicator {ids[:1]} (want {q.indicator})")
        if q.hint:
            ok = bool(ans.services) and ans.services[0]["id"] in q.gold
            stats["followup"][0] += ok
            stats["followup"][1] += 1
    return {"stats": {k: (v[0] / v[1] if v[1] else float("nan"), v[1]) for k, v in stats.items()}, "failures": failures}


def gate_split(assistant, questions: list[DevQuestion], params=None) -> tuple[list[float], list[float]]:
    """Gate scores of in-scope vs out-of-scope questions (what the threshold separates)."""
    ins, outs = [], []
    for q in questions:
        if q.hint or q.matter_category:  # matters are in the domain; the matter detector, not the gate, handles them
            continue
        res = assistant.retriever.search(q.q, k=5)
        (outs if q.kind == "out_of_scope" else ins).append(assistant.scope(q.q, res, params).score)
    return ins, outs


def calibrate_gate(assistant, questions: list[DevQuestion]) -> list[tuple[float, float, float, float, float]]:
    """Dev set only. Grid over the gate's evidence weights; rows (gap, threshold, sparse w, cue, domain), widest gap first.

    gap = lowest in-scope score minus highest out-of-scope score; the threshold is their midpoint."""
    base = assistant.gate.params
    rows = []
    for ws, cue, dom in itertools.product((0.0, 0.005, 0.01, 0.02), (0.0, 0.01, 0.02), (0.0, 0.01, 0.02)):
        params = replace(base, sparse_weight=ws, cue_bonus=cue, domain_bonus=dom)
        ins, outs = gate_split(assistant, questions, params)
        rows.append((min(ins) - max(outs), (min(ins) + max(outs)) / 2, ws, cue, dom))
    return sorted(rows, key=lambda r: -r[0])


def tune(assistant, questions: list[DevQuestion]) -> list[tuple[float, float, float, float, float]]:
    """Grid over (rrf_k, dense weight, sparse weight): returns rows (hit@3, mrr, k, wd, ws), best first."""
    base = assistant.retriever.params
    rows = []
    for k, wd, ws in itertools.product((1, 2, 5, 10, 20, 60), (0.5, 0.75, 1.0), (0.5, 0.75, 1.0)):
        if wd < 1.0 and ws < 1.0:
            continue
        t = retrieval_table(
            assistant, questions, modes=("hybrid",), params=replace(base, rrf_k=k, dense_weight=wd, sparse_weight=ws)
        )
        rows.append((t["hybrid"]["all"]["hit@3"], t["hybrid"]["all"]["mrr"], k, wd, ws))
    return sorted(rows, key=lambda r: (-r[0], -r[1]))


def format_table(table: dict) -> str:
    modes = list(table)
    kinds = [k for k in (*KINDS, "all") if k in table[modes[0]]]
    head = f"{'kind':<10}{'n':>4}  " + "  ".join(f"{m + ' h@1':>11}{'h@3':>6}{'MRR':>6}" for m in modes)
    lines = [head, "-" * len(head)]
    for k in kinds:
        n = table[modes[0]][k]["n"]
        cells = "  ".join(
            f"{table[m][k]['hit@1']:>11.3f}{table[m][k]['hit@3']:>6.3f}{table[m][k]['mrr']:>6.3f}" for m in modes
        )
        lines.append(f"{k:<10}{n:>4}  {cells}")
    return "\n".join(lines)


def calibrate_matters(assistant, questions: list[DevQuestion]) -> list[tuple[int, int, float, float, float]]:
    """Dev set only. Grid over the matter detector's threshold and bonuses.

    Rows (matters missed or miscategorised, other questions taken for matters, threshold, keyword bonus, cue bonus),
    fewest errors first."""
    base = assistant.matters.params
    signals = []
    for q in questions:
        if q.hint:
            continue
        s = assistant.matter(q.q, assistant.retriever.search(q.q, k=5))
        signals.append((q.matter_category, s))
    rows = []
    for th, kw, cue in itertools.product(
        (0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06), (0.0, 0.01, 0.02, 0.03), (0.0, 0.01, 0.02, 0.03)
    ):
        params = replace(base, threshold=th, keyword_bonus=kw, cue_bonus=cue)
        missed = false = 0
        for gold, s in signals:
            if s is not None:
                s = assistant.matters.signal_with(s, params)
            hit = s is not None and assistant.matters.is_matter(s, params)
            if gold:
                missed += not (hit and s.category == gold)
            else:
                false += hit
        rows.append((missed, false, th, kw, cue))
    return sorted(rows, key=lambda r: (r[0] + r[1], r[1], -r[2]))
