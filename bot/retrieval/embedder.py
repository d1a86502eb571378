"""Adapter from ``bot.embedding`` to what the index needs: a model id and batched, normalized vectors.

Encoding passages in batches lets a tqdm bar show progress while the index is built.
"""

from __future__ import annotations

import inspect

import numpy as np
from tqdm import tqdm


class EmbeddingAdapter:
    def __init__(self, settings):
        from bot import embedding

        self._mod = embedding
        self.model = embedding.load_encoder(settings)
        self.model_id = str(embedding.model_id(settings))
        self._takes_model = {
            name: _first_param_is_model(getattr(embedding, name)) for name in ("encode_queries", "encode_passages")
        }

    def _call(self, name: str, texts: list[str]) -> np.ndarray:
        fn = getattr(self._mod, name)
        out = fn(self.model, texts) if self._takes_model[name] else fn(texts)
        return np.ascontiguousarray(out, dtype=np.float32).reshape(len(texts), -1)

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._call("encode_queries", list(texts))

    def passages(self, texts: list[str], progress: bool = False, batch_size: int = 16) -> np.ndarray:
        texts = list(texts)
        chunks = range(0, len(texts), batch_size)
        bar = tqdm(chunks, desc="embedding passages", unit="batch", disable=not progress)
        return np.vstack([self._call("encode_passages", texts[i : i + batch_size]) for i in bar])


def _first_param_is_model(fn) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 and params[0].name in {"model", "encoder", "st_model"}


def load_embedder(settings) -> EmbeddingAdapter:
    return EmbeddingAdapter(settings)
