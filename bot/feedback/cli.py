"""`python -m bot report gaps`: the questions residents asked that the knowledge base could not answer."""

from __future__ import annotations

import json


def register(sub) -> None:
    report = sub.add_parser("report", help="reports for community workers")
    rsub = report.add_subparsers(dest="report", required=True)
    gaps = rsub.add_parser("gaps", help="most frequent unanswered questions (and answers rated 👎)")
    gaps.add_argument("--limit", type=int, default=20)
    gaps.add_argument("--days", type=int, default=None, help="only the last N days")
    gaps.add_argument("--no-thumbs-down", action="store_true", help="leave out answers rated 👎")
    gaps.add_argument("--json", action="store_true")
    gaps.set_defaults(func=_gaps)


def _gaps(args) -> int:
    from bot.feedback.store import FeedbackStore

    store = FeedbackStore.from_settings()
    items = store.gaps(limit=max(1, args.limit), since_days=args.days, include_thumbs_down=not args.no_thumbs_down)
    if args.json:
        for g in items:
            print(
                json.dumps(
                    {
                        "question": g.question,
                        "count": g.count,
                        "thumbs_down": g.thumbs_down,
                        "reasons": list(g.reasons),
                        "last_seen": g.last_seen.isoformat(),
                    },
                    ensure_ascii=False,
                )
            )
        return 0
    if not items:
        print("暂无未解答的问题。")
        return 0
    counts = store.rating_counts()
    print(f"未解答或被点踩的问题（前 {len(items)} 条；累计 👍 {counts['up']} / 👎 {counts['down']}）：")
    for i, g in enumerate(items, 1):
        print(f"{i:>3}. [{g.count}次] {g.question}  ({', '.join(g.reasons)}; 最近 {g.last_seen:%Y-%m-%d %H:%M})")
    return 0
