"""Faults: the action server killed mid-submission, the database unplugged, the Telegram API failing.

Short versions of ``bench/fault_action_server.py`` and ``bench/fault_database.py`` (which run more trials
and print figures). Real processes, a real PostgreSQL behind an unpluggable TCP relay, a real stand-in
Telegram server.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

HAN = re.compile(r"[\u4e00-\u9fff]")
TRACKING = re.compile(r"YS-\d{8}-\d{4,}")


# ---- action server killed (kill -9) in the middle of a submission ----------------------------------------


@pytest.fixture(scope="module")
def fault_stack():
    from bench.fault_action_server import FaultStack

    with (
        tempfile.TemporaryDirectory(prefix="linli-fault-") as tmp,
        FaultStack(f"sqlite:///{tmp}/fault.db", Path(tmp)) as stack,
    ):
        yield stack


@pytest.mark.parametrize("mode", ["before", "after"])
def test_action_server_killed_mid_submission_never_confirms_a_missing_record(fault_stack, mode):
    """before: nothing may be stored or confirmed; after: the stored record must be told, once."""
    from bench.fault_action_server import trial

    result = trial(fault_stack, mode)
    assert not result["problems"], result
    if mode == "before":
        assert len(result["rows"]) <= 1
    else:
        assert len(result["rows"]) == 1


# ---- database unavailable -------------------------------------------------------------------------------


@pytest.fixture
def pg_relay():
    from bench.fault_database import PluggableTCP, pg_schema_via
    from tests.conftest import _pg_connect

    conn, _ = _pg_connect()
    if conn is None:
        pytest.skip("PostgreSQL unreachable")
    conn.close()
    relay = PluggableTCP("127.0.0.1", 5432)
    try:
        with pg_schema_via(relay) as (url, direct):
            yield relay, url, direct
    finally:
        relay.close()


@pytest.mark.postgres
def test_store_outage_writes_nothing_and_recovers_without_restart(pg_relay):
    from bench.fault_database import integrity
    from bot.consultations import ConsultationService, DatabaseUnavailable

    relay, url, direct = pg_relay
    svc = ConsultationService(url, use_embedding=False)
    first = svc.submit("rest", "db-a", "m1", "xingfu", "小区路灯坏了好几天，晚上很黑")
    relay.unplug()
    with pytest.raises(DatabaseUnavailable) as outage:
        svc.submit("rest", "db-b", "m1", "xingfu", "楼道里堆满杂物，存在消防隐患")
    assert HAN.search(outage.value.message)
    relay.plug()
    assert integrity(direct) == {"consultations": 1, "without_trail": 0, "dangling_events": 0}
    again = svc.submit("rest", "db-b", "m1", "xingfu", "楼道里堆满杂物，存在消防隐患")  # same object, no restart
    assert again.created and again.tracking_no != first.tracking_no
    assert integrity(direct)["consultations"] == 2


@pytest.mark.postgres
def test_resident_gets_a_clear_message_during_a_store_outage_then_submits(pg_relay):
    from bench.fault_database import resident_level

    relay, url, direct = pg_relay
    res = resident_level(url, direct, relay)
    assert res["polite"], res
    assert res["rows_during"] == 0, res
    assert len(res["rows"]) == 1 and res["told_after"] == res["rows"], res


@pytest.mark.postgres
def test_inbox_answers_503_during_a_store_outage_and_recovers(pg_relay, tmp_path):
    """A clear 503 page (no traceback, Retry-After), the same keep-alive connection still usable, no restart."""
    from bench.fault_database import inbox_level

    relay, url, _ = pg_relay
    res = inbox_level(url, relay, tmp_path)
    assert (res["before"], res["during_outage"], res["after"], res["alive"]) == (200, 503, 200, True), res
    assert res["during_outage_polite"] and "数据库" in res["during_outage_body"], res
    assert res["retry_after"] == "30", res
    log = (tmp_path / "inbox.log").read_text(errors="replace")
    assert "Traceback" not in log and "database unavailable on GET /consultations" in log


# ---- Telegram API failing --------------------------------------------------------------------------------


def test_telegram_outage_longer_than_the_retries_does_not_crash_the_channel(shared_stack):
    """sendMessage fails more often than the connector retries: that reply is dropped after backoff,
    the webhook still answered Telegram 200 (no redelivery storm), and the next update is answered.
    On the session's shared stack (the project's credentials.yml, Telegram in webhook mode): chats of its own."""
    import secrets

    from tests.fake_telegram import text_update

    stack, tg = shared_stack.stack, shared_stack.telegram
    hook = f"{stack.rasa_url}/webhooks/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": shared_stack.telegram_secret}
    down = 800_000_000 + secrets.randbelow(10**8)
    up = down + 1
    update_id = secrets.randbelow(10**9)
    tg.fail("sendMessage", times=5, status=502, chat_id=down)  # as many failures as the connector's attempts
    r = httpx.post(hook, json=text_update(update_id, down, "你好"), headers=headers, timeout=120)
    assert r.status_code == 200
    attempts = tg.wait_for("sendMessage", count=4, chat_id=down, timeout=60)
    gaps = [b["at"] - a["at"] for a, b in zip(attempts, attempts[1:])]
    assert gaps[-1] > gaps[0] * 1.2, f"no backoff between retries: {gaps}"
    tg.wait_for("sendMessage", count=5, chat_id=down, timeout=60)  # its last attempt: that reply is given up
    r = httpx.post(hook, json=text_update(update_id + 1, up, "你好"), headers=headers, timeout=120)
    assert r.status_code == 200
    ok = tg.wait_for("sendMessage", count=1, chat_id=up, timeout=60)
    assert HAN.search(str(ok[-1]["params"].get("text", "")))
    assert httpx.get(stack.rasa_url + "/", timeout=10).status_code == 200
