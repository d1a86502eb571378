"""Fault: the database goes away (PostgreSQL unreachable) and comes back — while everything keeps running.

All store traffic goes through a TCP relay in front of PostgreSQL that can be "unplugged" (every open
connection cut, new ones refused) and plugged back in. Checked at three levels:

1. library: ``ConsultationService.submit`` during the outage fails with a clear error and writes nothing;
   the same service object works again after the outage (no restart);
2. resident (action server + Rasa over REST): confirming a consultation during the outage gets a polite
   message and no tracking number; after the outage the same conversation submits and is told its number;
3. committee inbox: pages during the outage answer a clear 503 page (no traceback, Retry-After) on the same
   keep-alive connection, then work again.

    .venv/bin/python bench/fault_database.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TRACKING = re.compile(r"YS-\d{8}-\d{4,}")
HAN = re.compile(r"[\u4e00-\u9fff]")
TRACEBACK = re.compile(r"Traceback|File \"[^\"]+\.py\", line|sqlalchemy|psycopg|OperationalError")


class PluggableTCP:
    """A TCP relay 127.0.0.1:<port> → target that can be unplugged (cut + refuse) and plugged back."""

    def __init__(self, target_host: str, target_port: int):
        from tests.stack import free_port

        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self.plug()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                w.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection(*self.target)
        except OSError:
            w.close()
            return
        self._writers |= {w, uw}
        await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))
        self._writers -= {w, uw}

    async def _plug(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _unplug(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    def plug(self) -> None:
        self._call(self._plug())

    def unplug(self) -> None:
        self._call(self._unplug())

    def close(self) -> None:
        self.unplug()
        self._loop.call_soon_threadsafe(self._loop.stop)


@contextlib.contextmanager
def pg_schema_via(relay: PluggableTCP):
    """A fresh schema in PostgreSQL db ``test``; yields (url through the relay, direct url)."""
    import psycopg

    schema = f"fault_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user="postgres", autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    q = f"?options=-csearch_path%3D{schema}&connect_timeout=3"
    try:
        yield (
            f"postgresql+psycopg://postgres@127.0.0.1:{relay.port}/test{q}",
            f"postgresql+psycopg://postgres@127.0.0.1:5432/test{q}",
        )
    finally:
        with psycopg.connect(host="127.0.0.1", port=5432, dbname="test", user="postgres", autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def integrity(direct_url: str) -> dict:
    """Counts that reveal half-written submissions: a consultation without its first status event."""
    from sqlalchemy import create_engine, text

    eng = create_engine(direct_url)
    with eng.connect() as conn:
        n = conn.execute(text("select count(*) from consultations")).scalar()
        orphans = conn.execute(
            text(
                "select count(*) from consultations c where not exists (select 1 from status_events e where e.consultation_id = c.id)"
            )
        ).scalar()
        dangling = conn.execute(
            text(
                "select count(*) from status_events e where not exists (select 1 from consultations c where c.id = e.consultation_id)"
            )
        ).scalar()
    eng.dispose()
    return {"consultations": n, "without_trail": orphans, "dangling_events": dangling}


def library_level(url: str, direct: str, relay: PluggableTCP) -> dict:
    from bot.consultations import ConsultationService
    from bot.errors import UserFacingError

    svc = ConsultationService(url, use_embedding=False)
    before = svc.submit("rest", "lib-ok", "m1", "xingfu", "小区路灯坏了好几天，晚上很黑")
    relay.unplug()
    t0 = time.perf_counter()
    try:
        svc.submit("rest", "lib-down", "m1", "xingfu", "楼道里堆满杂物，存在消防隐患")
        outcome = "stored?!"
    except UserFacingError as e:
        outcome = f"UserFacingError: {e.message}"
    except Exception as e:  # noqa: BLE001 - the point is to see which error the library raises
        outcome = f"{type(e).__module__}.{type(e).__name__} (not a UserFacingError)"
    fail_s = time.perf_counter() - t0
    relay.plug()
    after = svc.submit("rest", "lib-down", "m1", "xingfu", "楼道里堆满杂物，存在消防隐患")
    return {
        "during_outage": outcome,
        "failed_after_s": round(fail_s, 2),
        "recovered": after.created and bool(after.tracking_no),
        "before": before.tracking_no,
        "after": after.tracking_no,
        "integrity": integrity(direct),
    }


def resident_level(url: str, direct: str, relay: PluggableTCP) -> dict:
    from tests.stack import running_stack

    with running_stack(extra_env={"LINLI_DATABASE_URL": url}) as stack:
        sender = f"dbfault-{secrets.token_hex(3)}"
        for step in [
            "我要发起议事协商",
            "小区停车位太少，晚上回来根本没地方停车",
            '/inform{"community":"xingfu"}',
            '/inform{"contact_choice":"anonymous"}',
        ]:
            stack.rest(sender, step)
        relay.unplug()
        during = " ".join(m.get("text") or "" for m in stack.rest(sender, "/affirm"))
        relay.plug()
        mid = integrity(direct)
        retry_msgs = [stack.rest(sender, "/affirm")]
        retry = " ".join(m.get("text") or "" for m in retry_msgs[-1])
        if not TRACKING.search(retry):  # the resident starts over if the bot did not keep the form
            for step in [
                "我要发起议事协商",
                "小区停车位太少，晚上回来根本没地方停车",
                '/inform{"community":"xingfu"}',
                '/inform{"contact_choice":"anonymous"}',
                "/affirm",
            ]:
                retry_msgs.append(stack.rest(sender, step))
            retry = " ".join(m.get("text") or "" for m in retry_msgs[-1])
        from sqlalchemy import create_engine, text

        eng = create_engine(direct)
        with eng.connect() as conn:
            rows = [
                r[0]
                for r in conn.execute(
                    text("select tracking_no from consultations where sender_id = :s"), {"s": f"rest:local:{sender}"}
                )
            ]
        eng.dispose()
        return {
            "during_outage_reply": during[:150],
            "polite": bool(HAN.search(during)) and not TRACKING.search(during) and not TRACEBACK.search(during),
            "rows_during": mid["consultations"],
            "after_outage_reply": retry[:150],
            "told_after": TRACKING.findall(retry),
            "rows": rows,
            "retried_whole_form": len(retry_msgs) > 1,
        }


def inbox_level(url: str, relay: PluggableTCP, workdir: Path) -> dict:
    import httpx

    from tests.stack import APP_PYTHON, _stop, _wait, free_port

    env = dict(os.environ) | {
        "LINLI_DATABASE_URL": url,
        "LINLI_VAR_DIR": str(workdir),
        "LINLI_INBOX_SECRET_KEY": secrets.token_hex(32),
    }
    pw = secrets.token_urlsafe(12)
    subprocess.run(
        [str(APP_PYTHON), "-m", "bot", "inbox", "adduser", "fault-admin", "--admin", "--password-stdin"],
        input=pw + "\n",
        text=True,
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = workdir / "inbox.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [str(APP_PYTHON), "-m", "bot", "inbox", "serve", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", proc, log, time.monotonic() + 120)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
            c.post("/login", data={"username": "fault-admin", "password": pw, "csrf_token": csrf, "next": "/"})
            ok_before = c.get("/consultations").status_code
            relay.unplug()
            down = c.get("/consultations")
            down_login = c.get("/login")
            relay.plug()
            after = c.get("/consultations")
        return {
            "before": ok_before,
            "during_outage": down.status_code,
            "during_outage_polite": bool(HAN.search(down.text)) and not TRACEBACK.search(down.text),
            "during_outage_body": re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", down.text))[:120],
            "login_page_during_outage": down_login.status_code,
            "retry_after": down.headers.get("retry-after"),
            "after": after.status_code,
            "alive": proc.poll() is None,
        }
    finally:
        _stop(proc)


def main() -> int:
    relay = PluggableTCP("127.0.0.1", 5432)
    out: dict = {}
    try:
        with tempfile.TemporaryDirectory(prefix="linli-dbfault-") as tmp:
            with pg_schema_via(relay) as (url, direct):
                out["library"] = library_level(url, direct, relay)
                out["resident"] = resident_level(url, direct, relay)
                out["inbox"] = inbox_level(url, relay, Path(tmp))
                out["integrity_end"] = integrity(direct)
    finally:
        relay.close()
    print(json.dumps(out, ensure_ascii=False, indent=1))
    lib, res, inbox, integ = out["library"], out["resident"], out["inbox"], out["integrity_end"]
    checks = {
        "library: clear (UserFacingError) error during the outage": lib["during_outage"].startswith("UserFacingError"),
        "library: recovers without restart": lib["recovered"],
        "resident: polite reply, no number, during the outage": res["polite"],
        "resident: nothing stored during the outage": res["rows_during"] == lib["integrity"]["consultations"],
        "resident: stored once and told after recovery": len(res["rows"]) == 1 and res["told_after"] == res["rows"],
        "inbox: clear 503 page during the outage (no traceback)": inbox["during_outage_polite"]
        and inbox["during_outage"] == 503,
        "inbox: works again after the outage": inbox["after"] == 200 and inbox["alive"],
        "nothing half-written": integ["without_trail"] == 0 and integ["dangling_events"] == 0,
    }
    for k, v in checks.items():
        print(("PASS " if v else "FAIL ") + k)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
