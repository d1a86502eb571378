"""Adapter from ``bot.embedding`` to what the index needs: a model id and batched, normalized vectors.

Encoding passages in batches lets a tqdm bar show progress while the index is built.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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


def cached_queries(embedder, texts: list[str], cache_dir: Path | None) -> np.ndarray:
    """The texts' query vectors; with ``cache_dir``, every text is encoded once per model and kept on disk (one file
    for every fixed text the assistant learns from: the scope probe's messages, the gate's anchors, the community
    matters' examples), so a new knowledge version or a new tuning set encodes only its new texts."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    model = hashlib.sha256(str(getattr(embedder, "model_id", "")).encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"query-vectors-{model}.npz" if cache_dir else None
    known: dict[str, np.ndarray] = {}
    if path is not None and path.exists():
        with np.load(path) as saved:
            known = dict(zip(saved["texts"].tolist(), saved["vectors"]))
    missing = sorted({t for t in texts if t not in known})
    if missing:
        known.update(zip(missing, np.asarray(embedder.queries(missing), dtype=np.float32)))
        if path is not None:
            save_arrays(path, texts=np.array(list(known)), vectors=np.vstack(list(known.values())))
    return np.ascontiguousarray(np.vstack([known[t] for t in texts]), dtype=np.float32)


def save_arrays(path: Path, **arrays) -> None:
    """``np.savez`` to ``path`` through a file of this process's own, renamed into place: parallel writers (test
    workers, action-server workers) never clash and readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
