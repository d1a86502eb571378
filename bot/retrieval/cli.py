"""`python -m bot ask|eval|index build`: the retrieval commands."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bot.errors import UserFacingError
from bot.retrieval.blind import BLIND_SETS


def register(sub: argparse._SubParsersAction) -> None:
    ask = sub.add_parser("ask", help="answer a question (QUESTION, or '-' for one question per line on stdin)")
    ask.add_argument("question", help="the question, or - to read one per line from stdin")
    ask.add_argument("--json", action="store_true", help="print the answer as JSON (one object per line)")
    ask.add_argument("--top-k", type=int, default=3, help="number of sources (1-10)")
    ask.add_argument("--hint", default=None, help="id of the service under discussion (for follow-ups)")
    ask.set_defaults(func=_ask)

    ev = sub.add_parser("eval", help="hit@1/hit@3/MRR per kind for dense, BM25 and hybrid on the dev set")
    ev.add_argument(
        "--set",
        dest="qset",
        choices=["dev", "heldout", "all", *BLIND_SETS],
        default="dev",
        help="question set: dev (tuning), heldout (unseen wording, never tuned on), all (both tables), "
        "blind_dev / blind_heldout (written from the plan alone; the whole assistant's replies graded)",
    )
    ev.add_argument("--dev", type=Path, default=None, help="a question YAML file instead of --set")
    ev.add_argument("--tune", action="store_true", help="also sweep fusion weights and show the confidence split")
    ev.add_argument("--json", action="store_true")
    ev.add_argument(
        "--probe-cv",
        nargs="*",
        type=float,
        default=None,
        metavar="THRESHOLD",
        help="leave-one-tuning-set-out cross-validation of the scope probe at these thresholds (default 0.5-0.97)",
    )
    ev.add_argument(
        "--backend",
        choices=["torch", "onnx", "onnx-int8"],
        default=None,
        help="encoder backend for this run (default: LINLI_EMBEDDING_BACKEND); each keeps its own index",
    )
    ev.set_defaults(func=_eval)

    idx = sub.add_parser("index", help="search index").add_subparsers(dest="index_command", required=True)
    b = idx.add_parser("build", help="rebuild the search index now")
    b.set_defaults(func=_index_build)
    w = idx.add_parser("warm", help="build what the assistant computes once per model (index, scope probe) if missing")
    w.set_defaults(func=_index_warm)


def _load(progress: bool = True, settings=None):
    from bot.kb.loader import KBError
    from bot.retrieval.assistant import Assistant

    try:
        return Assistant.build(settings, progress=progress)
    except KBError as e:
        print(f"知识库有问题，请先运行 python -m bot kb check：\n{e}", file=sys.stderr)
        raise SystemExit(1) from None


def _print_answer(ans, as_json: bool) -> None:
    if as_json:
        print(json.dumps(ans.to_dict(), ensure_ascii=False), flush=True)
    else:
        print(ans.answer, flush=True)


def _ask(args: argparse.Namespace) -> int:
    assistant = _load(progress=sys.stderr.isatty())
    if args.question != "-":
        try:
            _print_answer(assistant.ask(args.question, top_k=args.top_k, service_hint=args.hint), args.json)
        except UserFacingError as e:
            print(json.dumps({"error": e.message}, ensure_ascii=False) if args.json else e.message)
            return 2
        return 0
    failures = 0
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        try:
            ans = assistant.ask(line, top_k=args.top_k, service_hint=args.hint)
        except UserFacingError as e:
            failures += 1
            print(
                json.dumps({"question": line, "error": e.message}, ensure_ascii=False) if args.json else e.message,
                flush=True,
            )
            continue
        except Exception as e:  # one bad line must not end the batch
            failures += 1
            print(
                json.dumps(
                    {"question": line, "error": "抱歉，这个问题处理出错了，请换个说法再试。"}, ensure_ascii=False
                ),
                flush=True,
            )
            print(f"error on a batch line: {type(e).__name__}", file=sys.stderr)
            continue
        _print_answer(ans, args.json)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from bot.retrieval import evaluate as E

    assistant = _load(progress=sys.stderr.isatty(), settings=_backend_settings(args.backend))
    if args.probe_cv is not None:
        from bot.retrieval.probe_cv import cross_validate, format_cv

        print(format_cv(cross_validate(assistant, args.probe_cv or [0.5, 0.7, 0.85, 0.9, 0.93, 0.97])))
        return 0
    if args.qset.startswith("blind") and not args.dev:
        return _eval_blind(assistant, args)
    if args.dev:
        sets = {str(args.dev): E.load_dev_set(args.dev)}
    else:
        sets = {name: E.load_set(name) for name in (("dev", "heldout") if args.qset == "all" else (args.qset,))}
    reports = {}
    for name, questions in sets.items():
        t0 = time.perf_counter()
        reports[name] = {
            "retrieval": E.retrieval_table(assistant, questions),
            "answers": E.answer_checks(assistant, questions),
            "seconds": time.perf_counter() - t0,
            "n": len(questions),
        }
    if args.json:
        out = reports if len(reports) > 1 else next(iter(reports.values()))
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    p = assistant.retriever.params
    names = {
        "kind": "answer kind accuracy",
        "agency": "agency exactness",
        "indicator": "indicator exactness",
        "oos_recall": "out-of-scope recall",
        "oos_false_alarm": "in-scope sent to out-of-scope",
        "followup": "follow-up (service_hint) correct",
        "matter": "community matter + category",
        "matter_false_alarm": "others taken for a matter",
    }
    for name, rep in reports.items():
        print(
            f"== {name} set: {rep['n']} questions; model {assistant.index_meta.get('model_id')}; index {assistant.index_meta.get('index_type', 'flat')}; RRF k={p.rrf_k} wd={p.dense_weight} ws={p.sparse_weight}"
        )
        print(E.format_table(rep["retrieval"]))
        print()
        for key, (value, n) in rep["answers"]["stats"].items():
            if n:
                print(f"{names[key]:<34}{value:6.3f}  (n={n})")
        for f in rep["answers"]["failures"]:
            print(f"  ✗ {f}")
        print(f"(took {rep['seconds']:.1f}s)\n")
    if args.tune:
        if "dev" not in sets:
            print("--tune works on the dev set only (never tune on the held-out set)", file=sys.stderr)
            return 2
        questions = sets["dev"]
        ins, outs = E.gate_split(assistant, questions)
        g = assistant.gate.params
        print(
            f"gate score: in-scope min {min(ins):.4f}, out-of-scope max {max(outs):.4f} (threshold {g.threshold}, "
            f"sparse w {g.sparse_weight}, cue {g.cue_bonus}, domain {g.domain_bonus})"
        )
        print("gate calibration (gap, midpoint threshold, sparse w, cue bonus, domain bonus), widest gap first:")
        for row in E.calibrate_gate(assistant, questions)[:6]:
            print("  " + "  ".join(f"{x:.4f}" for x in row))
        m = assistant.matters.params
        print(
            f"matter calibration (missed, false alarms, threshold, keyword bonus, cue bonus), fewest errors first "
            f"(now {m.threshold}, {m.keyword_bonus}, {m.cue_bonus}):"
        )
        for row in E.calibrate_matters(assistant, questions)[:6]:
            print("  " + "  ".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in row))
        print("fusion sweep (hit@3, MRR, rrf_k, dense w, sparse w), best first:")
        for row in E.tune(assistant, questions)[:8]:
            print("  " + "  ".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in row))
    return 0


def _backend_settings(backend: str | None):
    """The settings with another encoder backend, for side-by-side evaluations (None: as configured)."""
    from bot.settings import get_settings

    return get_settings().model_copy(update={"embedding_backend": backend}) if backend else None


def _eval_blind(assistant, args: argparse.Namespace) -> int:
    from bot.retrieval import blind as B

    if args.tune:
        print("--tune works on the dev set only", file=sys.stderr)
        return 2
    questions = B.load_blind(args.qset)
    t0 = time.perf_counter()
    by_mode = B.mode_reports(assistant, questions)
    rep = by_mode["hybrid"]
    retrieval = B.retrieval_report(assistant, questions)
    if args.json:
        out = {k: v for k, v in rep.items() if k != "grades"} | {"retrieval_top3": retrieval, "n": len(questions)}
        out["by_mode"] = {m: {k: v for k, v in r.items() if k != "grades"} for m, r in by_mode.items()}
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    print(B.format_report(args.qset, rep, retrieval, show_failures=args.qset not in B.MEASURE_ONLY, by_mode=by_mode))
    print(f"(took {time.perf_counter() - t0:.1f}s)")
    return 0


def _index_warm(args: argparse.Namespace) -> int:
    """Setup's step: the first ``Assistant.build`` on a fresh machine encodes every text the scope probe learns from
    (minutes); done once here, no test worker or action server pays it."""
    t0 = time.perf_counter()
    assistant = _load(progress=sys.stderr.isatty())
    print(f"assistant ready: {assistant.index_meta['count']} passages, built in {time.perf_counter() - t0:.1f}s")
    return 0


def _index_build(args: argparse.Namespace) -> int:
    from bot.retrieval.assistant import Assistant

    t0 = time.perf_counter()
    assistant = Assistant.build(force_rebuild=True, progress=True)
    meta = assistant.index_meta
    print(
        f"index rebuilt: {meta['count']} passages, dim {meta['dim']}, model {meta['model_id']}, "
        f"KB {meta['fingerprint']}; embedding {meta['build_seconds']:.1f}s, total {time.perf_counter() - t0:.1f}s"
    )
    return 0
