"""Concurrency on PostgreSQL: 200 parallel submissions get unique, contiguous tracking numbers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from bot.consultations import ConsultationService
from bot.db import dispose_engines
from bot.kb import load_kb

pytestmark = pytest.mark.postgres

N = 200


@pytest.fixture
def svc(migrated_pg_url):
    service = ConsultationService(migrated_pg_url, load_kb(), use_embedding=False)
    yield service
    dispose_engines()


def _parallel(fn, n: int):
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_200_parallel_submissions_unique_and_contiguous(svc):
    texts = ["幸福家园电梯坏了", "路灯不亮", "账目不公开", "想办老年食堂", "遛狗不牵绳"]
    recs = _parallel(lambda i: svc.submit("web", f"user{i}", f"msg{i}", "xingfu", f"{texts[i % 5]}（第{i}条）"), N)
    assert all(r.created for r in recs)
    numbers = [r.tracking_no for r in recs]
    assert len(set(numbers)) == N
    days = {n.split("-")[1] for n in numbers}
    seqs = sorted(int(n.split("-")[2]) for n in numbers)
    if len(days) == 1:  # unless the run straddled local midnight
        assert seqs == list(range(1, N + 1))
    with svc.engine.connect() as conn:
        assert conn.execute(
            text("SELECT count(*), count(DISTINCT tracking_no), count(DISTINCT client_key) FROM consultations")
        ).one() == (N, N, N)
        assert conn.execute(text("SELECT count(*) FROM status_events")).scalar_one() == N
    by_text = {r.text: r.tracking_no for r in recs}
    assert len(by_text) == N


def test_parallel_retries_and_new_messages_mixed(svc):
    """Half the threads retry the same 10 messages, the rest submit new ones: no duplicates, no gaps."""

    def submit(i):
        msg = f"dup{(i // 2) % 10}" if i % 2 == 0 else f"new{i}"
        return svc.submit("telegram", "same-user", msg, "liushu", f"村务公开的问题 {msg}")

    recs = _parallel(submit, 60)
    stored = {r.tracking_no for r in recs}
    assert len(stored) == 10 + 30
    assert sum(r.created for r in recs) == 40
    seqs = sorted(int(n.split("-")[2]) for n in stored)
    if len({n.split("-")[1] for n in stored}) == 1:
        assert seqs == list(range(1, 41))
    assert svc.reports.count_for_committee(None) == 40
