"""Retrieval speed: warm per-query latency (real KB and a synthetic 100k-passage corpus), index build time,
and how much of a whole answer is FAISS search.   Run: .venv/bin/python bench/bench_retrieval.py [--n 100000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np


def pct(xs, p):
    return float(np.percentile(np.asarray(xs) * 1000, p))


def line(name, xs):
    print(f"  {name:<38} p50 {pct(xs, 50):8.2f} ms   p95 {pct(xs, 95):8.2f} ms   (n={len(xs)})")


def real_kb(repeats: int) -> None:
    from bot.retrieval.assistant import Assistant, get_assistant
    from bot.retrieval.evaluate import load_dev_set
    from bot.settings import Settings, get_settings

    t0 = time.perf_counter()
    a = get_assistant()
    print(f"real KB: {len(a.retriever.passages)} passages; cold load (KB + model + index) {time.perf_counter() - t0:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(cache_dir=Path(tmp), kb_dir=get_settings().kb_dir)
        t0 = time.perf_counter()
        Assistant.build(settings, embedder=a.retriever.embedder, progress=False, force_rebuild=True)
        print(f"  index build (embed all passages + FAISS + BM25)  {time.perf_counter() - t0:.2f}s")
    questions = [q.q for q in load_dev_set() if not q.hint]
    for q in questions[:5]:
        a.ask(q)  # warm up
    ask_cold_embed, ask_cached, embed, faiss_t, bm25_t = [], [], [], [], []
    r = a.retriever
    for _ in range(repeats):
        for q in questions:
            r._qcache.clear()
            t = time.perf_counter(); a.ask(q); ask_cold_embed.append(time.perf_counter() - t)
            t = time.perf_counter(); a.ask(q); ask_cached.append(time.perf_counter() - t)
            t = time.perf_counter(); v = r.embedder.queries([q]); embed.append(time.perf_counter() - t)
            t = time.perf_counter(); r.faiss_index.search(v, len(r.passages)); faiss_t.append(time.perf_counter() - t)
            terms = r.analyze(q)
            t = time.perf_counter(); r.bm25.scores(terms); bm25_t.append(time.perf_counter() - t)
    line("ask() incl. query embedding", ask_cold_embed)
    line("ask() with cached query vector", ask_cached)
    line("query embedding only", embed)
    line("FAISS search only", faiss_t)
    line("BM25 scoring only", bm25_t)
    print(f"  whole answer / FAISS search time: {statistics.mean(ask_cold_embed) / statistics.mean(faiss_t):,.0f}x "
          f"(with cached query vector: {statistics.mean(ask_cached) / statistics.mean(faiss_t):,.0f}x)")


def synthetic(n: int, queries: int, dim: int = 384) -> None:
    from bot.retrieval.bm25 import BM25

    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(30_000)]
    zipf = 1 / np.arange(1, len(vocab) + 1) ** 1.1
    zipf /= zipf.sum()
    print(f"synthetic corpus: {n:,} passages, dim {dim}, 30k-term Zipf vocabulary")
    t = time.perf_counter()
    vecs = rng.standard_normal((n, dim), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(dim)
    index.add(vecs)
    print(f"  FAISS IndexFlatIP build  {time.perf_counter() - t:.2f}s")
    docs = [list(rng.choice(vocab, size=int(rng.integers(20, 60)), p=zipf)) for _ in range(n)]
    t = time.perf_counter()
    bm = BM25(docs)
    print(f"  BM25 build               {time.perf_counter() - t:.2f}s")
    qv = rng.standard_normal((queries, dim), dtype=np.float32)
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    f_t, b_t, fuse_t = [], [], []
    for i in range(queries):
        terms = list(rng.choice(vocab[:5000], size=5, p=zipf[:5000] / zipf[:5000].sum()))
        t = time.perf_counter(); d, ids = index.search(qv[i : i + 1], 50); f_t.append(time.perf_counter() - t)
        t = time.perf_counter(); s = bm.scores(terms); b_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        top = np.argpartition(-s, 50)[:50]
        top = top[np.argsort(-s[top])]
        fused: dict[int, float] = {}
        for rank, j in enumerate(ids[0]):
            fused[int(j)] = fused.get(int(j), 0) + 1 / (5 + rank + 1)
        for rank, j in enumerate(top):
            fused[int(j)] = fused.get(int(j), 0) + 1 / (5 + rank + 1)
        sorted(fused.items(), key=lambda kv: -kv[1])[:10]
        fuse_t.append(time.perf_counter() - t)
    line("FAISS top-50", f_t)
    line("BM25 scoring (5 terms)", b_t)
    line("top-50 + RRF fusion", fuse_t)
    total = [a + b + c for a, b, c in zip(f_t, b_t, fuse_t)]
    line("hybrid search total (excl. embedding)", total)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-real", action="store_true")
    args = ap.parse_args()
    faiss.omp_set_num_threads(2)
    if not args.skip_real:
        real_kb(args.repeats)
    synthetic(args.n, args.queries)


if __name__ == "__main__":
    main()
