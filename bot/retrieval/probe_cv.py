"""Leave-one-tuning-set-out cross-validation of the scope probe (``bot eval --probe-cv``).

Why: the probe learns from the blind tuning sets, so grading it on them says nothing; each set is graded with a
probe trained on everything but that set (the labelled messages, the catalogue's names, the prototypes and the
other tuning sets), at each threshold. The threshold in settings is the one this table supports; the measure-only
sets are never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.retrieval import blind as B
from bot.retrieval.embedder import cached_queries
from bot.retrieval.probe import ScopeProbe


@dataclass
class Tally:
    correct: int = 0
    total: int = 0
    declined_ok: int = 0
    offtopic: int = 0
    wrongly_declined: int = 0
    inscope: int = 0

    def add(self, report: dict) -> None:
        acc, n = report["accuracy"]["all"]
        off, n_off = report["offtopic_declined_with_pointer"]
        wrong, n_in = report["inscope_wrongly_declined"]
        self.correct += round(acc * n)
        self.total += n
        self.declined_ok += round(off * n_off) if n_off else 0
        self.offtopic += n_off
        self.wrongly_declined += round(wrong * n_in) if n_in else 0
        self.inscope += n_in


def cross_validate(assistant, thresholds: list[float]) -> dict[float, dict[str, Tally]]:
    """{threshold: {set name or "all": tally}} with each tuning set graded by a probe that never saw it."""
    inner = getattr(assistant, "active", assistant)
    names = [n for n in B.BLIND_SETS if n not in B.MEASURE_ONLY]
    questions = {n: B.load_blind(n) for n in names}
    held = {q.question for qs in questions.values() for q in qs}
    base = [e for e in inner.probe_examples() if e.text not in held]
    per_set = {n: B.tuning_examples(inner.topics.reply_for, [n]) for n in names}
    embedder = inner.retriever.embedder
    vectors = {n: cached_queries(embedder, [e.text for e in per_set[n]], None) for n in names}
    base_vectors = cached_queries(embedder, [e.text for e in base], None)
    out: dict[float, dict[str, Tally]] = {t: {"all": Tally()} for t in thresholds}
    saved = inner.probe, inner.probe_threshold
    try:
        for name in names:
            others = [m for m in names if m != name]
            examples = base + [e for m in others for e in per_set[m]]
            matrix = np.vstack([base_vectors, *(vectors[m] for m in others)])
            inner.probe = ScopeProbe.train(matrix, examples, context=inner.scope_context)
            for t in thresholds:
                inner.probe_threshold = t
                report = B.assistant_report(inner, questions[name])
                out[t].setdefault(name, Tally()).add(report)
                out[t]["all"].add(report)
    finally:
        inner.probe, inner.probe_threshold = saved
    return out


def format_cv(table: dict[float, dict[str, Tally]]) -> str:
    lines = [f"{'threshold':>9}  {'correct':>15}  {'off-topic declined':>18}  {'wrongly declined':>16}"]
    for t, sets in table.items():
        a = sets["all"]
        lines.append(
            f"{t:>9.2f}  {a.correct:>5}/{a.total:<5} {a.correct / a.total:.3f}  "
            f"{a.declined_ok / max(a.offtopic, 1):>18.3f}  {a.wrongly_declined / max(a.inscope, 1):>16.3f}"
        )
    return "\n".join(lines)
