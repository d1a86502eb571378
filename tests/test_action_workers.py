"""``LINLI_ACTION_WORKERS``: the action server on one port with N worker processes, each behind the token check."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench.procstats import tree
from tests.stack import APP_PYTHON, REPO, _stop, _wait, free_port

OUT_OF_SCOPE_CALL = {
    "next_action": "action_out_of_scope",
    "sender_id": "rest:local:w",
    "tracker": {
        "sender_id": "rest:local:w",
        "slots": {},
        "events": [],
        "latest_message": {"text": "明天天气怎么样", "intent": {"name": "out_of_scope"}, "entities": []},
    },
    "domain": {},
}


def _serve(tmp_path: Path, env_extra: dict, *args: str) -> tuple[subprocess.Popen, str, str, Path]:
    token, port = secrets.token_hex(8), free_port()
    log = tmp_path / f"actions-{port}.log"
    env = {**os.environ, "LINLI_ACTION_TOKEN": token, "LINLI_DATABASE_URL": f"sqlite:///{tmp_path}/w.db", **env_extra}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(APP_PYTHON), "-m", "actions.serve", "--port", str(port), *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}", token, log


def _own_rss_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _workers(proc: subprocess.Popen) -> list[int]:
    """Worker processes under the manager (Sanic also runs multiprocessing's resource tracker: not a worker)."""
    out = []
    for pid in tree(proc.pid)[1:]:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "multiprocessing.spawn" in cmd:
            out.append(pid)
    return out


def test_two_workers_from_the_environment_each_answer_and_check_the_token(tmp_path):
    proc, url, token, log = _serve(tmp_path, {"LINLI_ACTION_WORKERS": "2"})
    try:
        _wait(f"{url}/health", proc, log, time.monotonic() + 600)
        deadline = time.monotonic() + 120
        while len(_workers(proc)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _workers(proc)
        assert len(workers) == 2, (workers, log.read_text(errors="replace")[-2000:])
        # each worker loads its own model after it starts serving; the managing process loads none
        deadline = time.monotonic() + 900
        while log.read_text(errors="replace").count("warm-up done") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log.read_text(errors="replace")
        assert text.count("warm-up done") == 2, text[-3000:]
        assert _own_rss_mb(proc.pid) < 0.5 * min(_own_rss_mb(w) for w in workers)  # the manager holds no encoder
        # a new connection each time (no keep-alive; one client, not one per call with its CA bundle loaded): the
        # kernel spreads them over the workers
        fresh = httpx.Client(timeout=300, limits=httpx.Limits(max_keepalive_connections=0))
        with httpx.Client(timeout=300) as c, fresh:
            for _ in range(10):  # 40 connections: all on one worker by chance is ~2^-40
                r = fresh.post(
                    f"{url}/webhook", json=OUT_OF_SCOPE_CALL, headers={"Authorization": f"Bearer {token}"}, timeout=300
                )
                assert (
                    r.status_code == 200 and r.json()["responses"][0]["response"] == "utter_off_topic"
                )  # Rasa renders it
                assert c.post(f"{url}/webhook", json=OUT_OF_SCOPE_CALL).status_code == 401
                # a channel's announcement may land on either worker: each takes it behind the same token
                prepared = fresh.post(
                    f"{url}/prepare", json={"text": "失业了去哪里登记"}, headers={"Authorization": f"Bearer {token}"}
                )
                assert prepared.status_code in (202, 204)
                assert c.post(f"{url}/prepare", json={"text": "失业了去哪里登记"}).status_code == 401
            text = log.read_text(errors="replace")
        assert "2 worker(s)" in text
        seen = {int(w) for w in workers if f"Starting worker [{w}]" in text}
        assert seen == set(workers), text[-2000:]
        assert "Traceback" not in text
    finally:
        _stop(proc)


@pytest.mark.parametrize("value", ["0", "17", "two"])
def test_a_bad_worker_count_is_refused_without_a_traceback(value, capsys):
    """Through ``main`` in this process (the test above runs ``python -m actions.serve`` for real): "two" is
    argparse's refusal (its exit status 2), 0 and 17 the range check."""
    from actions.serve import main

    if value == "two":
        with pytest.raises(SystemExit) as exited:
            main(["--workers", value])
        code = exited.value.code
    else:
        code = main(["--workers", value])
    assert code == 2
    text = capsys.readouterr().err
    assert "workers" in text and "Traceback" not in text
