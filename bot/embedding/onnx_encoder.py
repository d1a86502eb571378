"""Sentence embeddings with ONNX Runtime: the exported e5 transformer plus sentence-transformers' own pre/post steps.

Why: the serving process then needs neither torch nor transformers (less memory, faster start), and the
int8 graph encodes a query in about half the time. The steps mirror what sentence-transformers does with
the same folder: the tokenizer (:mod:`bot.embedding.unigram`: ``tokenizers``' ids in a quarter of its memory)
with the saved prompt prepended, truncation to 512 tokens, padding to the longest text of the batch, mean pooling over the attention mask, L2 normalisation.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from bot.embedding.onnx_export import FP32_DATA_FILE, FP32_FILE, INT8_FILE
from bot.embedding.pages import release_mapped_pages
from bot.embedding.unigram import UnigramTokenizer, UnsupportedTokenizer

log = logging.getLogger(__name__)

MAX_SEQ_LENGTH = 512
#: After this many encoded texts the weight pages they touched are unmapped again (bot/embedding/pages.py).
RELEASE_EVERY = 256
_DEFAULT_PROMPTS = {"query": "query: ", "passage": "passage: "}


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class _TokenizersIds:
    """``tokenizers.Tokenizer`` behind the same two calls as :class:`UnigramTokenizer` (the fallback)."""

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=MAX_SEQ_LENGTH)

    def token_to_id(self, piece: str) -> int | None:
        return self._tok.token_to_id(piece)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(texts)]


def load_tokenizer(path: Path, kind: str = "small"):
    """The small-memory port when it reproduces this ``tokenizer.json`` (and ``kind`` asks for it), else ``tokenizers``."""
    if kind == "small":
        try:
            return UnigramTokenizer(path, max_length=MAX_SEQ_LENGTH)
        except UnsupportedTokenizer as e:
            log.info("tokenizer.json not covered by the small tokenizer (%s): using tokenizers", e)
    return _TokenizersIds(path)


class OnnxEncoder:
    """One InferenceSession over an exported folder; thread-safe (ONNX Runtime's ``run`` is)."""

    def __init__(
        self,
        folder: Path | str,
        *,
        quantized: bool,
        threads: int | None = None,
        tokenizer: str = "small",
        release_pages: bool = True,
    ):
        import onnxruntime as ort

        folder = Path(folder)
        self.folder = folder
        self.quantized = quantized
        self.tokenizer = load_tokenizer(folder / "tokenizer.json", tokenizer)
        self.pad_id = self.tokenizer.token_to_id("<pad>")
        if self.pad_id is None:
            self.pad_id = 0
        self.prompts = dict(_DEFAULT_PROMPTS)
        try:
            saved = json.loads((folder / "config_sentence_transformers.json").read_text("utf-8")).get("prompts") or {}
            self.prompts.update({k: v for k, v in saved.items() if k in _DEFAULT_PROMPTS and v})
        except (OSError, ValueError):
            pass
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or available_cores()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # warnings about unused initialisers are noise here
        # no busy-waiting between runs: on a 2-core machine Rasa and the other workers need those cycles
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        graph = folder / (INT8_FILE if quantized else FP32_FILE)
        self.session = ort.InferenceSession(str(graph), sess_options=opts, providers=["CPUExecutionProvider"])
        self.dimension = int(self.session.get_outputs()[0].shape[-1])
        self._weights_file = None if quantized or not release_pages else folder / FP32_DATA_FILE
        self._since_release = 0
        self.release_weight_pages()  # what prepacking read is not read again

    def release_weight_pages(self) -> int:
        """Unmap the clean pages of the memory-mapped weights (kB): the page cache keeps them for the next read."""
        self._since_release = 0
        if self._weights_file is None or not self._weights_file.is_file():
            return 0
        return release_mapped_pages(self._weights_file)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch(texts)
        width = max(len(e) for e in encs)
        ids = np.full((len(encs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        for row, e in enumerate(encs):
            ids[row, : len(e)] = e
            mask[row, : len(e)] = 1
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)

    def encode(self, texts: list[str], kind: str, batch_size: int = 32) -> np.ndarray:
        """(n, dim) float32, L2-normalised; ``kind`` is ``query`` or ``passage`` (the e5 prefix)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prompt = self.prompts[kind]
        prefixed = [prompt + t for t in texts]
        # like sentence-transformers: longest first, so each batch pads to similar lengths
        order = sorted(range(len(prefixed)), key=lambda i: -len(prefixed[i]))
        out = np.empty((len(prefixed), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._batch([prefixed[i] for i in chunk])
        self._since_release += len(texts)
        if self._since_release >= RELEASE_EVERY:
            self.release_weight_pages()
        return out
