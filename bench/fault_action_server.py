"""Fault: ``kill -9`` the action server in the middle of a consultation submission, then restart it.

Rasa reaches the action server through a small fault-injecting HTTP relay. When the relay sees the
``action_submit_consultation`` call it SIGKILLs the action server at a chosen moment:

* ``before``  — before the request reaches it (nothing can be stored),
* ``after``   — after it answered (the row is committed, the answer is lost on the way back),
* ``delay``   — a random 0–400 ms after forwarding (anywhere inside the submission).

Then the action server is restarted on the same port and the resident presses "确认提交" again.
Per trial it checks what the issue demands: the resident got a polite message while the server was
down; the consultation is stored at most once; a tracking number the resident was told is in the
database; and a stored consultation's number was told to the resident (never confirmed-but-missing,
never stored-but-silent). And what a resident expects: the second press files the consultation (or
finds the one already filed) and tells its number, so every trial ends stored exactly once.

    .venv/bin/python bench/fault_action_server.py              # 12 trials: before, after and random delays
    .venv/bin/python bench/fault_action_server.py --trials 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.stack import (  # noqa: E402
    _rasa_env,
    _stop,
    _wait,
    action_server_cmd,
    endpoints_yaml,
    ensure_model,
    free_port,
    rasa_cmd,
    secret_env,
)

TRACKING = re.compile(r"YS-\d{8}-\d{4,}")
HAN = re.compile(r"[\u4e00-\u9fff]")
SUBMIT_ACTION = b'"next_action": "action_submit_consultation"'
SUBMIT_ACTION_COMPACT = b'"next_action":"action_submit_consultation"'


class FaultRelay:
    """HTTP/1.1 relay Rasa → action server that can SIGKILL the upstream during the submit action."""

    def __init__(self, upstream_port: int, kill):
        self.upstream_port = upstream_port
        self.kill = kill  # callable: SIGKILL the action server
        self.mode: str | None = None  # None | before | after | delay:<seconds>
        self.fired = threading.Event()
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def arm(self, mode: str) -> None:
        self.fired.clear()
        self.mode = mode

    def start(self) -> FaultRelay:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    @staticmethod
    async def _read_message(reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        body = await reader.readexactly(int(m.group(1))) if m else b""
        return head + body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await self._read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                is_submit = SUBMIT_ACTION in request or SUBMIT_ACTION_COMPACT in request
                mode = self.mode if is_submit else None
                if mode:
                    self.mode = None
                if mode == "before":
                    self.kill()
                    self.fired.set()
                    return  # connection dropped without an answer
                try:
                    up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
                except OSError:
                    return  # action server down: Rasa sees a connection error, as without the relay
                up_w.write(request)
                await up_w.drain()
                if mode and mode.startswith("delay:"):
                    await asyncio.sleep(float(mode.split(":")[1]))
                    self.kill()
                    self.fired.set()
                    up_w.close()
                    return
                try:
                    response = await self._read_message(up_r)
                except (asyncio.IncompleteReadError, ConnectionError):
                    up_w.close()
                    return
                up_w.close()
                if mode == "after":
                    self.kill()
                    self.fired.set()
                    return  # the answer is lost
                writer.write(response)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()


@dataclass
class FaultStack:
    """Action server (killable, restartable on its port) behind a FaultRelay, and one Rasa server."""

    database_url: str
    workdir: Path
    token: str = field(default_factory=lambda: secrets.token_hex(12))
    action_port: int = field(default_factory=free_port)
    rasa_port: int = field(default_factory=free_port)
    actions: subprocess.Popen | None = None
    rasa: subprocess.Popen | None = None
    relay: FaultRelay | None = None
    restarts: int = 0

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def env(self) -> dict:
        return (
            _rasa_env()
            | {"LINLI_DATABASE_URL": self.database_url, "LINLI_RASA_URL": self.rasa_url}
            | secret_env(self.token, self.token)
        )

    def start_actions(self) -> None:
        log = open(self.workdir / f"actions{self.restarts}.log", "wb")
        self.actions = subprocess.Popen(
            action_server_cmd(self.action_port), cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT
        )
        _wait(f"http://127.0.0.1:{self.action_port}/health", self.actions, Path(log.name), time.monotonic() + 300)

    def kill_actions(self) -> None:
        """kill -9 of exactly the action server process this stack started."""
        if self.actions and self.actions.poll() is None:
            os.kill(self.actions.pid, signal.SIGKILL)
            self.actions.wait(10)

    def restart_actions(self) -> float:
        t0 = time.perf_counter()
        self.kill_actions()
        self.restarts += 1
        self.start_actions()
        return time.perf_counter() - t0

    def __enter__(self) -> FaultStack:
        model = ensure_model()
        self.start_actions()
        self.relay = FaultRelay(self.action_port, self.kill_actions).start()
        (self.workdir / "credentials.yml").write_text("connectors.rest.RestInput:\n")
        (self.workdir / "endpoints.yml").write_text(endpoints_yaml(f"http://127.0.0.1:{self.relay.port}/webhook"))
        rlog = self.workdir / "rasa.log"
        with open(rlog, "wb") as log:
            self.rasa = subprocess.Popen(
                rasa_cmd(model, self.rasa_port, self.workdir / "credentials.yml", self.workdir / "endpoints.yml"),
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait(
            f"{self.rasa_url}/status?token={self.token}",
            self.rasa,
            rlog,
            time.monotonic() + 300,
            ok=lambda r: r.status_code == 200 and bool(r.json().get("model_file")),
        )
        return self

    def __exit__(self, *exc) -> None:
        _stop(self.rasa)
        _stop(self.actions)
        if self.relay:
            self.relay.stop()


def say(stack: FaultStack, sender: str, text: str) -> list[dict]:
    r = httpx.post(f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=300)
    r.raise_for_status()
    return r.json()


def texts(msgs: list[dict]) -> str:
    return " ".join(m.get("text") or "" for m in msgs)


def told_numbers(text: str) -> set[str]:
    """Tracking numbers the bot told, not format examples ("格式如 YS-20260101-0001")."""
    return {
        m.group(0)
        for m in TRACKING.finditer(text)
        if not re.search(r"如|格式", text[max(0, m.start() - 6) : m.start()])
    }


FORM = [
    "我要发起议事协商",
    "我们楼的电梯三天两头坏，物业一直拖着不修",
    '/inform{"community":"xingfu"}',
    '/inform{"contact_choice":"anonymous"}',
]


def rows_for(database_url: str, sender: str) -> list[str]:
    from sqlalchemy import create_engine, text

    from bot.db import normalize_url

    eng = create_engine(normalize_url(database_url))
    with eng.connect() as conn:
        out = [
            r[0]
            for r in conn.execute(
                text("select tracking_no from consultations where sender_id = :s"), {"s": f"rest:local:{sender}"}
            )
        ]
    eng.dispose()
    return out


def trial(stack: FaultStack, mode: str) -> dict:
    """One resident, one kill; returns what happened and the list of violated invariants."""
    sender = f"fault-{secrets.token_hex(4)}"
    for step in FORM:
        r = say(stack, sender, step)
        # earlier trials filed the same matter in that community: file separately, as the trial's own resident
        for b in (b for m in r for b in m.get("buttons") or [] if "附近居民已提过类似事项" in texts(r)):
            if b.get("title") == "仍要单独提交":
                say(stack, sender, b["payload"])
    stack.relay.arm(mode)
    during = say(stack, sender, "/affirm")
    fired = stack.relay.fired.is_set()
    restart_s = stack.restart_actions()
    retry = say(stack, sender, "/affirm")  # the resident presses 确认提交 again
    status = say(stack, sender, "我提交的诉求现在怎么样了")
    rows = rows_for(stack.database_url, sender)
    told = told_numbers(texts(during) + " " + texts(retry) + " " + texts(status))
    problems = []
    if not fired:
        problems.append("the fault did not fire")
    if not (during and HAN.search(texts(during))):
        problems.append(f"no polite message while the action server was down (got {during!r})")
    if len(rows) > 1:
        problems.append(f"stored {len(rows)} times: {rows}")
    if told - set(rows):
        problems.append(f"confirmed but missing: told {sorted(told)}, stored {rows}")
    if rows and not (set(rows) & told):
        problems.append(f"stored {rows} but the resident was never told the number")
    # pressing 确认提交 again files it (mode before) or finds it (mode after): stored once, number told now
    if not (len(rows) == 1 and told_numbers(texts(retry)) == set(rows)):
        problems.append(
            f"the retry did not end with one stored consultation whose number is told: rows {rows}, "
            f"retry reply {texts(retry)[:120]!r}"
        )
    return {
        "mode": mode,
        "sender": sender,
        "during": texts(during)[:120],
        "retry": texts(retry)[:120],
        "rows": rows,
        "told": sorted(told),
        "restart_s": round(restart_s, 1),
        "problems": problems,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--database-url", help="store URL (default: a fresh SQLite file)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    modes = ["before", "after"] + [f"delay:{rng.uniform(0, 0.4):.3f}" for _ in range(max(0, args.trials - 2))]
    with tempfile.TemporaryDirectory(prefix="linli-fault-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/fault.db"
        with FaultStack(url, Path(tmp)) as stack:
            say(stack, "warmup", "你好")
            results = [trial(stack, m) for m in modes[: args.trials]]
            tracebacks = sum(
                (Path(tmp) / f).read_text(errors="replace").count("Traceback")
                for f in os.listdir(tmp)
                if f.endswith(".log")
            )
    bad = [r for r in results if r["problems"]]
    for r in results:
        print(json.dumps(r, ensure_ascii=False))
    stored = sum(1 for r in results if r["rows"])
    print(
        f"fault(action server kill -9): {len(results)} trials, stored {stored}, not stored {len(results) - stored}, "
        f"violations {len(bad)}; mean restart {sum(r['restart_s'] for r in results) / len(results):.1f} s; "
        f"tracebacks in server logs {tracebacks}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
