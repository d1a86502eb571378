"""Grade the whole assistant on the blind question sets (written from the plan alone, never from the KB).

Each question says what a right reply contains (``must_all``: groups of alternative phrases, one of every group
must appear in the reply or in the sources it quotes) or that it must be declined (``pointer_any``: one of these
pointers must appear in the reply). ``blind_dev`` … ``blind_devN`` (but those in ``NOT_YET_TUNED``) and (since
2026-12-01) ``blind_heldout`` are for tuning; ``blind_heldout2`` … ``blind_heldoutN`` only measure (their failures are
never printed), N being ``LAST_SET``.
"""

from __future__ import annotations

import statistics
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import UserFacingError
from bot.kb.yamlload import load_file
from bot.settings import REPO_ROOT

_DATA = REPO_ROOT / "tests" / "data"
#: Set 1 (``blind_dev`` + ``blind_heldout``, the held-out half retired to tuning on 2026-12-01), ``blind_dev2`` and
#: ``blind_dev3``, then from set 2 on each set's frozen half (``blind_heldoutN``) and from set 4 on its tuning half
#: (``blind_devN``). Every set was written blind from the plan; a new set adds one to ``LAST_SET``.
LAST_SET = 25
#: Tuning halves not yet tuned on: measured only until a session tunes on them (then the scope probe learns them).
NOT_YET_TUNED: frozenset[str] = frozenset()

BLIND_SETS = {
    name: _DATA / f"{name}.yml"
    for name in [
        "blind_dev",
        "blind_dev2",
        "blind_dev3",
        "blind_heldout",
        "blind_heldout2",
        "blind_heldout3",
        *(f"blind_{half}{n}" for n in range(4, LAST_SET + 1) for half in ("dev", "heldout")),
    ]
}
#: Sets only ever measured: ``bot eval`` prints their summary, never their failures.
MEASURE_ONLY = frozenset({f"blind_heldout{n}" for n in range(2, LAST_SET + 1)} | NOT_YET_TUNED)
MODES = ("dense", "bm25", "hybrid")


@dataclass
class BlindQuestion:
    id: str
    question: str
    kind: str
    expect: str  # "answer" | "decline"
    tags: list[str] = field(default_factory=list)
    must_all: list[list[str]] = field(default_factory=list)
    pointer_any: list[str] = field(default_factory=list)


@dataclass
class Grade:
    id: str
    kind: str
    expect: str
    correct: bool
    declined: bool
    pointer: bool
    length: int
    missing: list[list[str]]


def load_blind(name_or_path: str | Path) -> list[BlindQuestion]:
    path = BLIND_SETS.get(str(name_or_path), name_or_path)
    raw = load_file(path)
    return [BlindQuestion(**{k: v for k, v in item.items() if k in BlindQuestion.__dataclass_fields__}) for item in raw]


def tuning_examples(reply_for, names: list[str] | None = None) -> list:
    """The tuning sets' questions as scope-probe examples (out of scope when they must be declined, with the reply
    topic ``reply_for(question, pointer_any)`` names); a measure-only set never teaches the probe."""
    from bot.retrieval.probe import Example

    names = [n for n in (names or BLIND_SETS) if n not in MEASURE_ONLY]
    return [
        Example(q.question, True, reply_for(q.question, q.pointer_any))
        if q.expect == "decline"
        else Example(q.question, False)
        for n in names
        for q in load_blind(n)
    ]


def measured_texts() -> frozenset[str]:
    """Every measure-only set's question texts: nothing that teaches the assistant may contain one (two sets'
    writers sometimes typed the same short question)."""
    return frozenset(q.question for n in MEASURE_ONLY for q in load_blind(n))


def _fold(text: str) -> str:
    """Case and width folded (NFKC): a reply's full-width 村（居） or ９０％ is the set's 村(居) or 90%."""
    return unicodedata.normalize("NFKC", text).lower()


