"""Resident memory of the action server per configuration (encoder backend x workers), after the same calls.

For each configuration a real action server (``python -m actions.serve``) is started on a free loopback port
and sent the action calls Rasa would send for the load bench's questions (``action_answer_question`` with the
question as the latest message, over fresh connections so every worker serves some), then its process tree is
read from /proc: VmRSS summed over its processes, PSS (shared pages split between them: the honest total when
workers share the memory-mapped weights) and the peak VmHWM. Ratios are to the first configuration. Rasa's
memory is printed by bench/bench_load.py next to its throughput (it does not depend on the encoder).

    .venv/bin/python bench/bench_memory.py                          # torch:1 (before) vs onnx:1, onnx:2
    .venv/bin/python bench/bench_memory.py --configs torch:1,onnx-int8:1

A backend may name the ONNX tokenizer after a ``+``: ``onnx+tokenizers`` serves with the HF ``tokenizers`` library
and keeps the weight pages it touched mapped (the state before bot/embedding/unigram.py and pages.py), plain
``onnx`` with the defaults (the small tokenizer, clean weight pages released after warm-up).
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_load import QUESTIONS  # noqa: E402
from bench.procstats import load_average, memory_mb  # noqa: E402


def answer_call(sender: str, text: str) -> dict:
    return {
        "next_action": "action_answer_question",
        "sender_id": sender,
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "events": [],
            "latest_message": {"text": text, "intent": {"name": "ask_service", "confidence": 0.9}, "entities": []},
        },
    }


def measure(backend: str, workers: int, calls: int) -> dict[str, float]:
    import httpx

    from tests.stack import APP_PYTHON, _stop, _wait, free_port

    token, port = secrets.token_hex(8), free_port()
    with tempfile.TemporaryDirectory(prefix="linli-mem-") as tmp:
        log = Path(tmp) / "actions.log"
        env = {
            **os.environ,
            "LINLI_ACTION_TOKEN": token,
            "LINLI_DATABASE_URL": f"sqlite:///{tmp}/mem.db",
            "LINLI_EMBEDDING_BACKEND": backend.split("+")[0],
            "LINLI_EMBEDDING_TOKENIZER": (backend.split("+") + ["small"])[1],
            # the state before the small tokenizer also kept every weight page it had touched
            "LINLI_EMBEDDING_RELEASE_PAGES": "false" if backend.endswith("+tokenizers") else "true",
            "LINLI_ACTION_WORKERS": str(workers),
        }
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [str(APP_PYTHON), "-m", "actions.serve", "--port", str(port)],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(f"{url}/health", proc, log, time.monotonic() + 1800)
            texts = [q for pair in QUESTIONS for q in pair if q]
            for i in range(calls):
                r = httpx.post(
                    f"{url}/webhook",
                    json=answer_call(f"mem-{i}", texts[i % len(texts)]),
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=600,
                )
                r.raise_for_status()
                if not r.json().get("responses"):
                    raise SystemExit(f"no answer from the action server: {r.text[:300]}")
            return memory_mb(proc.pid)
        finally:
            _stop(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--configs",
        default="torch:1,onnx+tokenizers:1,onnx:1,onnx:2",
        help="backend[+tokenizer]:workers, comma-separated; the first is the reference",
    )
    ap.add_argument("--calls", type=int, default=60)
    args = ap.parse_args()
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]
    results = {}
    for backend, workers in configs:
        results[(backend, workers)] = measure(backend, workers, args.calls)
        print(f"measured {backend} x{workers} (load average {load_average()})", flush=True)
    ref = results[configs[0]]
    print(
        f"action server resident memory after {args.calls} answer calls (MB, summed over its processes); "
        f"machine load average {load_average()} (2 cores shared)"
    )
    for (backend, workers), m in results.items():
        print(
            f"  {backend:<16} workers {workers}: processes {m['processes']:.0f}  RSS {m['rss']:6.0f} ({m['rss'] / ref['rss']:4.2f}x)  "
            f"PSS {m['pss']:6.0f} ({m['pss'] / ref['pss']:4.2f}x)  peak {m['peak']:6.0f} ({m['peak'] / ref['peak']:4.2f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
