"""`python -m bot closedloop eval-cosign [--tune]` (the co-sign detector's precision and recall) and
`expire-followups` (unanswered follow-ups closed as 未回复)."""

from __future__ import annotations


def register(sub) -> None:
    cl = sub.add_parser("closedloop", help="closed loop: deadlines, reminders, co-signs")
    csub = cl.add_subparsers(dest="closedloop", required=True)
    ev = csub.add_parser("eval-cosign", help="precision/recall of the co-sign detector on the labelled pairs")
    ev.add_argument("--tune", action="store_true", help="search weight and threshold on the tuning half only")
    ev.set_defaults(func=_eval_cosign)
    ex = csub.add_parser("expire-followups", help="close follow-ups (回访) left unanswered as 未回复")
    ex.set_defaults(func=_expire_followups)


def _expire_followups(args) -> int:
    from datetime import UTC, datetime

    from bot.consultations.loop_rules import expire_followups

    n = expire_followups(datetime.now(UTC))
    print(f"closed {n} follow-up(s) as 未回复")
    return 0


def _line(name: str, r) -> str:
    return (
        f"{name:<9} pairs {r.pairs:>3}  same {r.positives:>3}  precision {r.precision:.3f}  recall {r.recall:.3f}"
        f"  F1 {r.f1:.3f}  (tp {r.tp} fp {r.fp} fn {r.fn}; errors by kind {r.errors_by_kind})"
    )


def _eval_cosign(args) -> int:
    from bot.closedloop import evaluate
    from bot.settings import get_settings

    s = get_settings()
    if args.tune:
        w, t, r = evaluate.tune(evaluate.TUNING)
        print(f"tuned on {evaluate.TUNING.name}: weight {w:.2f} threshold {t:.4f}")
        print(_line("tuning", r))
        print(
            "set LINLI_CLOSEDLOOP_COSIGN_EMBED_WEIGHT / LINLI_CLOSEDLOOP_COSIGN_THRESHOLD (bot.settings defaults) to adopt them"
        )
        return 0
    w, t = s.closedloop_cosign_embed_weight, s.closedloop_cosign_threshold
    print(f"weight {w:.2f} threshold {t:.4f} (bot.settings)")
    print(_line("tuning", evaluate.evaluate(evaluate.TUNING, w, t)))
    print(_line("held-out", evaluate.evaluate(evaluate.HELDOUT, w, t)))
    return 0
