"""The scheduler lease and the sent-once ledger on real SQLite and PostgreSQL, with racing threads and processes."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select

from bot.closedloop import lease as ls
from bot.closedloop import reminders as rm
from bot.consultations.statuses import Status
from bot.kb.models import CategoryLimits

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def make_engine(url: str):
    kw = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {"pool_size": 10}
    return create_engine(url, **kw)


@pytest.fixture
def engine(db_url):
    e = make_engine(db_url)
    ls.create_tables(e)
    yield e
    e.dispose()


def test_lease_is_exclusive_until_it_expires(engine):
    a = ls.Lease(engine, "reminders", "replica-a", ttl=60)
    b = ls.Lease(engine, "reminders", "replica-b", ttl=60)
    assert a.acquire(T0)
    assert not b.acquire(T0 + timedelta(seconds=1))
    assert a.acquire(T0 + timedelta(seconds=50))  # renewal extends to +110 s
    assert not b.acquire(T0 + timedelta(seconds=100))
    assert b.acquire(T0 + timedelta(seconds=111))  # a died: b takes over
    assert not a.acquire(T0 + timedelta(seconds=112))
    b.release()
    assert a.acquire(T0 + timedelta(seconds=113))
    assert ls.Lease(engine, "digest", "replica-b", ttl=60).acquire(T0 + timedelta(seconds=113))  # another name


def test_lease_refuses_bad_arguments(engine):
    for args in (("", "a", 60), ("x" * 65, "a", 60), ("n", "", 60), ("n", "a", 0)):
        with pytest.raises(ValueError):
            ls.Lease(engine, *args)
    with pytest.raises(ValueError):
        ls.Lease(engine, "n", "a").acquire(datetime(2026, 12, 1, 2, 0))  # naive


def _race(n: int, target) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        results[i] = target(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_threads_racing_for_a_lease_exactly_one_wins(engine):
    for round_ in range(4):  # first use (INSERT race) and takeover of an expired lease (UPDATE race)
        now = T0 + timedelta(minutes=10 * round_)
        results = _race(8, lambda i, now=now: ls.Lease(engine, "race", f"t{i}", ttl=60).acquire(now))
        assert results.count(True) == 1, results
        with engine.connect() as c:
            holder = c.execute(select(ls.scheduler_leases.c.holder)).scalar_one()
        assert holder == f"t{results.index(True)}"


def _acquire_in_process(url: str, name: str, holder: str, start, out) -> None:
    e = make_engine(url)
    start.wait(30)
    out.put((holder, ls.Lease(e, name, holder, ttl=60).acquire(T0)))
    e.dispose()


def test_processes_racing_for_a_lease_exactly_one_wins(engine, db_url):
    from tests.processes import context

    ctx = context()  # processes of their own, forked from a single-threaded server (no inherited locks)
    start, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_acquire_in_process, args=(db_url, "proc-race", f"p{i}", start, out)) for i in range(4)]
    engine.dispose()  # no inherited connections in the children
    for p in procs:
        p.start()
    try:
        results = dict(out.get(timeout=120) for _ in procs)
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs)
    assert sum(results.values()) == 1, results


def test_each_key_is_sent_exactly_once_by_racing_threads(engine):
    keys = [f"accept_near:C{i}:2026-12-01" for i in range(40)]
    sent: list[str] = []
    lock = threading.Lock()

    def replica(i):
        count = 0
        for k in keys:

            def send(k=k):
                with lock:
                    sent.append(k)

            count += ls.send_once(engine, k, f"r{i}", send, now=T0)
        return count

    counts = _race(6, replica)
    assert sorted(sent) == sorted(keys) and sum(counts) == len(keys)
    with engine.connect() as c:
        assert (
            c.execute(
                select(func.count()).select_from(ls.reminder_ledger).where(ls.reminder_ledger.c.sent_at.is_not(None))
            ).scalar_one()
            == 40
        )


def test_a_failed_send_is_released_and_retried(engine):
    def boom():
        raise ConnectionError("channel down")

    with pytest.raises(ConnectionError):
        ls.send_once(engine, "k1", "r1", boom, now=T0)
    sent = []
    assert ls.send_once(engine, "k1", "r2", lambda: sent.append(1), now=T0)
    assert not ls.send_once(engine, "k1", "r1", lambda: sent.append(2), now=T0)
    assert sent == [1]


def test_a_stale_unsent_claim_is_taken_over_but_a_sent_one_never(engine):
    assert ls.claim(engine, "k2", "crashed", now=T0)
    assert not ls.claim(engine, "k2", "r2", now=T0 + timedelta(seconds=30), stale=600)
    assert ls.claim(engine, "k2", "r2", now=T0 + timedelta(seconds=601), stale=600)
    ls.mark_sent(engine, "k2", "r2", now=T0 + timedelta(seconds=602))
    assert not ls.claim(engine, "k2", "r3", now=T0 + timedelta(days=3), stale=600)
    for bad in ("", "x" * 256, None, 12):
        with pytest.raises(ValueError):
            ls.claim(engine, bad, "r1", now=T0)


def test_two_replicas_planning_and_sending_send_each_reminder_once(engine):
    sh = ZoneInfo("Asia/Shanghai")
    items = [
        rm.OpenItem(
            f"C{i}",
            "xingfu",
            "城关街道",
            "public-affairs",
            datetime(2026, 11, 30, 9, i % 60, tzinfo=sh),
            Status.SUBMITTED,
        )
        for i in range(30)
    ]
    limits = {"public-affairs": CategoryLimits(accept_days=2, complete_days=10)}
    now = datetime(2026, 12, 2, 9, 0, tzinfo=sh)
    sent: list[str] = []
    lock = threading.Lock()

    def replica(i):
        for r in rm.plan(items, now, limits, remind_days_left=1):

            def send(key=r.key):
                with lock:
                    sent.append(key)

            ls.send_once(engine, r.key, f"replica-{i}", send, now=now)

    _race(2, replica)
    _race(2, replica)  # a second pass of both sends nothing new
    assert len(sent) == len(set(sent)) == 30
    assert all(k.startswith("accept_overdue:") for k in sent)
