"""tests/vector_cache.py: cached vectors are the ones the wrapped embedder gave, per model and kind, in order."""

from __future__ import annotations

import numpy as np

from tests.vector_cache import CachedEmbedder


class _Counting:
    """A deterministic stand-in encoder that counts the texts it was asked for."""

    backend = "onnx"

    def __init__(self, model_id="m@1"):
        self.model_id, self.calls = model_id, []

    def _vec(self, texts, salt):
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, salt] for t in texts], dtype=np.float32).reshape(-1, 3)

    def queries(self, texts):
        return self._vec(texts, 1.0)

    def passages(self, texts, progress=False):
        return self._vec(texts, 2.0)


def test_only_new_texts_are_encoded_and_order_is_kept(tmp_path):
    inner = _Counting()
    first = CachedEmbedder(inner, tmp_path).passages(["甲", "乙乙", "丙"])
    again = CachedEmbedder(inner, tmp_path)  # another process would see the same files
    out = again.passages(["丙", "丁", "甲"])
    assert inner.calls == [["甲", "乙乙", "丙"], ["丁"]] and again.encoded == 1
    np.testing.assert_array_equal(out, np.stack([first[2], inner.passages(["丁"])[0], first[0]]))
    assert out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]


def test_kind_and_model_are_part_of_the_key(tmp_path):
    inner = _Counting()
    cached = CachedEmbedder(inner, tmp_path)
    q, p = cached.queries(["托育"]), cached.passages(["托育"])
    assert q[0, 2] == 1.0 and p[0, 2] == 2.0
    other = _Counting("m@2")
    CachedEmbedder(other, tmp_path).queries(["托育"])
    assert other.calls == [["托育"]]  # new weights: encoded again, not served from m@1's vectors


def test_a_damaged_file_is_encoded_again(tmp_path):
    inner = _Counting()
    CachedEmbedder(inner, tmp_path).queries(["医保"])
    for f in tmp_path.rglob("*.npy"):
        f.write_bytes(b"")
    again = CachedEmbedder(inner, tmp_path)
    assert again.queries(["医保"]).shape == (1, 3) and again.encoded == 1


def test_queries_the_product_keeps_are_served_from_its_file(tmp_path):
    from bot.retrieval.embedder import cached_queries

    product = _Counting()
    kept = cached_queries(product, ["托育", "医保"], tmp_path / "index-onnx")  # as setup's warm step leaves it
    inner = _Counting()
    cached = CachedEmbedder(inner, tmp_path / "test-vectors", seeds=tmp_path)
    out = cached.queries(["医保", "社工站"])
    assert inner.calls == [["社工站"]] and cached.encoded == 1
    np.testing.assert_array_equal(out[0], kept[1])
    other = CachedEmbedder(_Counting("m@2"), tmp_path / "other", seeds=tmp_path)
    other.queries(["医保"])
    assert other.encoded == 1  # another model's vectors are never taken
    assert CachedEmbedder(inner, tmp_path / "t2", seeds=tmp_path).passages(["医保"]).shape == (1, 3)
    assert inner.calls[-1] == ["医保"]  # passages are encoded: the product keeps query vectors only