def _contains(text: str, phrase: str) -> bool:
    return _fold(phrase) in text


def missing_groups(text: str, groups: list[list[str]]) -> list[list[str]]:
    """The must_all groups none of whose phrases occur in ``text`` (case- and width-insensitive)."""
    low = _fold(text)
    return [g for g in groups if not any(_contains(low, str(p)) for p in g)]


def is_decline(ans) -> bool:
    """A decline gives no local content: out of scope and nothing cited."""
    return ans.kind == "out_of_scope" and not ans.sources


def graded_text(ans) -> str:
    """The reply (and, for a 繁體 reply, its simplified form: the set's phrases are simplified) and the text of the
    sources it quotes (the cited ones, not the further search hits)."""
    cited = ans.sources[: max(0, int(getattr(ans, "cited", 1)))]
    return "\n".join([_reply_text(ans), *(s.text for s in cited)])


def _reply_text(ans) -> str:
    """The reply, with its simplified form when it is in 繁體 (a 繁體 question is answered in 繁體; pointers are
    written in simplified characters), as for must_all."""
    from bot.retrieval.script import to_simplified

    simple = to_simplified(ans.answer)
    return ans.answer if simple == ans.answer else f"{ans.answer}\n{simple}"


def grade(q: BlindQuestion, ans) -> Grade:
    declined = is_decline(ans)
    pointer = not q.pointer_any or any(_contains(_fold(_reply_text(ans)), str(p)) for p in q.pointer_any)
    missing = missing_groups(graded_text(ans), q.must_all)
    if q.expect == "decline":
        correct = declined and pointer
    else:
        correct = not declined and not missing
    return Grade(q.id, q.kind, q.expect, correct, declined, pointer, len(ans.answer), missing)


def _ask(assistant, text: str):
    try:
        return assistant.ask(text)
    except UserFacingError as e:  # a polite refusal counts as a decline with that text
        from bot.retrieval.answers import Answer

        return Answer(text, "out_of_scope", e.message)


def assistant_report(assistant, questions: list[BlindQuestion]) -> dict:
    grades = [grade(q, _ask(assistant, q.question)) for q in questions]
    by_kind: dict[str, list[int]] = {}
    for g in grades:
        for key in (g.kind, "all"):
            acc = by_kind.setdefault(key, [0, 0])
            acc[0] += g.correct
            acc[1] += 1
    off = [g for g in grades if g.expect == "decline"]
    ins = [g for g in grades if g.expect == "answer"]
    lengths = [g.length for g in grades]
    return {
        "accuracy": {k: (v[0] / v[1], v[1]) for k, v in by_kind.items()},
        "offtopic_declined_with_pointer": (
            sum(g.declined and g.pointer for g in off) / len(off) if off else float("nan"),
            len(off),
        ),
        "offtopic_declined": (sum(g.declined for g in off) / len(off) if off else float("nan"), len(off)),
        "inscope_wrongly_declined": (sum(g.declined for g in ins) / len(ins) if ins else float("nan"), len(ins)),
        "first_reply_chars": {"median": statistics.median(lengths) if lengths else 0, "max": max(lengths, default=0)},
        "grades": grades,
    }


def mode_reports(assistant, questions: list[BlindQuestion], modes=MODES) -> dict:
    """{mode: assistant_report} with ask() answering from that ranking (hybrid is the assistant as deployed)."""
    saved = assistant.search_mode
    try:
        out = {}
        for mode in modes:
            assistant.search_mode = mode
            out[mode] = assistant_report(assistant, questions)
        return out
    finally:
        assistant.search_mode = saved


