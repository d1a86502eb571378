"""The action server's ``POST /prepare`` (a real ``actions.serve`` process): behind the token, 4xx for bad bodies,
and a prepared question's action call encodes nothing more (its counts, ``GET /prepare``)."""

from __future__ import annotations

import os
import secrets
import subprocess
import time

import httpx
import pytest

from actions.prepare import MAX_BODY_BYTES
from tests.stack import APP_PYTHON, REPO, _stop, _wait, free_port

QUESTION = "小区里有没有给老人做饭的食堂"


def _answer_call(text: str) -> dict:
    sender = f"rest:local:prep-{secrets.token_hex(3)}"
    return {
        "next_action": "action_answer_question",
        "sender_id": sender,
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "events": [],
            "latest_message": {"text": text, "intent": {"name": "ask_service"}, "entities": []},
        },
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prepare")
    token, port = secrets.token_hex(8), free_port()
    log = tmp / "actions.log"
    env = {**os.environ, "LINLI_ACTION_TOKEN": token, "LINLI_DATABASE_URL": f"sqlite:///{tmp}/p.db"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(APP_PYTHON), "-m", "actions.serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/health", proc, log, time.monotonic() + 600)
        yield url, token, log, proc
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def http():
    """One client for the module's calls: ``httpx.post`` makes a client (and loads its CA bundle) per call, ~20 ms
    of CPU each, and the counts below are polled every 50 ms. A new connection per call still, as before."""
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        yield client


def _stats(http: httpx.Client, url: str, token: str) -> dict:
    r = http.get(f"{url}/prepare", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    return r.json()


def test_prepare_needs_the_token(server, http):
    url, token, _, _ = server
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        assert http.post(f"{url}/prepare", json={"text": QUESTION}, headers=headers).status_code == 401
        assert http.get(f"{url}/prepare", headers=headers).status_code == 401


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'"text"', b'{"text": 5}', b'{"message": "x"}', b"[[[[" * 5000, b'{"text": "\\ud800'],
)
def test_bad_prepare_bodies_get_400_never_5xx(server, http, body):
    url, token, _, _ = server
    r = http.post(
        f"{url}/prepare", content=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    assert r.status_code == (413 if len(body) > MAX_BODY_BYTES else 400)
    assert "请求" in r.json()["error"]


def test_an_oversized_prepare_body_is_refused(server, http):
    url, token, _, _ = server
    r = http.post(f"{url}/prepare", json={"text": "好" * MAX_BODY_BYTES}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 413


def test_a_prepared_question_is_answered_without_another_encode(server, http):
    url, token, log, proc = server
    auth = {"Authorization": f"Bearer {token}"}
    # before the model has loaded (or while it loads) a prepare is a quick no-op
    assert http.post(f"{url}/prepare", json={"text": "今天"}, headers=auth).status_code in (202, 204)
    deadline = time.monotonic() + 600
    while "warm-up done" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline and proc.poll() is None, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    assert http.post(f"{url}/prepare", json={"text": "/greet"}, headers=auth).status_code == 204
    before = _stats(http, url, token)
    assert http.post(f"{url}/prepare", json={"text": QUESTION}, headers=auth).status_code == 202
    deadline = time.monotonic() + 60
    while _stats(http, url, token)["prepares"].get("warmed", 0) <= before["prepares"].get("warmed", 0):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    prepared = _stats(http, url, token)
    assert prepared["encodes"].get("encoded", 0) == before["encodes"].get("encoded", 0) + 1
    r = http.post(f"{url}/webhook", json=_answer_call(QUESTION), headers=auth, timeout=120)
    assert r.status_code == 200 and r.json()["responses"]
    answered = _stats(http, url, token)
    assert answered["encodes"].get("encoded", 0) == prepared["encodes"]["encoded"]  # the action encoded nothing
    assert answered["encodes"].get("hit", 0) > prepared["encodes"].get("hit", 0)
    # a question never prepared is encoded by the action itself, as before
    r = http.post(f"{url}/webhook", json=_answer_call("失业了去哪里登记"), headers=auth, timeout=120)
    assert r.status_code == 200 and r.json()["responses"]
    assert _stats(http, url, token)["encodes"]["encoded"] == answered["encodes"]["encoded"] + 1
    assert "Traceback" not in log.read_text(errors="replace")
