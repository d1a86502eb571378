"""The closed loop's scheduler: a background thread of the inbox process that runs a pass every
``closedloop_scheduler_interval`` seconds (0: none), and ``python -m bot closedloop run-pass`` for cron or tests.

A pass first takes the database lease ``closedloop`` (bot.closedloop.lease): with several inbox replicas only the
holder runs it; the others skip. Every state lives in the database (lease, ledger, due dates), so a restart just
continues. A pass calls every job in :data:`JOBS`, in order; a job is ``job(service, now, holder) -> dict`` (figures
for the log and the bench) and registers itself with :func:`job`. A failing job is logged, the others still run.
Built in: ``reminders`` (near a limit: the committee; past it: escalation to the 街道/乡镇) and ``digest`` (once a
day, JSON to ``closedloop_digest_url``; off when empty). Other parts add theirs (e.g. ``expire_followups``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx

from bot.closedloop import lease, workdays
from bot.consultations import models as m

log = logging.getLogger(__name__)
LEASE = "closedloop"
Job = Callable[[object, datetime, str], dict]
JOBS: dict[str, Job] = {}


def job(name: str) -> Callable[[Job], Job]:
    """Register ``fn`` as a scheduler job under ``name`` (a later registration with the same name replaces it)."""

    def deco(fn: Job) -> Job:
        JOBS[name] = fn
        return fn

    return deco


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:128]


@dataclass(frozen=True)
class PassResult:
    ran: bool  # False: another replica holds the lease
    jobs: dict[str, dict]


def run_pass(service, *, holder: str | None = None, now: datetime | None = None) -> PassResult:
    """One pass, if this holder gets the lease (released at the end so the next pass may run anywhere).

    ``now`` is the jobs' clock (tests and the bench pass one); the lease always uses the wall clock and is renewed
    before each job, so a long pass keeps it."""
    holder = holder or holder_id()
    now = now or m.utcnow()
    ls = lease.Lease(service.engine, LEASE, holder, ttl=service.settings.closedloop_lease_ttl)
    if not ls.acquire():
        return PassResult(False, {})
    out: dict[str, dict] = {}
    try:
        for name, fn in list(JOBS.items()):
            if not ls.acquire():  # lost it (a pass longer than the ttl): stop, the new holder carries on
                log.warning("scheduler lease lost before job %s", name)
                break
            try:
                out[name] = fn(service, now, holder)
            except Exception as e:  # one job's fault must not stop the others
                log.exception("scheduler job %s failed", name)
                out[name] = {"error": type(e).__name__}
    finally:
        ls.release()
    return PassResult(True, out)


@job("reminders")
def reminders_job(service, now: datetime, holder: str) -> dict:
    planned = service.reminding.plan(service.reminding.due_items(), now)
    return {"planned": len(planned), "sent": service.reminding.send(planned, holder, now)}


def digest_payload(service, now: datetime) -> dict:
    """Per committee: open items near and past a limit; per 街道/乡镇: escalated items and extensions waiting."""
    items = service.oversight.overdue(now=now, near=True)
    near, over = Counter(), Counter()
    for i in items:
        (over if i.working_days_overdue > 0 else near)[i.committee_id] += 1
    towns = Counter(i.township for i in items if i.working_days_overdue > 0)
    day = workdays.to_local(now, service.settings.timezone).date()
    return {
        "type": "linli.closedloop.digest",
        "date": day.isoformat(),
        "committees": [{"committee": c, "near": near[c], "overdue": over[c]} for c in sorted(set(near) | set(over))],
        "townships": [{"township": t, "escalated": n} for t, n in sorted(towns.items())],
        "overdue": [
            {
                "tracking_no": i.tracking_no,
                "committee": i.committee_id,
                "stage": i.stage,
                "due": i.due.isoformat(),
                "working_days_overdue": i.working_days_overdue,
                "estimated": i.estimated,
            }
            for i in items
            if i.working_days_overdue > 0
        ][:500],
        "estimated_years": workdays.estimated_years(day),
    }


@job("expire_followups")
def expire_followups_job(service, now: datetime, holder: str) -> dict:
    """Follow-ups (回访) unanswered for ``closedloop_followup_days`` working days close as 未回复."""
    from bot.consultations.loop_rules import expire_followups

    return {"closed": expire_followups(now, service)}


@job("digest")
def digest_job(service, now: datetime, holder: str) -> dict:
    """Once per local day from ``closedloop_digest_hour``: POST the digest; a failure is retried next pass."""
    s = service.settings
    url = (s.closedloop_digest_url or "").strip()
    local = workdays.to_local(now, s.timezone)
    if not url or local.hour < s.closedloop_digest_hour:
        return {"sent": 0}
    payload = digest_payload(service, now)

    def post() -> None:
        r = httpx.post(url, json=payload, timeout=10.0)
        r.raise_for_status()

    try:
        sent = lease.send_once(service.engine, f"digest:{local.date().isoformat()}", holder, post, now=now)
    except httpx.HTTPError as e:
        log.warning("digest to %s failed: %s", httpx.URL(url).host, type(e).__name__)
        return {"sent": 0, "error": type(e).__name__}
    return {"sent": int(sent)}


class SchedulerThread(threading.Thread):
    """A pass every ``interval`` seconds (the first after one interval), until stopped."""

    def __init__(self, service, interval: float):
        super().__init__(name="linli-closedloop-scheduler", daemon=True)
        self.service, self.interval = service, interval
        self.holder = holder_id()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                run_pass(self.service, holder=self.holder)
            except Exception:  # the database may be down: the next pass tries again
                log.exception("scheduler pass")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_event.set()
        self.join(timeout)
