"""The closed loop's scheduler on 10,000 open items in a real store: pass time, reminders planned and sent, and a
second pass that sends nothing (the ledger), on SQLite and, if reachable, PostgreSQL (127.0.0.1:5432 db ``test``,
throw-away schema).

Items are inserted in bulk (not through submit: that is bench_consultations'), filed over the ten weeks before
``now`` with due dates stamped by bot.consultations.duedates (the category limits of communities.yml), so 国庆 2026
falls inside. One pass = bot.inbox.scheduler.run_pass: the lease, every registered job (reminders, digest off).

    .venv/bin/python bench/bench_scheduler.py [--n 10000] [--no-pg]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402

from bot.closedloop import deadlines as dl  # noqa: E402
from bot.consultations import (
    ConsultationService,  # noqa: E402
    duedates,  # noqa: E402
)
from bot.consultations import models as m  # noqa: E402
from bot.db import dispose_engines  # noqa: E402
from bot.inbox import scheduler  # noqa: E402
from bot.kb import load_kb  # noqa: E402
from bot.settings import Settings  # noqa: E402

NOW = datetime(2026, 10, 20, 1, 0, tzinfo=UTC)  # 09:00 Shanghai


def fill(svc: ConsultationService, n: int, rng: random.Random) -> None:
    with svc.Session() as s:
        committees = s.execute(select(m.Committee.id, m.Committee.community_id)).all()
        limits = duedates.effective_limits(s, svc.directory.kb_directory)
    cats = list(limits)
    rows = []
    for i in range(n):
        filed = NOW - timedelta(minutes=rng.randrange(0, 70 * 24 * 60))
        cid, community = rng.choice(committees)
        cat = rng.choice(cats)
        d = dl.due_dates(filed, limits[cat], cutoff=svc.settings.closedloop_intake_cutoff, tz=svc.settings.timezone)
        rows.append(
            {
                "tracking_no": f"YS-BENCH-{i:06d}",
                "client_key": f"bench:{i}",
                "channel": "telegram",
                "sender_id": f"r{i}",
                "community_id": community,
                "category": cat,
                "text": "楼道灯坏了",
                "consent": False,
                "status": rng.choice(["submitted", "submitted", "accepted", "deliberating"]),
                "committee_id": cid,
                "flagged_unroutable": False,
                "created_at": filed,
                "updated_at": filed,
                "accept_by": d.accept_by,
                "complete_by": d.complete_by,
                "due_estimated": d.estimated,
            }
        )
    with svc.Session.begin() as s:
        for k in range(0, n, 2000):
            s.execute(insert(m.Consultation), rows[k : k + 2000])


def run(name: str, url: str, n: int, tmp: Path) -> None:
    settings = Settings(var_dir=tmp, database_url=url, closedloop_digest_url="")
    svc = ConsultationService(url, load_kb(), settings=settings, use_embedding=False)
    fill(svc, n, random.Random(7))
    for label in ("first pass", "second pass"):
        t0 = time.perf_counter()
        r = scheduler.run_pass(svc, holder="bench", now=NOW)
        dt = time.perf_counter() - t0
        rem = r.jobs["reminders"]
        print(f"{name:<10} {label:<12} {n} open items  {dt:6.2f} s  planned {rem['planned']:>5}  sent {rem['sent']:>5}")
    svc.engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("SQLite", f"sqlite:///{tmp}/bench.db", args.n, Path(tmp))
        if not args.no_pg:
            import psycopg

            schema = f"bench_{uuid.uuid4().hex[:8]}"
            try:
                conn = psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True)
            except psycopg.OperationalError as e:
                print(f"PostgreSQL unreachable ({type(e).__name__}): skipped")
                return 0
            conn.execute(f'CREATE SCHEMA "{schema}"')
            try:
                url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
                run("PostgreSQL", url, args.n, Path(tmp))
            finally:
                dispose_engines()
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
                conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
