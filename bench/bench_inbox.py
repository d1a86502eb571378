"""Committee inbox latency with 2000 consultations on SQLite: list, search, dashboard, detail, CSV export, Open311.

In-process (FastAPI TestClient, the real app and store on a temp SQLite file), logged in as a member
of the committee that holds the 2000 items; prints median and p95 per page.

    .venv/bin/python bench/bench_inbox.py [--n 2000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient  # noqa: E402

from bot.db import dispose_engines  # noqa: E402
from bot.inbox.apikeys import ApiKeyStore  # noqa: E402
from bot.inbox.app import create_app  # noqa: E402
from tests.inbox_support import login, make_env  # noqa: E402

TEXTS = [
    ("public-affairs", "幸福路的路灯坏了，晚上很黑"),
    ("public-affairs", "垃圾桶满了没人清运"),
    ("services-needs", "希望社区办个老年食堂"),
    ("village-rules", "想修订居民公约，加上文明养犬"),
    ("other", "想开一个居住证明"),
]
STATUS_STEPS = ["accepted", "deliberating", "resolved"]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="consultations to seed")
    ap.add_argument("--repeat", type=int, default=20, help="requests per measured page (exports: a quarter)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = make_env(Path(tmp))
        svc = env.service
        t = time.perf_counter()
        for i in range(args.n):
            cat, text = TEXTS[i % len(TEXTS)]
            rec = svc.submit("telegram", f"s{i % 50}", f"b{i}", "xingfu", f"第{i}号：{text}", category=cat)
            for step in STATUS_STEPS[: i % 4]:  # a realistic mix of statuses and trail lengths
                svc.change_status(rec.tracking_no, step, "alice", "处理中")
        print(f"seeded {args.n} consultations (with status changes) in {time.perf_counter() - t:.1f} s")
        total = svc.reports.count_for_committee(env.a[0].committee_id)
        client = TestClient(create_app(env.settings, svc, push_interval=0))
        login(client, "alice")
        key = ApiKeyStore.from_settings(env.settings).create("bench")
        detail = svc.reports.list_for_committee(env.a[0].committee_id, limit=1, offset=total // 2)[0].tracking_no

        def bench(name: str, fn, n: int) -> None:
            fn()  # warm
            times = []
            for _ in range(n):
                start = time.perf_counter()
                r = fn()
                times.append((time.perf_counter() - start) * 1000)
                assert r.status_code == 200, (name, r.status_code)
            print(f"{name:40s} median {statistics.median(times):7.1f} ms   p95 {pct(times, 95):7.1f} ms   (n={n})")

        n, few = args.repeat, max(3, args.repeat // 4)
        bench("GET /consultations (page 1)", lambda: client.get("/consultations"), n)
        bench(
            "GET /consultations?status=accepted", lambda: client.get("/consultations", params={"status": "accepted"}), n
        )
        bench("GET /consultations?q=1999 (search)", lambda: client.get("/consultations", params={"q": "1999"}), n)
        bench("GET / (dashboard, 12 weeks + overdue)", lambda: client.get("/"), n)
        bench("GET /consultations/{no} (detail)", lambda: client.get(f"/consultations/{detail}"), n)
        bench(f"GET export.csv ({total} rows)", lambda: client.get("/consultations/export.csv"), few)
        bench(
            "GET open311 requests.json (default page)",
            lambda: client.get("/open311/v2/requests.json", params={"api_key": key}),
            few,
        )
        bench(
            "GET open311 requests/{id}.json",
            lambda: client.get(f"/open311/v2/requests/{detail}.json", params={"api_key": key}),
            n,
        )
        svc.delivery.stop()
        dispose_engines()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
