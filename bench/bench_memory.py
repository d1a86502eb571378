"""Resident memory of each server (action server, Rasa) per configuration, after the same warm traffic.

For each configuration (encoder backend x action-server workers) the real stack is started (tests/stack.py),
sent the same questions, small talk and a whole consultation form, and then each server's process tree is
read from /proc: VmRSS summed over its processes, PSS (shared pages split between them: the honest total
when workers share the memory-mapped weights) and the peak VmHWM. Ratios are to the first configuration.

    .venv/bin/python bench/bench_memory.py                            # torch:1 (before) vs onnx:1, onnx:2
    .venv/bin/python bench/bench_memory.py --configs torch:1,onnx-int8:1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_load import FORM, QUESTIONS, SMALL_TALK  # noqa: E402
from bench.procstats import load_average, memory_mb  # noqa: E402


def measure(backend: str, workers: int) -> dict[str, dict[str, float]]:
    from tests.stack import running_stack

    env = {"LINLI_EMBEDDING_BACKEND": backend, "LINLI_ACTION_WORKERS": str(workers)}
    with tempfile.TemporaryDirectory(prefix="linli-mem-") as tmp, \
            running_stack(extra_env={"LINLI_DATABASE_URL": f"sqlite:///{tmp}/mem.db", **env}) as stack:
        for i, (q, follow) in enumerate(QUESTIONS * 2):  # several per worker: each worker loads its encoder lazily
            stack.rest(f"mem-q{i}", q)
            if follow:
                stack.rest(f"mem-q{i}", follow)
        for i, text in enumerate(SMALL_TALK):
            stack.rest(f"mem-s{i}", text)
        for step in FORM:
            stack.rest("mem-form", step or "小区停车位太少，晚上回来根本没地方停车")
        return {name: memory_mb(proc.pid) for name, proc in stack.procs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="torch:1,onnx:1,onnx:2", help="backend:workers, comma-separated; the first is the reference")
    args = ap.parse_args()
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]
    results = {}
    for backend, workers in configs:
        results[(backend, workers)] = measure(backend, workers)
        print(f"measured {backend} x{workers} (load average {load_average()})", flush=True)
    ref = results[configs[0]]
    print(f"resident memory after warm traffic (MB; summed over each server's processes); machine load {load_average()}")
    for (backend, workers), servers in results.items():
        for name, m in servers.items():
            r = ref[name]
            print(f"  {backend:<9} action workers {workers}  {name:<7} processes {m['processes']:.0f}  RSS {m['rss']:6.0f} "
                  f"({m['rss'] / r['rss']:4.2f}x)  PSS {m['pss']:6.0f} ({m['pss'] / r['pss']:4.2f}x)  peak {m['peak']:6.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
