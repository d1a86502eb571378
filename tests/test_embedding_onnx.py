"""The ONNX Runtime backends (fp32 and dynamic int8) must encode like the torch model and rank as well."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import bot.embedding as emb
from bot.embedding import onnx_export
from bot.embedding.onnx_encoder import available_cores
from bot.retrieval import evaluate as E
from bot.settings import REPO_ROOT, Settings, get_settings
from tests.vector_cache import CachedEmbedder

PLAN = (REPO_ROOT / "knowledge_base" / "plan_excerpt.txt").read_text("utf-8")
LONG_TEXT = PLAN[:2500]  # about 1 600 tokens: truncated to 512
HOSTILE = [
    "孩子3岁了😀👍🏽，附近有普惠托育机构吗？🍼",
    "９:00～17:00 办理 ＡＢＣ 业务，全角字符",
    "\t多个   空格\n换行\r\n以及控制\x07字符\u200b零宽",
    "'; DROP TABLE consultations; -- <script>alert('x')</script>",
    "How can my grandmother apply for home-based elderly care?",
    "x",
    "",
]
DEV_QUESTIONS = [q.q for q in E.load_set("dev")]


def _settings(backend: str, **kw) -> Settings:
    return get_settings().model_copy(update={"embedding_backend": backend, **kw})


def _cos(a, b):
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def exported() -> dict:
    """Export once into the real cache (reused by later runs, the bench and the app)."""
    return emb.ensure_exported(_settings("onnx-int8"))


@pytest.fixture(scope="module")
def torch_reference():
    """The torch encoder as the reference the ONNX backends are compared with; its vectors are kept on disk by
    model id and text (:mod:`tests.vector_cache`), so torch is loaded only when a text is new."""
    return CachedEmbedder(settings=_settings("torch"))


@pytest.fixture(scope="module")
def torch_vectors(torch_reference):
    texts = DEV_QUESTIONS[:12] + HOSTILE + [LONG_TEXT]
    return texts, torch_reference.queries(texts), torch_reference.passages(texts)


@pytest.mark.parametrize("backend, floor", [("onnx", 0.9999), ("onnx-int8", 0.98)])
def test_onnx_vectors_close_to_torch(exported, torch_vectors, backend, floor):
    texts, tq, tp = torch_vectors
    s = _settings(backend)
    # one text per batch: the 512-token text pads no other text to 512 tokens (in a batch of 4 it quadrupled the
    # encoding work); what padding and batching do is the next test's subject
    q, p = emb.encode_queries(texts, settings=s, batch_size=1), emb.encode_passages(texts, settings=s, batch_size=1)
    assert q.shape == tq.shape and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    cq, cp = _cos(q, tq), _cos(p, tp)
    assert cq.min() >= floor, dict(zip(texts, cq.round(4)))
    assert cp.min() >= floor, dict(zip(texts, cp.round(4)))
    # and the prompts are applied: the same text as query and as passage differs
    assert _cos(q[0], p[0])[0] < 0.999


@pytest.mark.parametrize("backend, floor", [("onnx", 0.9999), ("onnx-int8", 0.99)])
def test_onnx_batching_and_truncation_do_not_change_vectors(exported, backend, floor):
    s = _settings(backend)
    # the longest text (~150 tokens) pads the seven short ones to several times their length: enough to show the
    # padding is masked out (padding them to 512 tokens showed the same at 4x the work; truncation is below)
    texts = DEV_QUESTIONS[:6] + ["短", PLAN[:240]]
    batch = emb.encode_queries(texts, settings=s)
    single = np.vstack([emb.encode_queries([t], settings=s) for t in texts])
    assert max(map(len, texts[:7])) * 3 < len(texts[7])
    # padding to the longest text is masked out; int8 differs a little because dynamic quantisation
    # takes one activation scale per batch
    assert _cos(batch, single).min() > floor
    two = emb.encode_passages([LONG_TEXT, LONG_TEXT + "后面追加的内容不会改变结果。"], settings=s)
    assert _cos(two[0], two[1])[0] > 0.99999  # only the first 512 tokens count
    assert emb.encode_queries([], settings=s).shape == (0, 384)
    # degenerate texts stay finite: the two long ones (truncated to 512 tokens) share a batch, the empty ones another
    assert np.isfinite(emb.encode_passages(["", "   ", "🙂" * 600, "x" * 10_000], settings=s, batch_size=2)).all()


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["ok", 3]])
def test_onnx_backend_rejects_wrong_types(exported, bad):
    with pytest.raises(TypeError):
        emb.encode_queries(bad, settings=_settings("onnx-int8"))


def test_backends_have_their_own_model_ids_and_encoders_are_cached(exported):
    ids = {b: emb.model_id(_settings(b)) for b in emb.BACKENDS}
    assert len(set(ids.values())) == 3
    assert ids["torch"] == emb.model_id(get_settings().model_copy(update={"embedding_backend": "torch"}))
    assert ids["onnx-int8"].startswith(ids["torch"])  # same weights hash, backend suffix
    assert emb.load_onnx_encoder(_settings("onnx-int8")) is emb.load_onnx_encoder(_settings("onnx-int8"))
    assert emb.load_onnx_encoder(_settings("onnx")) is not emb.load_onnx_encoder(_settings("onnx-int8"))


def test_the_thread_setting_sizes_the_session_and_keeps_the_vectors(exported):
    one = emb.load_onnx_encoder(_settings("onnx-int8", embedding_threads=1))
    default = emb.load_onnx_encoder(_settings("onnx-int8", embedding_threads=0))  # 0: one per core
    assert one is not default  # cached per setting
    assert one.session.get_session_options().intra_op_num_threads == 1
    assert default.session.get_session_options().intra_op_num_threads == available_cores()
    texts = DEV_QUESTIONS[:4]
    assert np.allclose(one.encode(texts, "query"), default.encode(texts, "query"), atol=1e-5)


def test_export_is_a_noop_when_the_marker_matches(exported):
    folder = emb.onnx_model_dir(_settings("onnx-int8"))
    before = (folder / onnx_export.INT8_FILE).stat().st_mtime_ns
    result = onnx_export.export(emb.converted_model_dir(), folder, exported["source_model_id"])
    assert not result.exported
    assert (folder / onnx_export.INT8_FILE).stat().st_mtime_ns == before
    assert onnx_export.up_to_date(folder, "some-other-weights@0000") is None  # new weights: export again


def test_export_refuses_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(onnx_export.ExportError, match="not a converted model folder"):
        onnx_export.export(tmp_path, tmp_path / "out", "x")
    assert not (tmp_path / "out").exists()


#: one fresh process serves a question with the default backend (fp32 ONNX), then with onnx-int8, and reports
#: each: backend, model id, resident MB, which of torch/transformers/sentence-transformers it had imported
_SERVE = """
import json, os, sys
import bot.embedding as e
from bot.settings import get_settings