def retrieval_report(assistant, questions: list[BlindQuestion], modes=MODES, depth: int = 3) -> dict:
    """{mode: {kind or "all": (share, n)}}: every must_all group found in the top-``depth`` passages' text."""
    graded = [q for q in questions if q.expect == "answer" and q.must_all]
    out: dict = {}
    for mode in modes:
        rows: dict[str, list[int]] = {}
        for q in graded:
            try:
                res = assistant.search(q.question, mode=mode, k=depth)
            except UserFacingError:
                ok = False
            else:
                ok = not missing_groups("\n".join(h.passage.text for h in res.hits[:depth]), q.must_all)
            for key in (q.kind, "all"):
                acc = rows.setdefault(key, [0, 0])
                acc[0] += ok
                acc[1] += 1
        out[mode] = {k: (v[0] / v[1], v[1]) for k, v in rows.items()}
    return out


def format_report(name: str, rep: dict, retrieval: dict, show_failures: bool, by_mode: dict | None = None) -> str:
    """Per kind, side by side: the whole assistant, the assistant answering from each ranking alone (``by_mode``),
    and each ranking's top-3 passages; then the off-topic refusal rate of each."""
    by_mode = {m: r for m, r in (by_mode or {}).items() if m != "hybrid"}
    kinds = sorted(k for k in rep["accuracy"] if k != "all") + ["all"]
    head = (
        f"{'kind':<10}{'n':>4}  {'assistant':>9}  "
        + "".join(f"{'ask/' + m:>11}  " for m in by_mode)
        + "  ".join(f"{m + ' top3':>11}" for m in retrieval)
    )
    lines = [
        f"== {name}: whole assistant (Assistant.ask, hybrid) graded on must_all / pointer_any; ask/<mode>: the same "
        f"assistant answering from that ranking alone; <mode> top3: the passages alone",
        head,
        "-" * len(head),
    ]
    for k in kinds:
        acc, n = rep["accuracy"][k]
        modes = "".join(
            f"{r['accuracy'][k][0]:>11.3f}  " if k in r["accuracy"] else f"{'-':>11}  " for r in by_mode.values()
        )
        cells = "  ".join(f"{retrieval[m][k][0]:>11.3f}" if k in retrieval[m] else f"{'-':>11}" for m in retrieval)
        lines.append(f"{k:<10}{n:>4}  {acc:>9.3f}  {modes}{cells}")
    refused = [
        rep["offtopic_declined_with_pointer"][0],
        *(r["offtopic_declined_with_pointer"][0] for r in by_mode.values()),
    ]
    wrong = [rep["inscope_wrongly_declined"][0], *(r["inscope_wrongly_declined"][0] for r in by_mode.values())]
    lines.append(
        f"{'refused*':<14}  {refused[0]:>9.3f}  "
        + "".join(f"{v:>11.3f}  " for v in refused[1:])
        + "  ".join(f"{'(no gate)':>11}" for _ in retrieval)
    )
    lines.append(f"{'wrong refusal':<14}  {wrong[0]:>9.3f}  " + "".join(f"{v:>11.3f}  " for v in wrong[1:]))
    lines.append("  * off-topic questions declined with a pointer (a ranking alone never declines)")
    v, n = rep["offtopic_declined_with_pointer"]
    lines.append(
        f"off-topic declined with a pointer   {v:.3f}  (n={n}; declined at all {rep['offtopic_declined'][0]:.3f})"
    )
    v, n = rep["inscope_wrongly_declined"]
    lines.append(f"in-scope wrongly declined           {v:.3f}  (n={n})")
    c = rep["first_reply_chars"]
    lines.append(f"first reply characters              median {c['median']:.0f}, max {c['max']}")
    if show_failures:
        for g in rep["grades"]:
            if not g.correct:
                why = (
                    ("not declined" if not g.declined else "no pointer")
                    if g.expect == "decline"
                    else ("declined" if g.declined else f"missing {g.missing}")
                )
                lines.append(f"  ✗ {g.id} {g.kind}: {why}")
    else:
        lines.append(
            f"  ({sum(not g.correct for g in rep['grades'])} misses; details not shown: held-out set, never tune on it)"
        )
    return "\n".join(lines)
