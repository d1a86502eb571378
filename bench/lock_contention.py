"""Several processes fight for one conversation's ticket lock in a real Redis: how often do two hold it?

Stands in for Rasa replicas: each worker process builds its own lock store (as each replica does),
runs ``--tasks`` concurrent turns (as Sanic serves concurrent requests), and every turn holds the
lock for a few milliseconds while it marks itself "inside" with a Redis counter. Two turns inside at
once is an overlap, i.e. two messages of one conversation processed together. Runs in the engine env::

    .venv-rasa/bin/python bench/lock_contention.py                  # stock RedisLockStore vs ours
    .venv-rasa/bin/python bench/lock_contention.py --store atomic --json

Prints, per store, turns completed, overlaps, lock errors, stalled turns and turns/s; exit code 1 when the atomic
store overlaps or loses a turn.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _store(kind: str, args):
    from rasa.core.lock_store import RedisLockStore

    from rasa_addons.lock_store import AtomicRedisLockStore

    cls = AtomicRedisLockStore if kind == "atomic" else RedisLockStore
    return cls(host=args.host, port=args.port, db=args.db, key_prefix=args.prefix)


def _worker(kind: str, args, start_at: float, out) -> None:
    import redis

    store = _store(kind, args)
    red = redis.Redis(host=args.host, port=args.port, db=args.db)
    inside, conv = f"{args.prefix}:inside", f"conv{args.prefix}"
    result = {"done": 0, "overlaps": 0, "lock_errors": 0, "stalled": 0}

    async def hold() -> None:
        poll = {} if args.poll is None else {"wait_time_in_seconds": args.poll}  # default: the store's own
        async with store.lock(conv, lock_lifetime=args.lifetime, **poll):
            if red.incr(inside) > 1:
                result["overlaps"] += 1
            try:
                await asyncio.sleep(args.hold)
            finally:
                red.decr(inside)
            result["done"] += 1

    async def turn() -> None:
        try:
            await asyncio.wait_for(hold(), args.turn_timeout)
        except asyncio.TimeoutError:
            result["stalled"] += 1
        except Exception as e:  # LockError and friends: count, never hide
            result["lock_errors"] += 1
            result.setdefault("error", repr(e)[:200])

    async def main() -> None:
        for _ in range(args.rounds):
            await asyncio.gather(*(turn() for _ in range(args.tasks)))

    time.sleep(max(0.0, start_at - time.time()))  # all workers start together
    asyncio.run(main())
    out.put(result)


def run(kind: str, args) -> dict:
    import redis

    args.prefix = f"lc{secrets.token_hex(4)}"
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0
    procs = [ctx.Process(target=_worker, args=(kind, args, start_at, out)) for _ in range(args.procs)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.time() - start_at
    red = redis.Redis(host=args.host, port=args.port, db=args.db)
    leftover = [k.decode() for k in red.scan_iter(f"{args.prefix}:*")]
    for k in leftover:
        red.delete(k)
    expected = args.procs * args.tasks * args.rounds
    summary = {
        "store": kind,
        "expected": expected,
        "done": sum(r["done"] for r in results),
        "overlaps": sum(r["overlaps"] for r in results),
        "lock_errors": sum(r["lock_errors"] for r in results),
        "stalled": sum(r["stalled"] for r in results),
        "turns_per_s": round(sum(r["done"] for r in results) / elapsed, 1),
        "lock_keys_left": len([k for k in leftover if k.endswith(":lock:conv" + args.prefix)]),
    }
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        summary["first_error"] = errors[0]
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", choices=("both", "atomic", "stock"), default="both")
    ap.add_argument("--procs", type=int, default=4, help="worker processes (replicas)")
    ap.add_argument("--tasks", type=int, default=4, help="concurrent turns per process per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--hold", type=float, default=0.003, help="seconds a turn holds the lock")
    ap.add_argument("--lifetime", type=float, default=5.0, help="ticket lifetime in seconds (Rasa's default is 60)")
    ap.add_argument("--turn-timeout", type=float, default=15.0, help="a turn still waiting after this is 'stalled'")
    ap.add_argument(
        "--poll",
        type=float,
        help="seconds between lock polls (default: each store's own, 1 s for Rasa's, 0.05 s for ours)",
    )
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--db", type=int, default=12)
    ap.add_argument("--json", action="store_true", help="print one JSON object per store")
    args = ap.parse_args()
    kinds = ("stock", "atomic") if args.store == "both" else (args.store,)
    ok = True
    for kind in kinds:
        s = run(kind, args)
        if args.json:
            print(json.dumps(s))
        else:
            print(
                f"{kind:>6}: {s['done']}/{s['expected']} turns, {s['overlaps']} overlaps, "
                f"{s['lock_errors']} lock errors, {s['stalled']} stalled > {args.turn_timeout:g} s, {s['turns_per_s']} turns/s"
                + (f"  first error: {s['first_error']}" if "first_error" in s else "")
            )
        if kind == "atomic":
            ok = s["overlaps"] == 0 and s["lock_errors"] == 0 and s["stalled"] == 0 and s["done"] == s["expected"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
