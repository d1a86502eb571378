"""Which CPU cores each server runs on: Rasa and a one-worker action server each on cores of their own.

A never-asked question is encoded by the action server (``/prepare``) while Rasa parses the same message. Left to
roam over the same cores, the two slow each other down: on 2 cores the encode took 2–3× its time alone and the
action call waited for it. With Rasa on all cores but the last and the action server on the last, the encode runs
beside the parse instead (``bench/bench_webhook.py``; figures in the README). Several action workers are for
throughput and keep every core. ``LINLI_CPU_SPLIT=off`` turns the split off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

ENGINE, ACTIONS = "engine", "actions"


def cores_for(role: str, workers: int | None = None, env: Mapping[str, str] = os.environ) -> set[int] | None:
    """The cores ``role`` keeps, or None to leave the process where it is (split off, one core, several workers).

    ``workers``: the action server's worker count (default ``LINLI_ACTION_WORKERS``, as both servers read it)."""
    if env.get("LINLI_CPU_SPLIT", "auto").strip().lower() in {"off", "0", "no", "false"}:
        return None
    try:
        workers = int(env.get("LINLI_ACTION_WORKERS", "1")) if workers is None else workers
        allowed = sorted(os.sched_getaffinity(0))
    except (ValueError, AttributeError):  # an unreadable worker count, or no affinity on this system
        return None
    if workers != 1 or len(allowed) < 2:
        return None
    return {allowed[-1]} if role == ACTIONS else set(allowed[:-1])


def pin(role: str, workers: int | None = None) -> set[int] | None:
    """Keep this process (and the threads it starts from now on) on the cores :func:`cores_for` gives."""
    cores = cores_for(role, workers)
    if cores:
        os.sched_setaffinity(0, cores)
        if role == ENGINE:  # TensorFlow sizes its thread pools from these (read by Rasa at start), not from affinity
            for name in ("TF_INTRA_OP_PARALLELISM_THREADS", "TF_INTER_OP_PARALLELISM_THREADS", "OMP_NUM_THREADS"):
                os.environ.setdefault(name, str(len(cores)))
    return cores
