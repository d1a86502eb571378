"""Several processes preparing one fresh database at once (action server workers starting together)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

WORKERS = 4


def _prepare(url: str, start, results) -> None:
    """One starting worker: load the knowledge base, wait for the others, then migrate and sync the directory."""
    from bot.consultations.service import ConsultationService
    from bot.kb import load_kb

    kb = load_kb()
    start.wait(timeout=120)  # every process is ready: they begin together
    try:
        ConsultationService(url, kb, use_embedding=False)
        results.put({"ok": True})
    except Exception as e:  # noqa: BLE001 — reported to the test
        results.put({"ok": False, "error": f"{type(e).__name__}: {e}"[:300]})


@pytest.fixture(scope="module")
def processes():
    """Separate processes from the shared fork server (:mod:`tests.processes`)."""
    from tests.processes import context

    return context()


@pytest.mark.parametrize("store", ["pg_url", "sqlite_url"])
def test_workers_preparing_a_fresh_database_together_all_start(store, request, processes):
    url = request.getfixturevalue(store)
    start, results = processes.Barrier(WORKERS), processes.Queue()
    procs = [processes.Process(target=_prepare, args=(url, start, results)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0, p.exitcode
    outcomes = [results.get(timeout=30) for _ in procs]
    assert all(r["ok"] for r in outcomes), outcomes
    engine = create_engine(url)
    with engine.connect() as conn:
        versions = conn.execute(text("select count(*) from alembic_version")).scalar()
        dupes = conn.execute(text("select count(*) - count(distinct id) from communities")).scalar()
        communities = conn.execute(text("select count(*) from communities")).scalar()
    engine.dispose()
    assert versions == 1 and dupes == 0 and communities > 0
