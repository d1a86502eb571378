"""Retrieval quality gate on the dev set, BM25, index persistence, and the ask CLI (real model, real KB)."""

import io
import json
import shutil
import subprocess
import sys

import pytest

from bot.kb.terms import tokenizer
from bot.retrieval.assistant import Assistant
from bot.retrieval.bm25 import BM25, make_analyzer
from bot.retrieval.evaluate import load_dev_set, retrieval_table
from bot.retrieval.index import INDEX_FILE, META_FILE, backend_index_dir, index_dir
from bot.settings import REPO_ROOT, Settings, get_settings
from tests.vector_cache import CachedEmbedder


def test_dev_set_is_big_and_colloquial():
    qs = load_dev_set()
    assert len(qs) >= 90
    assert sum(q.kind == "out_of_scope" for q in qs) >= 10
    plan_text = (REPO_ROOT / "knowledge_base" / "plan_excerpt.txt").read_text(encoding="utf-8")
    assert not [q.q for q in qs if len(q.q) >= 12 and q.q in plan_text]  # not copied from the plan


def test_hybrid_gate_on_dev_set(assistant):
    table = retrieval_table(assistant, load_dev_set())
    hybrid, dense, bm25 = table["hybrid"]["all"], table["dense"]["all"], table["bm25"]["all"]
    assert hybrid["hit@3"] >= 0.9
    assert hybrid["mrr"] > dense["mrr"] and hybrid["mrr"] > bm25["mrr"]


def test_bm25_ranks_and_ignores_punctuation():
    analyze = make_analyzer(tokenizer(get_settings().kb_dir).lcut_for_search)
    docs = ["社区医保服务点办理医保缴费", "普惠托育机构照护婴幼儿", "社区健身器材更新"]
    bm = BM25([analyze(d) for d in docs])
    scores = bm.scores(analyze("医保在哪里缴费？？"))
    assert scores.argmax() == 0 and scores[1] == 0 and scores[2] == 0
    assert analyze("，。！？ 的 吗") == []
    assert bm.coverage(analyze("天气预报")) == 0.0 and bm.coverage(analyze("医保缴费")) == 1.0


def test_index_is_reused_and_rebuilt_on_kb_change(assistant, tmp_path):
    kb_copy = tmp_path / "kb"
    shutil.copytree(get_settings().kb_dir, kb_copy)
    settings = Settings(kb_dir=kb_copy, cache_dir=tmp_path / "cache")
    embedder = CachedEmbedder(assistant.retriever.embedder)  # unchanged passages are not encoded twice
    first = Assistant.build(settings, embedder=embedder, progress=False)
    assert first.index_meta["rebuilt"] is True
    folder = backend_index_dir(index_dir(settings.cache_dir), embedder.backend)  # each backend keeps its own index
    meta_path = folder / META_FILE
    stamp = (meta_path.stat().st_mtime_ns, (folder / INDEX_FILE).stat().st_mtime_ns)
    second = Assistant.build(settings, embedder=embedder, progress=False)
    assert second.index_meta["rebuilt"] is False
    assert (meta_path.stat().st_mtime_ns, (folder / INDEX_FILE).stat().st_mtime_ns) == stamp
    assert second.ask("在社区能办医保吗").to_dict() == first.ask("在社区能办医保吗").to_dict()
    with open(kb_copy / "services.yml", "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    third = Assistant.build(settings, embedder=embedder, progress=False)
    assert third.index_meta["rebuilt"] is True and third.index_meta["fingerprint"] != first.index_meta["fingerprint"]
    assert json.loads(meta_path.read_text(encoding="utf-8"))["fingerprint"] == third.kb.fingerprint


def _bot(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600
    )


def test_cli_ask_json_medical_insurance():
    run = _bot("ask", "--json", "在社区能办医保吗")
    assert run.returncode == 0, run.stderr[-2000:]
    d = json.loads(run.stdout)
    assert any(s["type"] == "plan" and s["id"].startswith("plan-7-") and "医保经办" in s["text"] for s in d["sources"])
    assert "市医保局" in d["agencies"]  # the short first reply leaves the agency to the 哪个部门 button
    assert d["answer"].count("来源：") == 1 and len(d["answer"]) <= 120


def test_cli_batch_mode_survives_bad_lines(monkeypatch, capsys):
    """In this process through the command's entry point (the real process: test_cli_ask_json_medical_insurance)."""
    from bot.cli import main

    lines = [
        "在社区能办医保吗",
        "",
        "   ",
        "？？？",
        "x" * 10_000,
        "今天天气怎么样",
        "'; DROP TABLE x; --<b>",
        "社工师指标是多少",
    ]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(("\n".join(lines) + "\n").encode())))
    assert main(["ask", "--json", "-"]) == 0
    run = capsys.readouterr()
    assert "Traceback" not in run.err
    out = [json.loads(x) for x in run.out.splitlines()]
    assert len(out) == len(lines)
    assert out[0]["kind"] == "service" and out[-1]["kind"] == "indicator"
    assert all("error" in out[i] for i in (1, 2, 3, 4))
    assert out[5]["kind"] == "out_of_scope" and "kind" in out[6]