def report():
    v = e.encode_queries(["在社区能办医保吗"])
    assert v.shape == (1, 384), v.shape
    rss = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:")][0] // 1024
    heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
    print(json.dumps([get_settings().embedding_backend, e.model_id(), rss, heavy]), flush=True)

report()
os.environ["LINLI_EMBEDDING_BACKEND"] = "onnx-int8"
get_settings.cache_clear()
report()
"""


@pytest.fixture(scope="module")
def served(exported) -> list[list]:
    """What :data:`_SERVE` reports, from a process with no LINLI_* settings (the defaults)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    out = subprocess.run(
        [sys.executable, "-c", _SERVE], cwd=REPO_ROOT, env=env, check=True, capture_output=True, text=True, timeout=300
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_serving_with_onnx_needs_no_torch(served):
    """The point of the backend: a process answering with onnx-int8 never imports torch or transformers."""
    backend, model, _, imported = served[1]
    assert backend == "onnx-int8" and model.endswith("+onnx-int8") and imported == []


@pytest.fixture(scope="module")
def assistants(exported):
    """fp32 ONNX (the default, standing for torch: its vectors equal torch's within cosine 0.9999,
    ``test_onnx_vectors_close_to_torch``) and onnx-int8 assistants on the real cache (each backend keeps its own index
    folder). Not torch itself: building its index encodes the whole knowledge base with torch, minutes of CPU in a
    fresh clone, for vectors the fp32 graph already reproduces."""
    from bot.retrieval.assistant import Assistant

    return (
        Assistant.build(_settings("onnx"), progress=False),
        Assistant.build(_settings("onnx-int8"), progress=False),
    )


@pytest.mark.parametrize("set_name", ["dev", "heldout"])
def test_onnx_int8_ranks_expected_passages_as_well_as_fp32(assistants, set_name):
    torch_a, onnx_a = assistants  # torch_a: the fp32 graph, torch's vectors (see the fixture)
    assert onnx_a.index_meta["model_id"].endswith("+onnx-int8")
    assert torch_a.index_meta["model_id"] == emb.model_id(_settings("onnx"))
    questions = E.load_set(set_name)
    t, o = E.retrieval_table(torch_a, questions), E.retrieval_table(onnx_a, questions)
    for mode in ("dense", "hybrid"):
        for metric in ("hit@3", "mrr"):
            # at most two questions' worth of difference: the int8 vectors are not identical, and the stated loss
            # (README: int8 loses 2 of 98 dev first places) is why fp32 ONNX, not int8, is the default
            slack = 2.0 / t[mode]["all"]["n"] + 1e-9
            assert o[mode]["all"][metric] >= t[mode]["all"][metric] - slack, (
                mode,
                metric,
                t[mode]["all"],
                o[mode]["all"],
            )
    assert o["bm25"] == t["bm25"]  # the sparse side does not depend on the encoder


def test_default_backend_serves_fp32_onnx_without_torch_and_maps_its_weights(exported, served):
    """The default (no LINLI_EMBEDDING_BACKEND) is ONNX fp32: no torch import, weights in one external file.

    External data is what ONNX Runtime memory-maps: the 384 MB embedding table stays on disk except for the
    rows a query touches, and every process serving from the file shares those pages."""
    import onnx

    assert Settings.model_fields["embedding_backend"].default == "onnx"
    folder = emb.onnx_model_dir(_settings("onnx"))
    graph = onnx.load(str(folder / onnx_export.FP32_FILE), load_external_data=False)
    big = [t for t in graph.graph.initializer if np.prod(t.dims) * 4 > 1024]
    assert big and all(t.data_location == onnx.TensorProto.EXTERNAL for t in big)
    assert (folder / onnx_export.FP32_FILE).stat().st_size < 5_000_000  # the graph alone; weights in the data file
    assert (folder / onnx_export.FP32_DATA_FILE).stat().st_size > 400_000_000
    assert exported["fp32_data_sha256"] == onnx_export._sha256(folder / onnx_export.FP32_DATA_FILE)
    backend, model, rss, imported = served[0]  # the first question, before the int8 encoder was loaded
    assert (backend, model.endswith("+onnx"), imported) == ("onnx", True, [])
    assert rss < 600, f"{rss} MB resident for one fp32 encoder: are the weights copied instead of mapped?"


def test_releasing_the_weight_pages_keeps_the_vectors(exported):
    """The clean mapped pages of the fp32 weights are unmapped (bot/embedding/pages.py); reads fault them back."""
    from bot.embedding.onnx_encoder import RELEASE_EVERY, OnnxEncoder
    from bot.embedding.pages import mapped_ranges

    folder = emb.onnx_model_dir(_settings("onnx"))
    data = folder / onnx_export.FP32_DATA_FILE
    # the process's fp32 encoder (the one serving uses; the tests above loaded it): building one more for this
    # test cost ~1.5 s of CPU. Both encoders here run with its thread count, so their vectors compare exactly.
    enc = emb.load_onnx_encoder(_settings("onnx"))
    assert isinstance(enc, OnnxEncoder) and not enc.quantized and enc.folder == folder
    threads = enc.session.get_session_options().intra_op_num_threads
    texts = DEV_QUESTIONS[:40] + HOSTILE
    enc._since_release = 0  # what earlier tests encoded must not make this encode cross RELEASE_EVERY and release
    first = enc.encode(texts, "query")
    resident = sum(r[2] for r in mapped_ranges(data))
    assert resident > 0 and all(r[3] for r in mapped_ranges(data))  # mapped, and never written to
    assert enc.release_weight_pages() >= resident // 2
    assert sum(r[2] for r in mapped_ranges(data)) < resident // 2
    np.testing.assert_array_equal(enc.encode(texts, "query"), first)
    # bulk encodes release by themselves once RELEASE_EVERY texts were encoded since the last release (counted up
    # to one short of it here rather than encoding 256 texts); an encoder told not to keeps its pages
    enc._since_release = RELEASE_EVERY - 2
    enc.encode(DEV_QUESTIONS[:1], "query")
    assert enc._since_release == RELEASE_EVERY - 1 and sum(r[2] for r in mapped_ranges(data)) > 0
    enc.encode(DEV_QUESTIONS[:1], "query")
    assert enc._since_release == 0
    keep = OnnxEncoder(folder, quantized=False, threads=threads, release_pages=False)
    assert keep.release_weight_pages() == 0
    np.testing.assert_array_equal(keep.encode(texts, "query"), first)
