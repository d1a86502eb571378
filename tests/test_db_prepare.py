"""Several processes preparing one fresh database at once (action server workers starting together)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from tests.stack import REPO

# Each process waits for a common start time, then migrates and syncs the directory like a starting worker.
_WORKER = r"""
import json, sys, time
from bot.consultations.service import ConsultationService
from bot.kb import load_kb
url, start = sys.argv[1], float(sys.argv[2])
kb = load_kb()
time.sleep(max(0.0, start - time.time()))
try:
    ConsultationService(url, kb, use_embedding=False)
    print(json.dumps({"ok": True}))
except Exception as e:
    print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}))
"""


@pytest.mark.parametrize("store", ["pg_url", "sqlite_url"])
def test_workers_preparing_a_fresh_database_together_all_start(store, request):
    url = request.getfixturevalue(store)
    start = time.time() + 20  # after every process has imported and loaded the knowledge base
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, str(start)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert all(r["ok"] for r in results), results
    engine = create_engine(url)
    with engine.connect() as conn:
        versions = conn.execute(text("select count(*) from alembic_version")).scalar()
        dupes = conn.execute(text("select count(*) - count(distinct id) from communities")).scalar()
        communities = conn.execute(text("select count(*) from communities")).scalar()
    engine.dispose()
    assert versions == 1 and dupes == 0 and communities > 0
