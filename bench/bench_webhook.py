"""REST webhook latency: retrieval-answered vs utter-only messages, measured in the same run.

Starts the real stack (tests/stack.py: action server + Rasa on free loopback ports, temp SQLite),
warms it up, then interleaves the two kinds of message so both see the same machine load.

    .venv/bin/python bench/bench_webhook.py [--n 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stack import running_stack  # noqa: E402

RETRIEVAL = ["家里老人没人照看，社区能上门照顾吗", "在社区能办医保吗", "失业了去哪里登记", "孩子放学后没人管怎么办",
             "社工师的指标是多少", "残疾人康复找哪个部门", "普惠托育有什么条件", "村务公开规划里怎么说的",
             "退伍军人找工作有什么帮助", "老年食堂在哪里"]
UTTER = ["你好", "谢谢", "你是机器人吗", "你能干什么", "再见"]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="messages of each kind")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_stack(extra_env={"LINLI_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}) as stack:
        for i, q in enumerate(RETRIEVAL + UTTER):  # warm-up: model, index, caches, tracker store
            stack.rest(f"warm-{i}", q)
        times: dict[str, list[float]] = {"retrieval": [], "utter": []}
        for i in range(args.n):
            for kind, pool in (("retrieval", RETRIEVAL), ("utter", UTTER)):
                text = pool[i % len(pool)]
                t0 = time.perf_counter()
                replies = stack.rest(f"bench-{kind}-{i}", text)
                times[kind].append(1000 * (time.perf_counter() - t0))
                if not replies:
                    raise SystemExit(f"no reply to {text!r}")
    print(f"REST webhook latency, {args.n} messages each (ms)")
    for kind, t in times.items():
        print(f"  {kind:<10} p50 {statistics.median(t):7.1f}   p95 {pct(t, 95):7.1f}   mean {statistics.mean(t):7.1f}")
    ratio50 = statistics.median(times["retrieval"]) / statistics.median(times["utter"])
    ratio95 = pct(times["retrieval"], 95) / pct(times["utter"], 95)
    print(f"  ratio retrieval/utter: p50 {ratio50:.2f}x   p95 {ratio95:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
