"""Hot reload under load: residents ask without pause while a document is published and the new version is
built in the background and swapped in (in one process, as in an action server).

Prints: answers before / during / after the switch, errors, answers whose sources are not in the version that
claims them (must be 0), the build time of the new version, and ask latency p50 / p95 before and during the build.

    .venv/bin/python bench/bench_kb_reload.py [--residents 20] [--after 100]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "关于家庭养老床位是怎么规定的",
    "养老护理员持证上岗率的2025年目标是多少",
    "在社区能办医保吗",
    "社工师指标是多少",
    "今天天气怎么样",
    "普惠托育机构归哪个部门管",
    "老年助餐怎么申请",
    "社区养老服务设施覆盖率要达到多少",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=20)
    parser.add_argument("--after", type=int, default=100, help="answers to collect after the swap before stopping")
    args = parser.parse_args()

    from bot.kb.documents.importer import add_to, read_candidate
    from bot.kb.versions import publish
    from bot.retrieval.assistant import Assistant
    from bot.retrieval.live import LiveAssistant
    from bot.settings import Settings, get_settings

    with tempfile.TemporaryDirectory(prefix="linli-reload-") as tmp:
        root = Path(tmp) / "kb"
        shutil.copytree(ROOT / "knowledge_base", root, ignore=shutil.ignore_patterns("versions"))
        settings = Settings(kb_dir=root, cache_dir=get_settings().cache_dir, kb_reload_seconds=0.5)
        live = LiveAssistant(settings, Assistant.build(settings, progress=False))
        ids = {"seed": {p.id for p in live.retriever.passages}}
        results: list[tuple[str, float, str, list[str]]] = []  # version, seconds, phase, source ids
        errors: list[str] = []
        phase = {"now": "before"}
        stop = threading.Event()
        lock = threading.Lock()

        def resident(k: int) -> None:
            n = k
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    ans = live.ask(QUESTIONS[n % len(QUESTIONS)])
                except Exception as e:  # noqa: BLE001 — counted
                    errors.append(type(e).__name__)
                    continue
                with lock:
                    results.append(
                        (ans.kb_version, time.perf_counter() - t0, phase["now"], [s.id for s in ans.sources])
                    )
                n += 1

        threads = [threading.Thread(target=resident, args=(k,), daemon=True) for k in range(args.residents)]
        for t in threads:
            t.start()
        while len(results) < 2 * args.residents:
            time.sleep(0.05)
        candidate = read_candidate(ROOT / "tests" / "data" / "docs" / "elderly_care_plan.txt", root)
        t_publish = time.perf_counter()
        name, _ = publish(root, lambda d: add_to(d, candidate), by="bench")
        phase["now"] = "during"
        while live.reload_status()["version"] != name:
            if live.reload_status()["stage"] == "failed":
                print("build failed:", live.reload_status()["error"])
                return 1
            time.sleep(0.05)
        swap = time.perf_counter() - t_publish
        ids[name] = {p.id for p in live.retriever.passages}
        phase["now"] = "after"
        mark = len(results)
        while len(results) < mark + args.after:
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(timeout=60)

    def lat(ph: str) -> str:
        xs = sorted(r[1] * 1000 for r in results if r[2] == ph)
        return f"p50 {statistics.median(xs):.0f} / p95 {xs[int(0.95 * (len(xs) - 1))]:.0f} ms" if xs else "-"

    wrong = sum(1 for v, _, _, s in results if not set(s) <= ids.get(v, set()))
    by = {
        ph: {v: sum(1 for r in results if r[2] == ph and r[0] == v) for v in ids}
        for ph in ("before", "during", "after")
    }
    print(
        f"residents {args.residents}, answers {len(results)}, errors {len(errors)}, answers with sources not in their version {wrong}"
    )
    print(f"publish → new version answering: {swap:.1f} s (built in the background while answering)")
    for ph in ("before", "during", "after"):
        print(f"  {ph:6s}: " + ", ".join(f"{v} {n}" for v, n in by[ph].items()) + f"; latency {lat(ph)}")
    return 0 if not errors and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
