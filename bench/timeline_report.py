"""The per-message timeline of ``bench_webhook.py --timeline``: each step's median time since the request left.

The engine, the action server and the bench all mark on one clock (:mod:`linli_common.timeline`); the bench
sends one message at a time, so a mark belongs to the message in flight when it was made. For each kind of
message the report lists every event (the n-th occurrence of a repeated one as ``name#n``) with its median
offset from the bench's send and how many messages had it, in order of that median, then the gaps between
consecutive milestones.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict

from linli_common.timeline import read


def offsets(path: str, sent: list[tuple[str, int, int]]) -> dict[str, dict[str, list[float]]]:
    """kind → event → offsets (ms) from the send, one per message that had it; ``bench.reply`` is the reply."""
    marks = read(path)
    times = [t for t, _ in marks]
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for kind, t0, t1 in sent:
        seen: dict[str, int] = defaultdict(int)
        for t, event in marks[bisect.bisect_left(times, t0) : bisect.bisect_right(times, t1)]:
            seen[event] += 1
            name = event if seen[event] == 1 else f"{event}#{seen[event]}"
            out[kind][name].append((t - t0) / 1e6)
        out[kind]["bench.reply"].append((t1 - t0) / 1e6)
    return out


def lines(path: str, sent: list[tuple[str, int, int]]) -> list[str]:
    """The report, one table per kind of message."""
    result = []
    for kind, events in offsets(path, sent).items():
        n = len(events["bench.reply"])
        rows = sorted((statistics.median(v), name, len(v)) for name, v in events.items())
        result.append(f"timeline of {kind} ({n} messages): median ms since the bench sent it [messages with it]")
        prev = 0.0
        for at, name, count in rows:
            result.append(f"  {at:7.2f}  (+{at - prev:5.2f})  {name}" + (f"  [{count}]" if count != n else ""))
            prev = at
    return result