# ---- generalisation: the held-out set (written before tuning, never tuned on) -------------------------


def test_heldout_set_is_new_and_broad():
    from bot.retrieval.evaluate import load_set

    held, dev = load_set("heldout"), load_set("dev")
    assert not {q.q for q in held} & {q.q for q in dev}
    assert sum(q.kind != "out_of_scope" for q in held) >= 60 and sum(q.kind == "out_of_scope" for q in held) >= 25
    assert {"fragment", "typo", "dialect", "long", "agency", "indicator", "clause"} <= {q.style for q in held}


def test_heldout_gate(assistant):
    """Gates chosen below what was measured (hit@3 1.00, OOS recall 0.94, false refusals 0.01) to allow noise."""
    from bot.retrieval.evaluate import answer_checks, load_set

    held = load_set("heldout")
    table = retrieval_table(assistant, held)
    assert table["hybrid"]["all"]["hit@3"] >= 0.9
    stats = answer_checks(assistant, held)["stats"]
    assert stats["oos_recall"][0] >= 0.85
    assert stats["oos_false_alarm"][0] <= 0.05
    assert stats["kind"][0] >= 0.9


def test_gate_compares_with_offtopic_anchors(assistant):
    """The gate is relative: the same KB cosine is refused when an off-topic anchor is closer."""
    from bot.retrieval.gate import load_anchors

    anchors = load_anchors()
    assert len(anchors) >= 30 and not [a for a in anchors if a in {q.q for q in load_dev_set()}]
    res = assistant.search("在社区能办医保吗", k=5)
    inside = assistant.scope("在社区能办医保吗", res)
    assert inside.score >= assistant.gate.params.threshold and inside.kb_cosine > inside.offtopic_cosine
    assert "医保" in "".join(inside.domain_terms) and inside.sparse_top > 0
    anchor = anchors[0]
    res = assistant.search(anchor, k=5)
    outside = assistant.scope(anchor, res)
    assert outside.offtopic_cosine > 0.99 and not assistant.gate.in_scope(outside)
    assert assistant.ask(anchor).kind == "out_of_scope"


def test_embedder_uses_its_own_settings(assistant, tmp_path):
    """EmbeddingAdapter.queries/passages must encode with the adapter's settings, not the global ones."""
    from bot.retrieval.embedder import EmbeddingAdapter

    adapter = EmbeddingAdapter(get_settings())
    assert adapter.queries(["医保"]).shape == (1, assistant.retriever.faiss_index.d)
    adapter._settings = Settings(embedding_model="no-such-org/no-such-model-xyz", cache_dir=tmp_path)
    with pytest.raises(Exception):
        adapter.queries(["医保"])
    with pytest.raises(Exception):
        adapter.passages(["医保"])
