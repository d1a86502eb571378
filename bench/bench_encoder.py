"""Encoder backends side by side (torch, onnx fp32, onnx int8), all in one run so the ratios are fair.

Prints per backend: query-encode p50/p95 and the ratio to torch, in a fresh process per backend (alternating
order over passes, so a busy machine slows all of them alike) and, for reference, all in one process
interleaved query by query (there torch suffers from sharing cores with onnxruntime's threads), cosine of each backend's query vectors to torch's on the dev
questions, retrieval quality per evaluation set (hit@1/hit@3/MRR, dense and hybrid), and the resident
memory of a fresh process holding only that backend (after loading, after 100 queries, peak).

Run: ``.venv/bin/python bench/bench_encoder.py [--rounds 3] [--questions N] [--skip-eval] [--skip-memory]``
(the ONNX graphs come from ``python -m bot model convert``; they are exported on first use otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

BACKENDS = ("torch", "onnx", "onnx-int8")
#: The per-process figures also run onnx as it was before bot/embedding/unigram.py and pages.py: the HF
#: ``tokenizers`` library, weight pages kept mapped.
PROCESS_VARIANTS = (*BACKENDS, "onnx+tokenizers")


def _settings(backend: str):
    from bot.settings import get_settings

    name, _, tokenizer = backend.partition("+")
    update = {"embedding_backend": name}
    if tokenizer:
        update.update(embedding_tokenizer=tokenizer, embedding_release_pages=False)
    return get_settings().model_copy(update=update)


def _status_mb(field: str) -> float:
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_memory(backend: str) -> None:
    """In a fresh process: load one backend, encode 100 queries, report resident memory as JSON."""
    import bot.embedding as emb
    from bot.retrieval.evaluate import load_set

    base = _status_mb("VmRSS")
    s = _settings(backend)
    t0 = time.perf_counter()
    emb.load_configured(s)
    emb.encode_queries(["预热"], settings=s)
    load_s = time.perf_counter() - t0
    loaded = _status_mb("VmRSS")
    questions = [q.q for q in load_set("dev")]
    times = []
    for i in range(100):
        t = time.perf_counter()
        emb.encode_queries([questions[i % len(questions)]], settings=s)
        times.append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "interpreter": base,
                "loaded": loaded,
                "after_100": _status_mb("VmRSS"),
                "peak": _status_mb("VmHWM"),
                "load_s": load_s,
                "times": times,
                "torch_imported": "torch" in sys.modules,
            }
        )
    )


def separate_processes(passes: int) -> None:
    """One fresh process per backend (as it would serve), run in alternating order so load drifts even out."""
    runs: dict[str, list[dict]] = {b: [] for b in PROCESS_VARIANTS}
    for i in range(passes):
        for b in PROCESS_VARIANTS if i % 2 == 0 else PROCESS_VARIANTS[::-1]:
            out = (
                subprocess.run(
                    [sys.executable, __file__, "--child-memory", b],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            runs[b].append(json.loads(out))
    times = {b: [t for m in runs[b] for t in m["times"]] for b in PROCESS_VARIANTS}
    ref50, ref95 = np.percentile(times["torch"], 50), np.percentile(times["torch"], 95)
    old50, old95 = np.percentile(times["onnx+tokenizers"], 50), np.percentile(times["onnx+tokenizers"], 95)
    print(f"query encode in a fresh process per backend, 100 dev questions x {passes} alternating passes:")
    for b in PROCESS_VARIANTS:
        p50, p95 = np.percentile(times[b], 50), np.percentile(times[b], 95)
        print(
            f"  {b:<16} p50 {p50 * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms   ratio to torch p50 {p50 / ref50:5.2f}  p95 {p95 / ref95:5.2f}"
            f"   to onnx+tokenizers p50 {p50 / old50:5.2f}  p95 {p95 / old95:5.2f}"
        )
    print("resident memory of that process (MB; VmRSS after load and after 100 queries, VmHWM peak):")
    for b in PROCESS_VARIANTS:
        m = runs[b][-1]
        print(
            f"  {b:<16} after load {m['loaded']:7.0f}   after 100 queries {m['after_100']:7.0f}   peak {m['peak']:7.0f}"
            f"   (load {m['load_s']:.1f} s, torch imported: {m['torch_imported']})",
            flush=True,
        )


def latency_and_cosine(rounds: int, limit: int) -> None:
    import bot.embedding as emb
    from bot.retrieval.evaluate import load_set

    questions = [q.q for q in load_set("dev")][:limit]
    settings = {b: _settings(b) for b in BACKENDS}
    for b in BACKENDS:
        emb.load_configured(settings[b])
        for q in questions[:5]:
            emb.encode_queries([q], settings=settings[b])  # warm-up
    times: dict[str, list[float]] = {b: [] for b in BACKENDS}
    order = list(BACKENDS)
    for _ in range(rounds):
        for q in questions:
            order = order[1:] + order[:1]  # rotate who goes first
            for b in order:
                t = time.perf_counter()
                emb.encode_queries([q], settings=settings[b])
                times[b].append(time.perf_counter() - t)
    ref = np.percentile(times["torch"], 50)
    ref95 = np.percentile(times["torch"], 95)
    print(
        f"query encode, all backends in ONE process, {len(questions)} dev questions x {rounds} rounds, interleaved (threads: torch "
        f"{_torch_threads()}, onnxruntime {emb.load_onnx_encoder(settings['onnx']).session.get_session_options().intra_op_num_threads}):"
    )
    for b in BACKENDS:
        p50, p95 = np.percentile(times[b], 50), np.percentile(times[b], 95)
        print(
            f"  {b:<10} p50 {p50 * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms   ratio to torch p50 {p50 / ref:5.2f}  p95 {p95 / ref95:5.2f}"
        )
    vecs = {b: emb.encode_queries(questions, settings=settings[b]) for b in BACKENDS}
    singles = {b: np.vstack([emb.encode_queries([q], settings=settings[b]) for q in questions]) for b in ("onnx-int8",)}
    print(f"cosine to torch's query vectors on the {len(questions)} dev questions:")
    for b in BACKENDS[1:]:
        cos = (vecs[b] * vecs["torch"]).sum(1)
        print(f"  {b:<10} batched: min {cos.min():.4f}  mean {cos.mean():.4f}", end="")
        if b in singles:
            c1 = (singles[b] * vecs["torch"]).sum(1)
            print(f"   one at a time (as served): min {c1.min():.4f}  mean {c1.mean():.4f}", end="")
        print()


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def quality(backends) -> None:
    from bot.retrieval import evaluate as E
    from bot.retrieval.assistant import Assistant

    print("retrieval quality per set and backend (in-scope questions without a hint):")
    print(f"  {'set':<8}{'backend':<11}{'mode':<8}{'n':>4}  hit@1  hit@3    MRR   answer kind")
    for b in backends:
        assistant = Assistant.build(_settings(b), progress=False)
        for name in ("dev", "heldout"):
            questions = E.load_set(name)
            table = E.retrieval_table(assistant, questions, modes=("dense", "hybrid"))
            kind_acc, kind_n = E.answer_checks(assistant, questions)["stats"]["kind"]
            for mode in ("dense", "hybrid"):
                r = table[mode]["all"]
                extra = f"   {kind_acc:.3f} (n={kind_n})" if mode == "hybrid" else ""
                print(
                    f"  {name:<8}{b:<11}{mode:<8}{r['n']:>4}  {r['hit@1']:.3f}  {r['hit@3']:.3f}  {r['mrr']:.3f}{extra}",
                    flush=True,
                )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3, help="passes over the dev questions for the latency figures")
    ap.add_argument(
        "--questions", type=int, default=1000, help="use only the first N dev questions for latency and cosine"
    )
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument("--skip-memory", action="store_true", help="skip the per-process latency and memory figures")
    ap.add_argument("--passes", type=int, default=2, help="alternating passes of the per-process figures")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument(
        "--eval-backends", default=",".join(BACKENDS), help="comma-separated backends for the quality table"
    )
    ap.add_argument("--child-memory", choices=PROCESS_VARIANTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_memory:
        child_memory(args.child_memory)
        return
    import bot.embedding as emb

    print(
        "load average at start: %.1f %.1f %.1f on %d cores (ratios are measured in this one run)"
        % (*os.getloadavg(), os.cpu_count() or 0)
    )
    for b in ("onnx", "onnx-int8"):
        emb.ensure_exported(_settings(b))
    if not args.skip_latency:
        latency_and_cosine(args.rounds, args.questions)
    if not args.skip_memory:
        separate_processes(args.passes)
    if not args.skip_eval:
        quality([b for b in args.eval_backends.split(",") if b in BACKENDS])
    print("load average at end: %.1f %.1f %.1f" % os.getloadavg())


if __name__ == "__main__":
    main()
