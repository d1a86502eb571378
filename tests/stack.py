"""Start the real stack (action server + Rasa server) on free loopback ports for a test, then stop it.

Reusable by every engineer's end-to-end tests::

    from tests.stack import running_stack

    with running_stack(extra_env={"LINLI_DATABASE_URL": url}) as stack:
        replies = stack.rest("alice", "你好")          # list of REST-channel messages
        stack.trigger_intent("alice", "EXTERNAL_consultation_status", {...})

``credentials``: None writes a temp credentials file with the project's REST channel only
(``connectors.rest.RestInput``, name ``rest``); a dict is dumped as YAML;
a str/Path is used as is. The model is ``models/linli.tar.gz`` (trained first if missing or older
than its inputs, see :func:`ensure_model`). Both servers' logs are kept and shown if startup fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
APP_PYTHON = REPO / ".venv" / "bin" / "python"
RASA = REPO / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = REPO / ".venv-rasa" / "bin" / "python"
MODEL = REPO / "models" / "linli.tar.gz"
MODEL_INPUTS = ("config.yml", "domain.yml", "nlu_data", "knowledge_base/jieba")
START_TIMEOUT = float(os.environ.get("LINLI_TEST_START_TIMEOUT", "240"))
#: for a stack where many simulated residents share 127.0.0.1: lift the per-address chat limit (one address is
#: many people here); each sender's own limit still holds
ONE_ADDRESS_MANY_RESIDENTS = {"LINLI_CHAT_PEER_PER_MINUTE": "10000000", "LINLI_CHAT_PEER_BURST": "10000000"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _newest_input_mtime() -> float:
    newest = 0.0
    for rel in MODEL_INPUTS:
        p = REPO / rel
        files = (
            [p] if p.is_file() else [f for f in p.rglob("*") if f.is_file() and f.suffix in (".yml", ".yaml", ".txt")]
        )
        newest = max([newest, *(f.stat().st_mtime for f in files)])
    return newest


def ensure_model() -> Path:
    """Train ``models/linli.tar.gz`` only when it is missing or older than its inputs.

    Serialised with a file lock (several test sessions may ask at once); trains into a temp
    folder and moves the result into place atomically, so a running server never sees half a file.
    """
    if MODEL.exists() and MODEL.stat().st_mtime >= _newest_input_mtime():
        return MODEL
    MODEL.parent.mkdir(exist_ok=True)
    with open(MODEL.parent / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if MODEL.exists() and MODEL.stat().st_mtime >= _newest_input_mtime():
            return MODEL  # another session trained it while we waited
        started = time.time()
        with tempfile.TemporaryDirectory(prefix=".train-", dir=MODEL.parent) as out:
            cmd = [
                str(RASA),
                "train",
                "--data",
                "nlu_data",
                "--config",
                "config.yml",
                "--domain",
                "domain.yml",
                "--out",
                out,
                "--fixed-model-name",
                "linli",
            ]
            proc = subprocess.run(cmd, cwd=REPO, env=_rasa_env(), capture_output=True, text=True, timeout=1800)
            trained = Path(out) / MODEL.name
            if proc.returncode != 0 or not trained.exists():
                raise RuntimeError(
                    f"rasa train failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
                )
            os.replace(trained, MODEL)
        os.utime(MODEL, (started, started))  # inputs edited during training make it stale again
    return MODEL


def action_server_cmd(port: int) -> list[str]:
    """The action server as scripts/run.sh starts it (loopback, token from LINLI_ACTION_TOKEN)."""
    return [str(APP_PYTHON), "-m", "actions.serve", "--port", str(port)]


def rasa_cmd(model: Path, port: int, credentials: Path, endpoints: Path, *extra: str) -> list[str]:
    """``rasa run`` with the API on, its token from LINLI_RASA_TOKEN (never on the command line)."""
    return [
        str(RASA_PYTHON),
        "-m",
        "rasa_addons.run",
        "run",
        "--enable-api",
        "-m",
        str(model),
        "-i",
        "127.0.0.1",
        "--port",
        str(port),
        "--credentials",
        str(credentials),
        "--endpoints",
        str(endpoints),
        *extra,
    ]


def endpoints_yaml(action_url: str, extra: dict | None = None) -> str:
    """endpoints.yml for a test stack: the action server, called with the token from LINLI_ACTION_TOKEN."""
    return yaml.safe_dump(
        {
            "action_endpoint": {
                "url": action_url,
                "headers": {"Authorization": "Bearer ${LINLI_ACTION_TOKEN}"},
                "enable_selective_domain": True,
            },
            **(extra or {}),
        }
    )


def secret_env(rasa_token: str, action_token: str) -> dict[str, str]:
    return {"LINLI_RASA_TOKEN": rasa_token, "LINLI_ACTION_TOKEN": action_token}


def _rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"})
    return env


def unique_sender(name: str) -> str:
    """A conversation of its own on a stack that other tests share: ``name`` plus a random suffix."""
    return f"{name}-{secrets.token_hex(4)}"


@dataclass
class Stack:
    rasa_url: str
    action_url: str
    token: str
    workdir: Path
    logs: dict[str, Path] = field(default_factory=dict)
    action_token: str = ""
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)  # "actions", "rasa" (for the benches' CPU/RSS)
    env: dict[str, str] = field(default_factory=dict)  # the extra environment both servers were started with
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))

    @staticmethod
    def rest_id(sender: str, integrator: str = "local") -> str:
        """Rasa's conversation id (and the stored sender) of a REST sender: ``rest:<integrator>:<sender>``."""
        return f"rest:{integrator}:{sender}"

    def rest(self, sender: str, text: str, **extra) -> list[dict]:
        """Send one message through the REST channel; return Rasa's list of bot messages.

        Its conversation in Rasa (for :meth:`tracker`, :meth:`trigger_intent`) is ``rest_id(sender)``."""
        r = self.client.post(
            f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text, **extra}
        )
        r.raise_for_status()
        return r.json()

    def trigger_intent(
        self, conversation: str, intent: str, entities: dict | None = None, output_channel: str | None = None
    ) -> dict:
        """POST /conversations/{sender}/trigger_intent with the API token (as the inbox does)."""
        params = {"token": self.token}
        if output_channel:
            params["output_channel"] = output_channel
        r = self.client.post(
            f"{self.rasa_url}/conversations/{quote(conversation, safe=':@')}/trigger_intent",
            params=params,
            json={"name": intent, "entities": entities or {}},
        )
        r.raise_for_status()
        return r.json()

    def tracker(self, conversation: str) -> dict:
        r = self.client.get(
            f"{self.rasa_url}/conversations/{quote(conversation, safe=':@')}/tracker", params={"token": self.token}
        )
        r.raise_for_status()
        return r.json()

    def warm_up(self, question: str = "在社区能办医保吗", timeout: float = 240) -> None:
        """The action server loads its search index on the first question: wait until answers carry sources."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if any((m.get("custom") or {}).get("sources") for m in self.rest(unique_sender("warm-up"), question)):
                    return
            except httpx.HTTPError:  # a first turn that outlived the request deadline while the index loaded
                pass
            time.sleep(0.5)
        raise TimeoutError(f"no answer with sources after {timeout}s:\n{self.log_tail('actions')}")

    def log_tail(self, name: str, chars: int = 4000) -> str:
        p = self.logs.get(name)
        return p.read_text(errors="replace")[-chars:] if p and p.exists() else ""


def _wait(url: str, proc: subprocess.Popen, log: Path, deadline: float, ok=lambda r: r.status_code == 200) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            r = httpx.get(url, timeout=2)
            if ok(r):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # polls a local port: cheap, and every start-up waits for it
    raise TimeoutError(f"{url} not ready after {START_TIMEOUT}s:\n{log.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextlib.contextmanager
def running_stack(
    credentials: dict | str | Path | None = None,
    extra_env: dict[str, str] | None = None,
    model: Path | None = None,
    rasa_args: list[str] | None = None,
    extra_endpoints: dict | None = None,
    action_endpoint: str | None = None,
) -> Iterator[Stack]:
    """Action server (app env) + Rasa server (engine env, REST channel, HTTP API with a token).

    ``extra_endpoints``: more top-level entries of endpoints.yml (e.g. a lock store). ``action_endpoint``: the
    URL Rasa calls for actions instead of the action server's own ``/webhook`` (a relay in front of it)."""
    model = model or ensure_model()
    token = secrets.token_hex(12)
    action_token = secrets.token_hex(12)
    action_port, rasa_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="linli-stack-") as tmp:
        work = Path(tmp)
        if credentials is None or isinstance(credentials, dict):
            creds = work / "credentials.yml"
            creds.write_text(
                yaml.safe_dump(credentials or {"connectors.rest.RestInput": None}, allow_unicode=True), encoding="utf-8"
            )
        else:
            creds = Path(credentials)
        endpoints = work / "endpoints.yml"
        endpoints.write_text(
            endpoints_yaml(action_endpoint or f"http://127.0.0.1:{action_port}/webhook", extra_endpoints)
        )
        env = _rasa_env() | {"LINLI_RASA_URL": f"http://127.0.0.1:{rasa_port}"} | secret_env(token, action_token)
        env.update(extra_env or {})
        stack = Stack(
            f"http://127.0.0.1:{rasa_port}",
            f"http://127.0.0.1:{action_port}",
            token,
            work,
            {"actions": work / "actions.log", "rasa": work / "rasa.log"},
            action_token=action_token,
            env=dict(extra_env or {}),
        )
        actions = rasa = None
        try:
            with open(stack.logs["actions"], "wb") as alog:
                actions = subprocess.Popen(
                    action_server_cmd(action_port), cwd=REPO, env=env, stdout=alog, stderr=subprocess.STDOUT
                )
            stack.procs["actions"] = actions
            with open(stack.logs["rasa"], "wb") as rlog:
                rasa = subprocess.Popen(
                    rasa_cmd(model, rasa_port, creds, endpoints, *(rasa_args or [])),
                    cwd=REPO,
                    env=env,
                    stdout=rlog,
                    stderr=subprocess.STDOUT,
                )
            stack.procs["rasa"] = rasa
            deadline = time.monotonic() + START_TIMEOUT
            _wait(f"{stack.action_url}/health", actions, stack.logs["actions"], deadline)
            _wait(
                f"{stack.rasa_url}/status?token={token}",
                rasa,
                stack.logs["rasa"],
                deadline,
                ok=lambda r: r.status_code == 200 and bool(r.json().get("model_file")),
            )
            yield stack
        finally:
            stack.client.close()
            _stop(rasa)
            _stop(actions)


