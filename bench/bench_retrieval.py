"""Retrieval speed: warm per-query latency (real KB and a synthetic 100k-passage corpus), index build time,
and how much of a whole answer is FAISS search; at 100k, hybrid search before/after the HNSW index and the
sparse-matrix BM25 in one run, against one onnx-int8 query encode.
Run: .venv/bin/python bench/bench_retrieval.py [--n 100000] [--skip-real]
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
    print(
        f"real KB: {len(a.retriever.passages)} passages; cold load (KB + model + index) {time.perf_counter() - t0:.1f}s"
    )
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
            t = time.perf_counter()
            a.ask(q)
            ask_cold_embed.append(time.perf_counter() - t)
            t = time.perf_counter()
            a.ask(q)
            ask_cached.append(time.perf_counter() - t)
            t = time.perf_counter()
            v = r.embedder.queries([q])
            embed.append(time.perf_counter() - t)
            t = time.perf_counter()
            r.faiss_index.search(v, len(r.passages))
            faiss_t.append(time.perf_counter() - t)
            terms = r.analyze(q)
            t = time.perf_counter()
            r.bm25.scores(terms)
            bm25_t.append(time.perf_counter() - t)
    line("ask() incl. query embedding", ask_cold_embed)
    line("ask() with cached query vector", ask_cached)
    line("query embedding only", embed)
    line("FAISS search only", faiss_t)
    line("BM25 scoring only", bm25_t)
    print(
        f"  whole answer / FAISS search time: {statistics.mean(ask_cold_embed) / statistics.mean(faiss_t):,.0f}x "
        f"(with cached query vector: {statistics.mean(ask_cached) / statistics.mean(faiss_t):,.0f}x)"
    )


class _PostingsBM25:
    """The BM25 before the sparse matrix (per-query arithmetic over numpy postings), for the before/after rows."""

    def __init__(self, docs, k1=1.2, b=0.75):
        import math
        from collections import Counter

        self.k1, self.n_docs = k1, len(docs)
        lengths = np.fromiter((len(d) for d in docs), dtype=np.float32, count=self.n_docs)
        self._norm = (k1 * (1 - b + b * lengths / max(float(lengths.mean()), 1e-9))).astype(np.float32)
        postings: dict = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self._postings = {
            t: (np.asarray(i, dtype=np.int64), np.asarray(f, dtype=np.float32)) for t, (i, f) in postings.items()
        }
        self.idf = {
            t: math.log(1 + (self.n_docs - len(i) + 0.5) / (len(i) + 0.5)) for t, (i, _) in self._postings.items()
        }

    def scores(self, query):
        from collections import Counter

        out = np.zeros(self.n_docs, dtype=np.float32)
        for term, qtf in Counter(query).items():
            if (posting := self._postings.get(term)) is not None:
                ids, tfs = posting
                out[ids] += qtf * self.idf[term] * tfs * (self.k1 + 1) / (tfs + self._norm[ids])
        return out

    def coverage(self, query):
        return 1.0


class _VectorLookup:
    """Stands in for the encoder: the synthetic queries come with their vectors."""

    model_id = "synthetic"

    def __init__(self):
        self.vectors: dict[str, np.ndarray] = {}

    def queries(self, texts):
        return np.vstack([self.vectors[t] for t in texts])


def _old_top(scores, depth):  # what Retriever.search did before top_positive
    order = np.argsort(-scores, kind="stable")[:depth]
    return [int(i) for i in order if scores[i] > 0]


def synthetic(n: int, queries: int, dim: int = 384) -> None:
    """The real Retriever.search over n synthetic passages: before (flat + postings BM25 + full sort) and
    after (HNSW + sparse-matrix BM25 + partial top-k), same run, plus one onnx-int8 query encode for scale.

    Vectors are clustered (2 000 topics + noise, like real embeddings) and each query lies near a passage;
    words follow a Zipf law over 30k terms. Uniform random vectors would be the worst case for any
    approximate index and unlike any text embedding.
    """
    from unittest import mock

    import bot.retrieval.search as S
    from bot.retrieval.bm25 import BM25
    from bot.retrieval.index import HNSW_EF_SEARCH, HNSW_M, make_vector_index
    from bot.retrieval.passages import Passage

    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(30_000)]
    zipf = 1 / np.arange(1, len(vocab) + 1) ** 1.1
    zipf /= zipf.sum()
    print(f"synthetic corpus: {n:,} passages, dim {dim}, 2k clusters, 30k-term Zipf vocabulary")
    centres = rng.standard_normal((2000, dim), dtype=np.float32)
    vecs = centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, dim), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    near = rng.integers(0, n, queries)
    qv = vecs[near] + 0.04 * rng.standard_normal((queries, dim), dtype=np.float32)
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    t = time.perf_counter()
    flat = make_vector_index(vecs, "flat")
    print(f"  FAISS flat build             {time.perf_counter() - t:7.2f} s")
    t = time.perf_counter()
    hnsw = make_vector_index(vecs, "hnsw", progress=True)
    print(f"  FAISS HNSW build (M={HNSW_M})      {time.perf_counter() - t:7.2f} s")
    # one call draws all tokens (rng.choice per document is slow at 100k)
    lengths = rng.integers(20, 60, n)
    words = np.asarray(vocab, dtype=object)[rng.choice(len(vocab), size=int(lengths.sum()), p=zipf)]
    cuts = np.cumsum(lengths)[:-1]
    docs = [list(d) for d in np.split(words, cuts)]
    t = time.perf_counter()
    old_bm = _PostingsBM25(docs)
    print(f"  BM25 build, postings (before) {time.perf_counter() - t:6.2f} s")
    t = time.perf_counter()
    new_bm = BM25(docs, progress=True)
    print(f"  BM25 build, sparse matrix     {time.perf_counter() - t:6.2f} s")
    passages = [Passage(id=f"p{i}", type="plan", title="", chapter="", text="", search_text="") for i in range(n)]
    lookup = _VectorLookup()
    head = zipf[:5000] / zipf[:5000].sum()
    qtexts = []
    for i in range(queries):
        q = " ".join(rng.choice(vocab[:5000], size=5, p=head)) + f" q{i}"
        lookup.vectors[q] = qv[i : i + 1]
        qtexts.append(q)
    analyzer = str.split
    before = S.Retriever(passages, flat, old_bm, analyzer, lookup)
    after = S.Retriever(passages, hnsw, new_bm, analyzer, lookup)
    for r in (before, after):
        for q in qtexts[:5]:
            r.search(q, k=10)  # warm-up (and the query vector cache)
    t_before, t_after, recall, same_bm25 = [], [], [], 0
    for q in qtexts:
        with mock.patch.object(S, "top_positive", _old_top):
            t = time.perf_counter()
            before.search(q, k=10)
            t_before.append(time.perf_counter() - t)
        t = time.perf_counter()
        after.search(q, k=10)
        t_after.append(time.perf_counter() - t)
        same_bm25 += [h.passage.id for h in before.search(q, k=10, mode="bm25").hits] == [
            h.passage.id for h in after.search(q, k=10, mode="bm25").hits
        ]
    exact = flat.search(qv, 10)[1]
    approx = hnsw.search(qv, 10)[1]
    recall = float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)]))
    line("hybrid search, before (flat + postings)", t_before)
    line("hybrid search, after (HNSW + sparse)", t_after)
    print(
        f"  HNSW recall@10 vs flat: {recall:.3f} (efSearch {HNSW_EF_SEARCH}); BM25 top-10 identical on {same_bm25}/{len(qtexts)} queries"
    )
    print(f"  after / before p50: {pct(t_after, 50) / pct(t_before, 50):.2f}")
    encode = _int8_encode_times()
    if encode:
        line("one query encode (onnx-int8), same run", encode)
        print(f"  hybrid search after / one onnx-int8 encode, p50: {pct(t_after, 50) / pct(encode, 50):.2f}")


def _int8_encode_times() -> list[float]:
    import bot.embedding as emb
    from bot.retrieval.evaluate import load_dev_set
    from bot.settings import get_settings

    s = get_settings().model_copy(update={"embedding_backend": "onnx-int8"})
    try:
        emb.load_onnx_encoder(s)
    except emb.EmbeddingError as e:
        print(f"  (no onnx-int8 encoder for the comparison: {e})")
        return []
    questions = [q.q for q in load_dev_set()]
    emb.encode_queries(questions[:3], settings=s)
    out = []
    for q in questions:
        t = time.perf_counter()
        emb.encode_queries([q], settings=s)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-real", action="store_true")
    args = ap.parse_args()
    faiss.omp_set_num_threads(2)
    print(
        "load average at start: %.1f %.1f %.1f (the machine is shared: compare rows of one run)"
        % __import__("os").getloadavg()
    )
    if not args.skip_real:
        real_kb(args.repeats)
    synthetic(args.n, args.queries)


if __name__ == "__main__":
    main()
