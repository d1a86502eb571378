"""Reminder planning for 10,000 synthetic open items, and claiming the due reminders in the sent-once ledger.

One pass = bot.closedloop.reminders.plan over every item (due dates on the working-day calendar, extensions,
escalations). Items are filed over the ten weeks before ``now`` (2026-10-20, so 国庆 and 中秋 fall inside);
categories and limits come from knowledge_base/communities.yml. Then every due reminder is claimed in a
reminder_ledger on a temp SQLite file (the first --ledger-keys of them; one transaction per key) (first pass: all new; second pass: all already sent).

    .venv/bin/python bench/bench_scheduler.py [--n 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine  # noqa: E402

from bot.closedloop import deadlines as dl  # noqa: E402
from bot.closedloop import lease as ls  # noqa: E402
from bot.closedloop import reminders as rm  # noqa: E402
from bot.closedloop import workdays  # noqa: E402
from bot.consultations.statuses import Status  # noqa: E402
from bot.kb.loader import load_kb  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 10, 20, 9, 0, tzinfo=SH)


def synthetic_items(n: int, kb, rng: random.Random) -> list[rm.OpenItem]:
    streets = rm.streets(kb)
    communities = list(streets)
    categories = [c.id for c in kb.directory.categories]
    member, supervisor = dl.Actor("m", dl.Role.MEMBER), dl.Actor("s", dl.Role.SUPERVISOR)
    approved = dl.decide_extension(dl.request_extension("等待施工", 5, member), supervisor, True)
    items = []
    for i in range(n):
        filed = NOW - timedelta(minutes=rng.randrange(0, 70 * 24 * 60))
        status = rng.choice([Status.SUBMITTED, Status.SUBMITTED, Status.ACCEPTED, Status.DELIBERATING])
        accepted = filed + timedelta(hours=rng.randrange(1, 72)) if status is not Status.SUBMITTED else None
        c = rng.choice(communities)
        items.append(
            rm.OpenItem(
                f"C{i:05d}",
                c,
                streets[c],
                rng.choice(categories),
                filed,
                status,
                accepted,
                None,
                (approved,) if rng.random() < 0.1 else (),
            )
        )
    return items


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--ledger-keys", type=int, default=1000, help="due reminders claimed in the ledger (one transaction each)"
    )
    args = ap.parse_args()
    kb = load_kb()
    limits = {c.id: c.limits for c in kb.directory.categories}
    items = synthetic_items(args.n, kb, random.Random(14))

    workdays.is_working_day.cache_clear()
    workdays._year_prefix.cache_clear()
    t = time.perf_counter()
    reminders = rm.plan(items, NOW, limits, remind_days_left=1)
    cold = time.perf_counter() - t
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        again = rm.plan(items, NOW, limits, remind_days_left=1)
        times.append(time.perf_counter() - t)
    assert [r.key for r in again] == [r.key for r in reminders]
    warm = statistics.median(times)
    by_kind: dict[str, int] = {}
    for r in reminders:
        by_kind[r.kind.value] = by_kind.get(r.kind.value, 0) + 1
    print(f"plan: {args.n} open items → {len(reminders)} due reminders {by_kind}")
    print(f"plan: first pass (cold calendar cache) {cold * 1000:.1f} ms = {args.n / cold:,.0f} items/s")
    print(
        f"plan: median of {args.repeat} passes {warm * 1000:.1f} ms = {args.n / warm:,.0f} items/s (cold/warm {cold / warm:.2f}×)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'ledger.db'}")
        ls.create_tables(engine)
        now_utc = NOW.astimezone(ZoneInfo("UTC"))
        batch = reminders[: args.ledger_keys]
        for label in ("first pass (all new)", "second pass (all sent)"):
            t = time.perf_counter()
            sent = sum(ls.send_once(engine, r.key, "bench", lambda: None, now=now_utc) for r in batch)
            dt = time.perf_counter() - t
            print(
                f"ledger (SQLite): {label}: {sent} sent of {len(batch)} in {dt * 1000:.0f} ms = {len(batch) / dt:,.0f} keys/s"
            )
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