SHARED_TELEGRAM_SECRET = "shared-stack-telegram-secret"
PREFETCH_HOLD_SECONDS = 20.0  # the shared stack's announcement timeout (0.5 s in production)


@dataclass
class SharedStack:
    """The standard stack that every e2e module without special configuration shares (one per test session)."""

    stack: Stack
    db_url: str
    var_dir: Path
    telegram: object  # tests.fake_telegram.FakeTelegram, the Bot API the Telegram channel talks to
    relay: object  # tests.action_relay.ActionRelay, Rasa's action endpoint in front of the action server
    telegram_secret: str = SHARED_TELEGRAM_SECRET


@contextlib.contextmanager
def standard_stack(work: Path) -> Iterator[SharedStack]:
    """The project's ``credentials.yml`` (REST, web chat, Telegram in webhook mode against a
    :class:`~tests.fake_telegram.FakeTelegram`, WeChat idle), a SQLite database and INFO logs in ``work``; warmed up.
    Rasa calls the action server through an :class:`~tests.action_relay.ActionRelay` (a pass-through unless a test
    holds it), and its channels wait up to ``PREFETCH_HOLD_SECONDS`` for an announcement (``LINLI_PREFETCH_TIMEOUT``),
    so that a turn which waited for one would show (tests/test_prefetch_e2e.py).

    Tests on it must use conversations of their own (:func:`unique_sender`) and must not reconfigure or stop it."""
    from tests.action_relay import ActionRelay
    from tests.fake_telegram import FakeTelegram

    db_url = f"sqlite:///{work / 'linli.db'}"
    with FakeTelegram() as tg, ActionRelay(hold_seconds=PREFETCH_HOLD_SECONDS) as relay:
        env = {
            "LINLI_DATABASE_URL": db_url,
            "LINLI_VAR_DIR": str(work),
            "LINLI_LOG_LEVEL": "INFO",
            "TELEGRAM_TOKEN": tg.token,
            "TELEGRAM_WEBHOOK_SECRET": SHARED_TELEGRAM_SECRET,
            "TELEGRAM_API_BASE_URL": tg.base_url,
            "TELEGRAM_CHAT_INTERVAL": "0",
            "TELEGRAM_WEBHOOK_URL": "https://example.invalid/webhooks/telegram/webhook",
            "LINLI_PREFETCH_TIMEOUT": str(PREFETCH_HOLD_SECONDS),
        }
        stack_cm = running_stack(
            credentials=REPO / "credentials.yml", extra_env=env, action_endpoint=relay.url + "/webhook"
        )
        with stack_cm as stack:
            relay.upstream = stack.action_url
            stack.warm_up()
            yield SharedStack(stack, db_url, work, tg, relay)
