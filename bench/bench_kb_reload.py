"""Hot reload under load: residents ask without pause while a document is published and the new version is
built in the background and swapped in (in one process, as in an action server).

Prints: answers before / during / after the switch, errors, answers whose sources are not in the version that
claims them (must be 0), the build time of the new version, and ask latency p50 / p95 before and during the build.

    .venv/bin/python bench/bench_kb_reload.py [--residents 20] [--after 100]
    .venv/bin/python bench/bench_kb_reload.py --stack [--residents 20] [--after 100]

``--stack``: the same through a real Rasa + action server on loopback (REST channel, its own temp knowledge
folder, ``LINLI_KB_RELOAD_SECONDS=1``): each answer's version is read from the answer JSON the action server
sends (``kb_version``), and its sources are checked against that version's passages.
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
    parser.add_argument("--stack", action="store_true", help="through a running Rasa + action server (REST)")
    args = parser.parse_args()
    if args.stack:
        return through_stack(args)

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


def through_stack(args) -> int:
    import httpx

    from bot.kb.documents.importer import add_to, read_candidate
    from bot.kb.loader import load_kb
    from bot.kb.versions import current_dir, publish, version_dir
    from bot.retrieval.passages import build_passages
    from tests.stack import running_stack, unique_sender

    with tempfile.TemporaryDirectory(prefix="linli-reload-stack-") as tmp:
        root = Path(tmp) / "kb"
        shutil.copytree(ROOT / "knowledge_base", root, ignore=shutil.ignore_patterns("versions"))
        env = {
            "LINLI_KB_DIR": str(root),
            "LINLI_KB_RELOAD_SECONDS": "1",
            "LINLI_VAR_DIR": tmp,
            "LINLI_DATABASE_URL": f"sqlite:///{tmp}/linli.db",
        }
        with running_stack(extra_env=env) as stack:
            stack.warm_up()
            results: list[tuple[str, float, str, list[str]]] = []
            errors: list[str] = []
            phase = {"now": "before"}
            stop = threading.Event()
            lock = threading.Lock()

            def resident(k: int) -> None:
                client, sender, n = httpx.Client(timeout=180), unique_sender(f"bench-{k}"), k
                while not stop.is_set():
                    t0 = time.perf_counter()
                    try:
                        r = client.post(
                            f"{stack.rasa_url}/webhooks/rest/webhook",
                            json={"sender": sender, "message": QUESTIONS[n % len(QUESTIONS)]},
                        )
                        r.raise_for_status()
                        replies = r.json()
                        if not replies or any("系统暂时出了点问题" in (m.get("text") or "") for m in replies):
                            raise RuntimeError("error reply")
                    except Exception as e:  # noqa: BLE001 — counted
                        with lock:
                            errors.append(type(e).__name__)
                        n += 1
                        continue
                    custom = next(
                        (m["custom"] for m in replies if (m.get("custom") or {}).get("type") == "answer"), None
                    )
                    if custom is not None:
                        with lock:
                            results.append(
                                (
                                    custom.get("kb_version", ""),
                                    time.perf_counter() - t0,
                                    phase["now"],
                                    [x["id"] for x in custom.get("sources", [])],
                                )
                            )
                    n += 1

            threads = [threading.Thread(target=resident, args=(k,), daemon=True) for k in range(args.residents)]
            for t in threads:
                t.start()
            while len(results) < 2 * args.residents and len(errors) < 100:
                time.sleep(0.1)
            candidate = read_candidate(ROOT / "tests" / "data" / "docs" / "elderly_care_plan.txt", current_dir(root))
            t_publish = time.perf_counter()
            name, _ = publish(root, lambda d: add_to(d, candidate), by="bench")
            phase["now"] = "during"
            while not any(r[0] == name for r in results) and len(errors) < 100:
                time.sleep(0.1)
            swap = time.perf_counter() - t_publish
            phase["now"] = "after"
            mark = len(results)
            while len(results) < mark + args.after and len(errors) < 100:
                time.sleep(0.1)
            stop.set()
            for t in threads:
                t.join(timeout=200)
        ids = {v: {p.id for p in build_passages(load_kb(version_dir(root, v)))} for v in ("seed", name)}

    def lat(ph: str) -> str:
        xs = sorted(r[1] * 1000 for r in results if r[2] == ph)
        return f"p50 {statistics.median(xs):.0f} / p95 {xs[int(0.95 * (len(xs) - 1))]:.0f} ms" if xs else "-"

    wrong = sum(1 for v, _, _, s in results if v not in ids or not set(s) <= ids[v])
    print(
        f"through the stack: residents {args.residents}, answers {len(results)}, errors {len(errors)}, "
        f"answers not wholly from one version {wrong}"
    )
    print(f"publish → first answer from {name}: {swap:.1f} s (the action server builds it in the background)")
    for ph in ("before", "during", "after"):
        counts = {v: sum(1 for r in results if r[2] == ph and r[0] == v) for v in ids}
        print(f"  {ph:6s}: " + ", ".join(f"{v} {n}" for v, n in counts.items()) + f"; latency {lat(ph)}")
    return 0 if not errors and not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
