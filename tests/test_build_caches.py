"""What ``Assistant.build`` keeps between processes: parsed data files (bot.kb.yamlload.load_file), the query vectors
of fixed texts (bot.retrieval.embedder.cached_queries) and the scope probe's fit (bot.retrieval.probe). Each must give
what computing afresh gives, and recompute when its input changes."""

from __future__ import annotations

import numpy as np

from bot.kb.yamlload import load_file
from bot.retrieval.embedder import cached_queries
from bot.retrieval.probe import Example, ScopeProbe


def test_a_parsed_file_is_reused_for_the_same_bytes_and_reparsed_when_they_change(tmp_path):
    data, cache = tmp_path / "d.yml", tmp_path / "parsed"
    data.write_text("- text: 社区有老年食堂吗\n  scope: in\n", encoding="utf-8")
    assert load_file(data, cache) == [{"text": "社区有老年食堂吗", "scope": "in"}]
    (kept,) = cache.iterdir()
    kept.write_text('[{"text": "kept copy"}]', encoding="utf-8")  # proves the second read comes from the cache
    assert load_file(data, cache) == [{"text": "kept copy"}]
    data.write_text("- text: 改了\n", encoding="utf-8")
    assert load_file(data, cache) == [{"text": "改了"}]


def test_values_json_cannot_hold_are_never_kept(tmp_path):
    data, cache = tmp_path / "d.yml", tmp_path / "parsed"
    data.write_text("when: 2026-12-03\n1: one\n", encoding="utf-8")
    first = load_file(data, cache)
    assert str(first["when"]) == "2026-12-03" and first[1] == "one"
    assert not cache.exists() or not any(cache.iterdir())


def test_a_read_only_cache_still_parses(tmp_path):
    data = tmp_path / "d.yml"
    data.write_text("a: 1\n", encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")  # a file where the cache folder should be: nothing can be written
    assert load_file(data, blocker / "parsed") == {"a": 1}


class _Counting:
    model_id = "m@1"

    def __init__(self):
        self.calls: list[list[str]] = []

    def queries(self, texts):
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


def test_fixed_texts_are_encoded_once_per_model(tmp_path):
    enc = _Counting()
    first = cached_queries(enc, ["甲", "乙乙"], tmp_path)
    again = cached_queries(enc, ["乙乙", "丙", "甲"], tmp_path)
    assert enc.calls == [["乙乙", "甲"], ["丙"]]  # the second call encodes only the new text
    np.testing.assert_array_equal(again[[0, 2]], first[[1, 0]])
    enc.model_id = "m@2"
    cached_queries(enc, ["甲"], tmp_path)
    assert enc.calls[-1] == ["甲"]  # another model: encoded again
    assert cached_queries(enc, [], tmp_path).shape[0] == 0


def test_the_probe_fit_kept_on_disk_is_the_fit_computed_afresh(tmp_path):
    rng = np.random.default_rng(3)
    vectors = np.vstack([rng.normal(-1, 0.4, (30, 4)), rng.normal(1, 0.4, (30, 4))]).astype(np.float32)
    examples = [Example(f"q{i}", i >= 30) for i in range(60)]
    fresh = ScopeProbe.train(vectors, examples, l2=1.0)
    kept = ScopeProbe.train(vectors, examples, l2=1.0, cache_dir=tmp_path)
    reused = ScopeProbe.train(vectors, examples, l2=1.0, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("scope-probe-fit-*.npz"))) == 1
    for probe in (kept, reused):
        np.testing.assert_allclose(probe.weights, fresh.weights)
        assert probe.bias == fresh.bias
    flipped = [Example(e.text, not e.out) for e in examples]  # new labels: a new fit, a second file
    other = ScopeProbe.train(vectors, flipped, l2=1.0, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("scope-probe-fit-*.npz"))) == 2
    assert np.sign(other.weights[0]) == -np.sign(fresh.weights[0])
