"""Shared set-up of the inbox tests: a real store on SQLite/PostgreSQL with two committees' items,
users of each role and a real uvicorn server on a free loopback port (Rasa's HTTP API: :class:`tests.fake_api.FakeRasa`)."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import httpx

from bot.consultations import ConsultationService
from bot.consultations.passwords import Argon2Hasher
from bot.settings import Settings

PASSWORD = {"alice": "alice-pass-123", "bob": "bob-pass-456", "root": "root-pass-789"}
COMMITTEE_A = "xingfu-jwh"  # 幸福社区居民委员会: public affairs, services, rules, other
COMMITTEE_B = "xingfu-jwjd"  # 幸福社区居务监督委员会: affairs disclosure

A_TEXTS = [
    ("public-affairs", "幸福路上的路灯坏了好几天，晚上走路很黑"),
    ("public-affairs", "广场舞音乐太吵了，晚上十点还在跳"),
    ("services-needs", "我们社区老人多，能不能办个老年食堂？"),
    ("public-affairs", '=HYPERLINK("http://evil.example","点我") 垃圾桶满了没人清运'),
    ("public-affairs", "<script>alert('x')</script> 下雨后路口积水严重，联系我 13812345678"),
]
B_TEXTS = [
    ("affairs-disclosure", "社区活动经费的账目能不能公开一下？机密B1"),
    ("affairs-disclosure", "低保评议的结果为什么没有公示？机密B2"),
]


#: Cheaper argon2 parameters for the test stores' users (still real argon2 hashing and verifying), given to
#: the service as its hasher: production cost makes every test login take ~0.5 s on 2 cores.
FAST_ARGON2 = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)


@lru_cache(maxsize=1)
def _kb():
    from bot.kb import load_kb

    return load_kb()


@dataclass
class Env:
    settings: Settings
    service: ConsultationService
    a: list = field(default_factory=list)  # ConsultationRecords of committee A
    b: list = field(default_factory=list)
    handoffs: dict = field(default_factory=dict)  # name -> handoff id: "a" (A's community), "other" (another community)


def make_env(var_dir: Path, url: str | None = None, *, rasa_url: str = "http://127.0.0.1:9", **extra) -> Env:
    """A fresh store (by default a SQLite file at the migration head) with users alice (A), bob (B), root (admin),
    seven consultations and two open handoffs."""
    var_dir.mkdir(parents=True, exist_ok=True)
    if url is None and not (var_dir / "inbox.db").exists():
        from tests.dbtemplate import migrated_sqlite

        url = migrated_sqlite(f"sqlite:///{var_dir / 'inbox.db'}")  # at head already (see tests.dbtemplate)
    settings = Settings(
        var_dir=var_dir,
        database_url=url or f"sqlite:///{var_dir / 'inbox.db'}",
        rasa_url=rasa_url,
        rasa_token="test-token",
        notify_backoff_seconds=0.2,
        **extra,
    )
    svc = ConsultationService(
        settings.sqlalchemy_url, _kb(), settings=settings, use_embedding=False, hasher=FAST_ARGON2
    )
    svc.accounts.create_user("alice", PASSWORD["alice"], COMMITTEE_A)
    svc.accounts.create_user("bob", PASSWORD["bob"], COMMITTEE_B)
    svc.accounts.create_user("root", PASSWORD["root"], None, role="admin")
    env = Env(settings, svc)
    for i, (cat, text) in enumerate(A_TEXTS):
        env.a.append(
            svc.submit(
                "telegram",
                f"resident-a{i}",
                f"m{i}",
                "xingfu",
                text,
                category=cat,
                contact_name="王小明" if i == 0 else None,
                contact_phone="13900001111" if i == 0 else None,
                consent=i == 0,
            )
        )
    for i, (cat, text) in enumerate(B_TEXTS):
        env.b.append(svc.submit("telegram", f"resident-b{i}", f"m{i}", "xingfu", text, category=cat))
    assert {r.committee_id for r in env.a} == {COMMITTEE_A} and {r.committee_id for r in env.b} == {COMMITTEE_B}
    env.handoffs["a"] = svc.handoffs.request("telegram", "resident-h1", "xingfu", "想找工作人员，电话 13712345678").id
    env.handoffs["other"] = svc.handoffs.request("telegram", "resident-h2", "heping", "和平社区的人工请求").id
    return env


@contextlib.contextmanager
def database(kind: str):
    """None for ``make_env``'s own SQLite file, or the URL of a fresh PostgreSQL schema (tests.conftest.pg_schema:
    skipped without PostgreSQL unless LINLI_REQUIRE_POSTGRES)."""
    if kind == "sqlite":
        yield None
        return
    from tests.conftest import pg_schema

    with pg_schema() as url:
        yield url


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "page has no CSRF field"
    return m.group(1)


def login(client, username: str, password: str | None = None):
    """Log in through the real form (fetches the CSRF token first); returns the final response."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password or PASSWORD[username],
            "csrf_token": csrf_from(page.text),
            "next": "/",
        },
        follow_redirects=True,
    )


def csrf_of(client) -> str:
    """The CSRF token of the client's current session (from a page with a form)."""
    return csrf_from(client.get("/consultations").text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The inbox app under a real uvicorn on a free loopback port (in a thread), configured as
    ``bot inbox serve`` configures it (read timeouts, proxy headers only from configured proxies)."""

    def __init__(self, app):
        import uvicorn

        from bot.inbox.server import uvicorn_config

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn_config(
                app, app.state.settings, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("inbox server did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
