"""Adapter from ``bot.embedding`` to what the index needs: a model id and batched, normalized vectors.

Encoding passages in batches lets a tqdm bar show progress while the index is built.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm


class EmbeddingAdapter:
    def __init__(self, settings):
        from bot import embedding

        self._embedding = embedding
        self._settings = settings
        self.model = embedding.load_configured(settings)
        self.model_id = str(embedding.model_id(settings))
        self.backend = settings.embedding_backend

    def queries(self, texts: list[str]) -> np.ndarray:
        texts = list(texts)
        out = self._embedding.encode_queries(texts, settings=self._settings)
        return np.ascontiguousarray(out, dtype=np.float32).reshape(len(texts), -1)

    def passages(self, texts: list[str], progress: bool = False, batch_size: int = 16) -> np.ndarray:
        texts = list(texts)
        bar = tqdm(range(0, len(texts), batch_size), desc="embedding passages", unit="batch", disable=not progress)
        chunks = [self._embedding.encode_passages(texts[i : i + batch_size], settings=self._settings) for i in bar]
        return np.ascontiguousarray(np.vstack(chunks), dtype=np.float32).reshape(len(texts), -1)


def load_embedder(settings) -> EmbeddingAdapter:
    return EmbeddingAdapter(settings)
