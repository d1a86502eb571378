"""Retrieval quality gate on the dev set, BM25, index persistence, and the ask CLI (real model, real KB)."""

import json
import shutil
import subprocess
import sys

import pytest

from bot.retrieval import get_assistant
from bot.retrieval.assistant import Assistant
from bot.retrieval.bm25 import BM25, make_analyzer
from bot.retrieval.evaluate import load_dev_set, retrieval_table
from bot.retrieval.index import META_FILE, INDEX_FILE, index_dir
from bot.kb.terms import tokenizer
from bot.settings import REPO_ROOT, Settings, get_settings


@pytest.fixture(scope="module")
def assistant():
    return get_assistant()


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
    embedder = assistant.retriever.embedder
    first = Assistant.build(settings, embedder=embedder, progress=False)
    assert first.index_meta["rebuilt"] is True
    meta_path = index_dir(settings.cache_dir) / META_FILE
    stamp = (meta_path.stat().st_mtime_ns, (index_dir(settings.cache_dir) / INDEX_FILE).stat().st_mtime_ns)
    second = Assistant.build(settings, embedder=embedder, progress=False)
    assert second.index_meta["rebuilt"] is False
    assert (meta_path.stat().st_mtime_ns, (index_dir(settings.cache_dir) / INDEX_FILE).stat().st_mtime_ns) == stamp
    assert second.ask("在社区能办医保吗").to_dict() == first.ask("在社区能办医保吗").to_dict()
    with open(kb_copy / "services.yml", "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    third = Assistant.build(settings, embedder=embedder, progress=False)
    assert third.index_meta["rebuilt"] is True and third.index_meta["fingerprint"] != first.index_meta["fingerprint"]
    assert json.loads(meta_path.read_text(encoding="utf-8"))["fingerprint"] == third.kb.fingerprint


def _bot(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)


def test_cli_ask_json_medical_insurance():
    run = _bot("ask", "--json", "在社区能办医保吗")
    assert run.returncode == 0, run.stderr[-2000:]
    d = json.loads(run.stdout)
    assert any(s["type"] == "plan" and s["id"].startswith("plan-7-") and "医保经办" in s["text"] for s in d["sources"])
    assert "市医保局" in d["agencies"] and "市医保局" in d["answer"]


def test_cli_batch_mode_survives_bad_lines():
    lines = ["在社区能办医保吗", "", "   ", "？？？", "x" * 10_000, "今天天气怎么样", "'; DROP TABLE x; --<b>", "社工师指标是多少"]
    run = _bot("ask", "--json", "-", stdin="\n".join(lines) + "\n")
    assert run.returncode == 0 and "Traceback" not in run.stderr
    out = [json.loads(x) for x in run.stdout.splitlines()]
    assert len(out) == len(lines)
    assert out[0]["kind"] == "service" and out[-1]["kind"] == "indicator"
    assert all("error" in out[i] for i in (1, 2, 3, 4))
    assert out[5]["kind"] == "out_of_scope" and "kind" in out[6]
