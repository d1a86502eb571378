"""The sparse-matrix BM25 must score and rank exactly like the postings implementation it replaced."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from bot.kb.loader import load_kb
from bot.kb.terms import tokenizer
from bot.retrieval import evaluate as E
from bot.retrieval.bm25 import BM25, expand_query, make_analyzer, top_positive
from bot.retrieval.passages import build_passages
from bot.settings import get_settings


class PostingsBM25:
    """The previous implementation (bot/retrieval/bm25.py before the sparse matrix), kept as the oracle."""

    def __init__(self, docs, k1=1.2, b=0.75):
        self.k1, self.b = k1, b
        self.n_docs = len(docs)
        lengths = np.fromiter((len(d) for d in docs), dtype=np.float32, count=self.n_docs)
        avg = float(lengths.mean()) if self.n_docs else 1.0
        self._norm = (k1 * (1 - b + b * lengths / max(avg, 1e-9))).astype(np.float32)
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
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term, qtf in Counter(query).items():
            posting = self._postings.get(term)
            if posting is None:
                continue
            ids, tfs = posting
            out[ids] += qtf * self.idf[term] * tfs * (self.k1 + 1) / (tfs + self._norm[ids])
        return out


def _old_order(scores, depth):
    order = np.argsort(-scores, kind="stable")[:depth]
    return [int(i) for i in order if scores[i] > 0]


@pytest.fixture(scope="module")
def real_kb():
    settings = get_settings()
    kb = load_kb(settings.kb_dir)
    analyze = make_analyzer(tokenizer(kb.kb_dir).lcut_for_search)
    docs = [
        analyze(p.sparse_text or p.search_text) for p in build_passages(kb, window=settings.retrieval_sentence_window)
    ]
    return analyze, docs


@pytest.mark.parametrize("set_name", ["dev", "heldout"])
def test_same_scores_and_top_k_on_the_real_kb(real_kb, set_name):
    analyze, docs = real_kb
    new, old = BM25(docs), PostingsBM25(docs)
    assert new.idf.keys() == old.idf.keys()
    assert all(math.isclose(new.idf[t], old.idf[t], rel_tol=1e-12) for t in old.idf)
    checked = 0
    for q in E.load_set(set_name):
        terms = expand_query(analyze(q.q))
        s_new, s_old = new.scores(terms), old.scores(terms)
        # the gate uses the absolute scores: equal up to float32 summation order (a term's contributions are
        # added in another order by the sparse product than by the postings loop)
        np.testing.assert_allclose(s_new, s_old, rtol=1e-6, atol=1e-5)
        for depth in (3, 10, 50):
            assert top_positive(s_new, depth) == _old_order(s_old, depth), q.q
        checked += bool(s_old.max() > 0)
    assert checked > 50  # the questions really hit the corpus


def test_same_top_k_on_a_synthetic_corpus_with_repeated_terms():
    rng = np.random.default_rng(7)
    vocab = np.array([f"w{i}" for i in range(3000)])  # an array once, not a list converted by every choice()
    p = 1 / np.arange(1, len(vocab) + 1) ** 1.1
    p /= p.sum()
    docs = [list(rng.choice(vocab, size=int(rng.integers(0, 60)), p=p)) for _ in range(5000)]
    new, old = BM25(docs), PostingsBM25(docs)
    for _ in range(100):
        query = list(rng.choice(vocab[:500], size=int(rng.integers(1, 8)))) + ["w1", "w1", "unknown"]
        s_new, s_old = new.scores(query), old.scores(query)
        np.testing.assert_allclose(s_new, s_old, rtol=1e-6)
        assert top_positive(s_new, 50) == _old_order(s_old, 50)


def test_top_positive_breaks_ties_by_index_and_drops_zeros():
    s = np.array([0, 2, 5, 2, 0, 5, 2, 1, 2], dtype=np.float32)
    assert top_positive(s, 3) == [2, 5, 1]
    assert top_positive(s, 4) == [2, 5, 1, 3]
    assert top_positive(s, 100) == [2, 5, 1, 3, 6, 8, 7]
    assert top_positive(np.zeros(5, dtype=np.float32), 3) == []
    for seed in range(20):
        r = np.random.default_rng(seed).integers(0, 4, 300).astype(np.float32)
        for k in (1, 7, 50, 299, 400):
            assert top_positive(r, k) == _old_order(r, k)


def test_empty_corpus_and_empty_documents():
    bm = BM25([])
    assert bm.scores(["医保"]).shape == (0,) and bm.coverage(["医保"]) == 0.0
    bm = BM25([[], ["医保", "缴费"], []])
    np.testing.assert_array_equal(bm.scores(["医保"]), PostingsBM25([[], ["医保", "缴费"], []]).scores(["医保"]))
    assert bm.vocabulary == {"医保", "缴费"}
