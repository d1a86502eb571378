"""Load: N concurrent simulated residents for D seconds through the REST channel; every submission stored once.

Each resident loops over scenarios, each scenario under a fresh sender id: a question with a follow-up
(retrieval), small talk (utter-only), or a whole consultation form ending in a submission; when the form offers
to co-sign a neighbour's open item of the same matter (附议), the resident joins it or files separately (half each).
The run counts errors (non-200, empty reply, an apology reply, a tracking number missing after the confirmation),
reports throughput and p50/p95 per kind, then checks the database: each submitted conversation has exactly one
row, under the tracking number the resident was told, and each co-sign exactly one co-sign row on the item told.

    .venv/bin/python bench/bench_load.py                      # 50 residents, 60 s, starts the stack on SQLite
    .venv/bin/python bench/bench_load.py --pg                 # same on PostgreSQL (fresh schema in db `test`)
    .venv/bin/python bench/bench_load.py --url http://127.0.0.1:5005 --database-url sqlite:///var/linli.db
    .venv/bin/python bench/bench_load.py --action-workers 2 --rasa-workers 2   # both servers on both cores

``--rasa-workers N`` runs Rasa with ``SANIC_WORKERS=N``, which Rasa allows only with a shared lock store:
trackers then live in a fresh PostgreSQL database and the per-conversation lock in Redis
(``rasa_addons.lock_store.AtomicRedisLockStore``, a unique key prefix), as in deploy/endpoints.scaleout.yml.
The run prints each server's CPU (cores used) and resident memory next to the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TRACKING = re.compile(r"YS-\d{8}-\d{4,}")
APOLOGY = re.compile(r"系统暂时出了点问题|系统繁忙|出错了")

QUESTIONS = [
    ("我家老人行动不便，社区能上门照顾吗", "那要带什么材料？"),
    ("孩子两岁没人带，附近有托儿的地方吗", "去哪里办？"),
    ("失业了去哪登记", "需要什么条件？"),
    ("在社区能办医保吗", "要带什么证件"),
    ("我爸中午一个人在家吃饭不方便，社区有没有食堂", "怎么申请？"),
    ("想签个家庭医生怎么弄", "哪个部门负责？"),
    ("刚毕业还没找到工作，社区能帮忙吗", "在哪里办"),
    ("中风以后想在家附近做康复训练", "谁可以申请？"),
    ("社区综合服务设施覆盖率的目标是多少", None),
    ("规划里对城乡社区服务体系是怎么说的", None),
]
SMALL_TALK = ["你好", "谢谢", "你是机器人吗", "你能做什么", "再见"]
TOPICS = [
    "我们楼的电梯三天两头坏，物业一直拖着不修",
    "小区停车位太少，晚上回来根本没地方停车",
    "村里今年的集体收入花到哪里去了，怎么没公开",
    "小区里好多人遛狗不牵绳，能不能定个养狗公约",
    "幸福路上的路灯坏了好几天，晚上走路很黑",
    "社区活动经费的账目能不能公开一下",
]
#: a village matter goes to a village's committee (the routing rules refuse it for a residents' community)
VILLAGE_TOPICS = {"村里今年的集体收入花到哪里去了，怎么没公开"}
FORM = ["我要发起议事协商", None, '/inform{"community":"%s"}', '/inform{"contact_choice":"anonymous"}', "/affirm"]
COSIGN = '/inform{"cosign_choice":"cosign"}'  # the co-sign offer's 附议 button (actions.loop)


class Run:
    def __init__(self):
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.submitted: dict[str, str] = {}  # sender → tracking number told
        self.cosigned: dict[str, str] = {}  # sender → the item it joined (附议), as told
        self.submit_started = 0

    def error(self, msg: str) -> None:
        self.errors.append(msg)


async def say(client, url: str, run: Run, kind: str, sender: str, text: str) -> list[dict] | None:
    t0 = time.perf_counter()
    try:
        r = await client.post(url, json={"sender": sender, "message": text})
    except Exception as e:  # noqa: BLE001 - every failure is counted, not raised
        run.error(f"{kind} {sender} {text!r}: {type(e).__name__} {e}")
        return None
    run.lat[kind].append(time.perf_counter() - t0)
    if r.status_code != 200:
        run.error(f"{kind} {sender} {text!r}: HTTP {r.status_code}")
        return None
    msgs = r.json()
    texts = " ".join(m.get("text") or "" for m in msgs)
    if not msgs:
        run.error(f"{kind} {sender} {text!r}: empty reply")
    elif APOLOGY.search(texts):
        run.error(f"{kind} {sender} {text!r}: apology {texts[:80]!r}")
    return msgs


async def resident(client, url: str, run: Run, idx: int, stop_at: float, rng: random.Random) -> None:
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        sender = f"load-{idx}-{n}-{uuid.uuid4().hex[:6]}"
        roll = rng.random()
        if roll < 0.5:
            q, follow = rng.choice(QUESTIONS)
            await say(client, url, run, "question", sender, q)
            if follow:
                await say(client, url, run, "follow_up", sender, follow)
        elif roll < 0.7:
            await say(client, url, run, "small_talk", sender, rng.choice(SMALL_TALK))
        else:
            run.submit_started += 1
            topic = rng.choice(TOPICS)
            community = "liushu" if topic in VILLAGE_TOPICS else "xingfu"
            steps = list(FORM)
            while steps:
                step = steps.pop(0)
                text = topic if step is None else step.replace("%s", community)
                kind = "submit" if step in ("/affirm", COSIGN) else "form_step"
                msgs = await say(client, url, run, kind, sender, text)
                if msgs is None:
                    break
                offer = {b.get("title"): b.get("payload") for m in msgs for b in m.get("buttons") or []}
                if "附议" in offer and "仍要单独提交" in offer:  # a neighbour filed the same matter: as residents do,
                    steps.insert(0, offer["附议"] if rng.random() < 0.5 else offer["仍要单独提交"])  # join or file
                    continue
                if kind == "submit":
                    told = TRACKING.findall(" ".join(m.get("text") or "" for m in msgs))
                    if not told:
                        run.error(f"submit {sender}: no tracking number in {msgs!r:.200}")
                    elif step == COSIGN:
                        run.cosigned[sender] = told[0]
                        break  # a co-sign ends the form: the item exists, the resident joined it
                    else:
                        run.submitted[sender] = told[0]


def check_db(database_url: str, run: Run) -> dict:
    """Each conversation that was told a number has exactly that one row; no other load rows exist."""
    from sqlalchemy import create_engine, text

    from bot.db import normalize_url

    eng = create_engine(normalize_url(database_url))
    with eng.connect() as conn:
        rows = conn.execute(
            text("select sender_id, tracking_no from consultations where sender_id like 'rest:local:load-%'")
        ).all()
        joined = conn.execute(
            text(
                "select s.sender_id, c.tracking_no from consultation_cosigns s join consultations c"
                " on c.id = s.consultation_id where s.sender_id like 'rest:local:load-%' and s.via = 'cosign'"
            )
        ).all()
    eng.dispose()
    cosigns: dict[str, list[str]] = defaultdict(list)
    for s, tn in joined:
        cosigns[s.removeprefix("rest:local:")].append(tn)
    by_sender: dict[str, list[str]] = defaultdict(list)
    for s, tn in rows:
        by_sender[s.removeprefix("rest:local:")].append(tn)  # REST conversations are rest:<integrator>:<sender>
    dupes = {s: tns for s, tns in by_sender.items() if len(tns) > 1}
    missing = {s: tn for s, tn in run.submitted.items() if by_sender.get(s) != [tn]}
    untold = sorted(set(by_sender) - set(run.submitted))
    return {
        "rows": len(rows),
        "told": len(run.submitted),
        "duplicates": len(dupes),
        "confirmed_but_missing": len(missing),
        "stored_but_not_told": len(untold),
        "unique_tracking_numbers": len({tn for _, tn in rows}) == len(rows),
        "cosigned": len(run.cosigned),
        "cosigned_but_missing": sum(1 for s, tn in run.cosigned.items() if cosigns.get(s) != [tn]),
        "cosigns_not_told": len(set(cosigns) - set(run.cosigned)),
    }


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")


async def load(url: str, residents: int, seconds: float, seed: int) -> Run:
    import httpx

    run = Run()
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=residents, max_keepalive_connections=residents)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        await asyncio.gather(
            *(resident(client, url, run, i, stop_at, random.Random(seed + i)) for i in range(residents))
        )
    return run


def report(run: Run, elapsed: float, db: dict | None, servers: dict | None = None) -> int:
    from bench.procstats import load_average

    total = sum(len(v) for v in run.lat.values())
    all_lat = [x for v in run.lat.values() for x in v]
    print(
        f"load: {total} messages in {elapsed:.1f} s = {total / elapsed:.1f} msgs/s; "
        f"p50 {pct(all_lat, 0.5):.0f} ms, p95 {pct(all_lat, 0.95):.0f} ms; errors {len(run.errors)}; "
        f"machine load average {load_average()} (2 cores shared)"
    )
    for name, st in (servers or {}).items():
        print(
            f"  server {name:<8} CPU {st['cpu_s']:6.1f} s = {st['cpu_s'] / elapsed:4.2f} cores, "
            f"{1000 * st['cpu_s'] / max(total, 1):5.1f} ms CPU per message; {st['processes']:.0f} process(es), "
            f"RSS {st['rss']:.0f} MB, PSS {st['pss']:.0f} MB"
        )
    for kind, xs in sorted(run.lat.items()):
        print(
            f"  {kind:<11} n={len(xs):>5}  p50 {pct(xs, 0.5):>6.0f} ms  p95 {pct(xs, 0.95):>6.0f} ms  mean {statistics.mean(xs) * 1000:>6.0f} ms"
        )
    print(
        f"  submissions: started {run.submit_started}, told a tracking number {len(run.submitted)},"
        f" co-signed an open item {len(run.cosigned)}"
    )
    for e in run.errors[:15]:
        print("  ERROR", e)
    ok = not run.errors
    if db is not None:
        print("  database: " + json.dumps(db, ensure_ascii=False))
        ok = (
            ok
            and db["duplicates"] == 0
            and db["confirmed_but_missing"] == 0
            and db["stored_but_not_told"] == 0
            and db["unique_tracking_numbers"]
            and db["cosigned_but_missing"] == 0
            and db["cosigns_not_told"] == 0
        )
    print("load: PASS" if ok else "load: FAIL")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residents", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pg", action="store_true", help="store consultations in a fresh PostgreSQL schema (db test)")
    ap.add_argument("--url", help="a running Rasa server (default: start action server + Rasa here)")
    ap.add_argument("--database-url", help="the store the running stack uses (for the exactly-once check)")
    ap.add_argument("--backend", help="LINLI_EMBEDDING_BACKEND of the started stack (default: the configured one)")
    ap.add_argument("--action-workers", type=int, default=1, help="LINLI_ACTION_WORKERS of the started stack")
    ap.add_argument(
        "--rasa-workers", type=int, default=1, help="SANIC_WORKERS of Rasa (>1: PostgreSQL trackers, Redis lock)"
    )
    args = ap.parse_args()

    def go(rasa_url: str, db_url: str | None, pids: dict[str, int] | None = None) -> int:
        from bench.procstats import cpu_seconds, memory_mb

        # warm up: first retrieval and first form load models lazily in the action server
        asyncio.run(load_warmup(rasa_url))
        cpu0 = {name: cpu_seconds(pid) for name, pid in (pids or {}).items()}
        t0 = time.perf_counter()
        run = asyncio.run(load(rasa_url + "/webhooks/rest/webhook", args.residents, args.seconds, args.seed))
        elapsed = time.perf_counter() - t0
        servers = {
            name: {"cpu_s": cpu_seconds(pid) - cpu0[name], **memory_mb(pid)} for name, pid in (pids or {}).items()
        }
        return report(run, elapsed, check_db(db_url, run) if db_url else None, servers)

    if args.url:
        return go(args.url.rstrip("/"), args.database_url)

    from tests.stack import ONE_ADDRESS_MANY_RESIDENTS, running_stack

    env = {**ONE_ADDRESS_MANY_RESIDENTS, "LINLI_ACTION_WORKERS": str(args.action_workers)}
    if args.backend:
        env["LINLI_EMBEDDING_BACKEND"] = args.backend
    endpoints, tracker_db = None, None
    if args.rasa_workers > 1:
        import psycopg

        tracker_db = f"load_trackers_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{tracker_db}"')
        env["SANIC_WORKERS"] = str(args.rasa_workers)
        endpoints = {
            "tracker_store": {
                "type": "SQL",
                "dialect": "postgresql",
                "url": "127.0.0.1",
                "port": 5432,
                "db": tracker_db,
                "username": "postgres",
                "password": "",
            },
            "lock_store": {
                "type": "rasa_addons.lock_store.AtomicRedisLockStore",
                "url": "127.0.0.1",
                "port": 6379,
                "db": 0,
                "key_prefix": f"loadbench{uuid.uuid4().hex[:8]}",
            },
        }
    print(
        f"config: backend {args.backend or 'configured'}, action workers {args.action_workers}, rasa workers {args.rasa_workers}"
    )
    with tempfile.TemporaryDirectory(prefix="linli-load-") as tmp:
        schema = None
        if args.pg:
            import psycopg

            schema = f"load_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True) as c:
                c.execute(f'CREATE SCHEMA "{schema}"')
            db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
        else:
            db_url = f"sqlite:///{tmp}/load.db"
        try:
            with running_stack(extra_env={"LINLI_DATABASE_URL": db_url, **env}, extra_endpoints=endpoints) as stack:
                print(f"stack up: rasa {stack.rasa_url}, store {db_url.split('?')[0]}")
                rc = go(stack.rasa_url, db_url, {name: p.pid for name, p in stack.procs.items()})
                logs = {name: stack.log_tail(name, 10**8) for name in ("actions", "rasa")}
                tracebacks = sum(text.count("Traceback") for text in logs.values())
                print(f"  server tracebacks in logs: {tracebacks}")
                for name, text in logs.items():
                    for block in first_tracebacks(text):
                        print(f"  --- {name} log, first lines of a traceback:\n" + block)
                return rc if tracebacks == 0 else 1
        finally:
            if schema or tracker_db:
                import psycopg

                with psycopg.connect(host="127.0.0.1", dbname="test", user="postgres", autocommit=True) as c:
                    if schema:
                        c.execute(f'DROP SCHEMA "{schema}" CASCADE')
                    if tracker_db:
                        c.execute(f'DROP DATABASE IF EXISTS "{tracker_db}" WITH (FORCE)')


def first_tracebacks(log: str, keep: int = 2, lines: int = 40) -> list[str]:
    """The first ``keep`` distinct tracebacks of a server log (the line before each, then up to ``lines`` lines)."""
    out: list[str] = []
    rows = log.splitlines()
    for i, row in enumerate(rows):
        if "Traceback" in row and len(out) < keep:
            block = "\n".join(rows[max(0, i - 1) : i + lines])
            if block not in out:
                out.append(block)
    return out


async def load_warmup(rasa_url: str) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=600) as c:
        for text in ("你好", "在社区能办医保吗", "我要发起议事协商", "取消"):
            await c.post(rasa_url + "/webhooks/rest/webhook", json={"sender": "warmup", "message": text})


if __name__ == "__main__":
    sys.exit(main())
