"""Consultation store and routing figures: parallel submissions, single-submit latency, routing speed and accuracy.

- 200 parallel submissions (threads released together) on SQLite and, if reachable, PostgreSQL
  (127.0.0.1:5432 db ``test``, in a throw-away schema): wall time, every one stored once (also after
  all 200 are retried in parallel), tracking numbers unique.
- Single submit latency (sequential) p50/p95 on each backend.
- Routing on ``tests/data/routing_texts.yml`` with keywords only and with the embedding tie-breaker:
  texts per second and accuracy (category and committee both right).

    .venv/bin/python bench/bench_consultations.py [--n 200] [--single 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.consultations import ConsultationService  # noqa: E402
from bot.consultations.routing import Router  # noqa: E402
from bot.db import dispose_engines  # noqa: E402
from bot.kb import load_kb  # noqa: E402

TEXTS = [
    "幸福路的路灯坏了好几天",
    "花园小区电梯又停了",
    "社区活动经费的账目能不能公开",
    "希望社区办个老年食堂",
    "楼下烧烤店油烟扰民",
    "物业费涨价没开业主大会",
]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


@contextmanager
def postgres_url():
    """A throw-away schema on the local PostgreSQL, or None when it is unreachable."""
    try:
        import psycopg
    except ImportError:
        yield None
        return
    conn = None
    for user in ("postgres", "root"):
        try:
            conn = psycopg.connect(
                host="127.0.0.1", port=5432, dbname="test", user=user, connect_timeout=3, autocommit=True
            )
            break
        except psycopg.OperationalError:
            continue
    if conn is None:
        yield None
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        dispose_engines()
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


def parallel(svc: ConsultationService, n: int, tag: str) -> tuple[float, list]:
    barrier = threading.Barrier(n)

    def one(i: int):
        barrier.wait()
        return svc.submit("telegram", f"{tag}-s{i}", "m1", "xingfu", TEXTS[i % len(TEXTS)])

    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        recs = list(pool.map(one, range(n)))
    return time.perf_counter() - start, recs


def bench_store(name: str, url: str, kb, n: int, single: int) -> None:
    svc = ConsultationService(url, kb, use_embedding=False)
    svc.route("预热")  # jieba and the domain dictionary
    seconds, recs = parallel(svc, n, "p")
    stored = svc.reports.count_for_committee(None)
    unique = len({r.tracking_no for r in recs})
    retry_seconds, again = parallel(svc, n, "p")  # the same 200 messages delivered again, in parallel
    after_retry = svc.reports.count_for_committee(None)
    same = all(a.tracking_no == b.tracking_no for a, b in zip(recs, again)) and not any(b.created for b in again)
    print(
        f"[{name}] {n} parallel submissions: {seconds:.2f} s ({n / seconds:.0f}/s); stored {stored}, "
        f"unique numbers {unique}, all created {all(r.created for r in recs)}"
    )
    print(
        f"[{name}] {n} parallel retries of the same messages: {retry_seconds:.2f} s; rows afterwards {after_retry}, "
        f"same numbers returned {same}"
    )
    times = []
    for i in range(single):
        t = time.perf_counter()
        svc.submit("telegram", "single", f"m{i}", "xingfu", TEXTS[i % len(TEXTS)])
        times.append((time.perf_counter() - t) * 1000)
    print(f"[{name}] single submit (n={single}): p50 {statistics.median(times):.1f} ms, p95 {pct(times, 95):.1f} ms")
    ok = stored == n and unique == n and after_retry == n and same
    print(f"[{name}] integrity: {'OK' if ok else 'FAILED'}")
    svc.delivery.stop()


def bench_routing(kb) -> None:
    items = yaml.safe_load((ROOT / "tests/data/routing_texts.yml").read_text(encoding="utf-8"))
    for use_embedding in (False, True):
        router = Router(kb.directory, kb.kb_dir, use_embedding=use_embedding)
        t = time.perf_counter()
        router.route("预热：电梯坏了，账目公开", items[0]["community"])  # tokenizer load
        router.embedding_scores("预热")  # model load and category anchors ({} without embeddings)
        warm = time.perf_counter() - t
        start = time.perf_counter()
        good, methods, misses = 0, {}, []
        for it in items:
            r = router.route(it["text"], it["community"])
            hit = r.category == it["category"] and r.committee.id == it["committee"]
            good += hit
            methods[r.method] = methods.get(r.method, 0) + 1
            if not hit:
                misses.append(f"    miss: {it['text']} → {r.category} / {r.committee.id} ({r.method})")
        secs = time.perf_counter() - start
        label = "keywords + embedding tie-breaker" if use_embedding else "keywords only"
        print(
            f"[routing, {label}] accuracy {good}/{len(items)} = {good / len(items):.1%}; "
            f"{len(items) / secs:.0f} texts/s ({secs * 1000 / len(items):.1f} ms/text); warm-up {warm:.1f} s; methods {methods}"
        )
        for line in misses:
            print(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="parallel submissions")
    ap.add_argument("--single", type=int, default=100, help="sequential submissions for the latency figures")
    ap.add_argument("--skip-routing", action="store_true")
    args = ap.parse_args()
    kb = load_kb()
    with tempfile.TemporaryDirectory() as tmp:
        bench_store("SQLite", f"sqlite:///{tmp}/bench.db", kb, args.n, args.single)
        dispose_engines()
    with postgres_url() as url:
        if url is None:
            print("[PostgreSQL] unreachable on 127.0.0.1:5432 — skipped")
        else:
            bench_store("PostgreSQL", url, kb, args.n, args.single)
    if not args.skip_routing:
        bench_routing(kb)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
