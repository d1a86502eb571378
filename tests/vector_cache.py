"""A test-only embedder wrapper that keeps every vector it computed on disk, keyed by model and text.

The tests about building, reusing and comparing indexes encode the same passages and questions again and again
(each build of the real knowledge base is hundreds of passages; torch on 2 shared cores is slow). The model is
deterministic for a given model id and library version, so a vector computed once is the vector it would compute
again: ``CachedEmbedder(embedder)`` answers from the cache, encodes only the texts it has not seen and stores those.
Everything else (index building, FAISS, ranking, the rebuilt flags) runs as before. Product code never uses it.

Files: ``<cache_dir>/test-vectors/<key of model, kind, library versions>/<sha256 of the text>.npy``, each written
atomically, so parallel test workers and sessions share them safely.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np


def _library_versions() -> str:
    """The encoder libraries' versions are part of the key: an upgrade that changed vectors must not be hidden."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("onnxruntime", "torch", "sentence-transformers", "transformers", "numpy"):
        try:
            out.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            out.append(f"{name}=-")
    return ",".join(out)


class CachedEmbedder:
    """Same interface as :class:`bot.retrieval.embedder.EmbeddingAdapter` (``model_id``, ``backend``, ``queries``,
    ``passages``); other attributes come from the wrapped embedder.

    ``inner`` is an embedder, or ``settings``: then the real adapter (and its model) is loaded only when a text is
    missing from the cache, so a warm run of a torch test never loads torch."""

    def __init__(self, inner=None, directory: Path | None = None, *, settings=None, seeds: Path | None = None):
        from bot.settings import get_settings

        if (inner is None) == (settings is None):
            raise TypeError("give an embedder or settings")
        self._inner = inner
        self._settings = settings
        if inner is not None:
            self.model_id, self.backend = inner.model_id, getattr(inner, "backend", "torch")
        else:
            from bot import embedding

            self.model_id, self.backend = str(embedding.model_id(settings)), settings.embedding_backend
        cache_dir = Path((settings or get_settings()).cache_dir)
        self._root = Path(directory or cache_dir / "test-vectors")
        # Query vectors the product already keeps for its fixed texts (bot.retrieval.embedder.cached_queries, under
        # the cache's index folders, written by setup's warm step): the same model id, so the same vectors. A fresh
        # machine's tests then encode only the texts the product never saw (measured: 6,161 queries on a cold run).
        self._seeds_dir = seeds if seeds is not None else (None if directory else cache_dir)
        self._seeds: dict[str, np.ndarray] | None = None
        self._versions = _library_versions()
        self.encoded = 0  # texts this wrapper had to encode (the rest came from the cache)

    @property
    def inner(self):
        if self._inner is None:
            from bot.retrieval.embedder import load_embedder

            self._inner = load_embedder(self._settings)
        return self._inner

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _dir(self, kind: str) -> Path:
        key = hashlib.sha256(f"{self.model_id}|{self.backend}|{kind}|{self._versions}".encode()).hexdigest()[:20]
        return self._root / key

    def _cached(self, kind: str, texts, encode) -> np.ndarray:
        texts = list(texts)
        folder = self._dir(kind)
        paths = [folder / f"{hashlib.sha256(t.encode('utf-8', 'surrogatepass')).hexdigest()}.npy" for t in texts]
        found: dict[int, np.ndarray] = {}
        for i, p in enumerate(paths):
            try:
                found[i] = np.load(p)
            except (OSError, ValueError, EOFError):  # missing, or a damaged file: encode it again
                pass
        todo = [i for i in range(len(texts)) if i not in found]
        if todo and kind == "query":
            seeds = self._seeded()
            found.update((i, seeds[texts[i]]) for i in todo if texts[i] in seeds)
            todo = [i for i in todo if i not in found]
        if todo:
            fresh = np.asarray(encode([texts[i] for i in todo]), dtype=np.float32).reshape(len(todo), -1)
            folder.mkdir(parents=True, exist_ok=True)
            for i, vec in zip(todo, fresh):
                found[i] = vec
                fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
                with os.fdopen(fd, "wb") as f:
                    np.save(f, vec)
                os.replace(tmp, paths[i])
            self.encoded += len(todo)
        if not texts:
            return np.asarray(encode([]), dtype=np.float32)
        return np.ascontiguousarray(np.stack([found[i] for i in range(len(texts))]), dtype=np.float32)

    def _seeded(self) -> dict[str, np.ndarray]:
        """The product's kept query vectors for this model id (read once, only when a query is missing)."""
        if self._seeds is None:
            self._seeds = {}
            model = hashlib.sha256(str(self.model_id).encode()).hexdigest()[:12]
            for path in sorted(self._seeds_dir.glob(f"*/query-vectors-{model}.npz")) if self._seeds_dir else []:
                try:
                    with np.load(path) as saved:
                        self._seeds.update(zip(saved["texts"].tolist(), saved["vectors"]))
                except (OSError, ValueError, KeyError):  # a damaged or half-written file: encode instead
                    pass
        return self._seeds

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._cached("query", texts, lambda todo: self.inner.queries(todo))

    def passages(self, texts: list[str], progress: bool = False, **kw) -> np.ndarray:
        return self._cached("passage", texts, lambda todo: self.inner.passages(todo, progress=progress, **kw))
