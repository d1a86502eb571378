"""The persisted search index: FAISS vectors + passage metadata, keyed by KB fingerprint and model id.

Building means embedding every passage (seconds on CPU), so it is done once and reused until the
knowledge base or the embedding model changes. BM25 is cheap and rebuilt in memory on load.
Below ``retrieval_ann_threshold`` passages the vectors sit in an exact flat index (the real KB: results
exactly as before); from it on, in an HNSW graph, whose search cost grows with log n instead of n.
Each encoder backend keeps its own folder, so switching backends does not throw an index away.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from bot.retrieval.passages import Passage

log = logging.getLogger(__name__)

#: Bump when the passage builder changes so old indexes are rebuilt.
PASSAGE_VERSION = 5
INDEX_FILE = "passages.faiss"
META_FILE = "meta.json"
#: HNSW graph degree and search/construction breadth (chosen on bench/bench_retrieval.py: recall@10 vs
#: the flat index and latency at 100k passages).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
HNSW_EF_SEARCH = 128
ADD_CHUNK = 4096
PROGRESS_CHUNK = 32


class Embedder(Protocol):
    model_id: str

    def queries(self, texts: list[str]) -> np.ndarray: ...

    def passages(self, texts: list[str], progress: bool = False) -> np.ndarray: ...


@dataclass
class DenseIndex:
    passages: list[Passage]
    faiss_index: faiss.Index
    meta: dict
    rebuilt: bool


def index_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / "index"


def version_index_dir(cache_dir: Path, kb) -> Path:
    """The seed's index where it always was; a published version's under its fingerprint (a rollback reuses it)."""
    from bot.kb.loader import SEED_VERSION

    return index_dir(cache_dir) if kb.version == SEED_VERSION else Path(cache_dir) / "index-kb" / kb.fingerprint


def backend_index_dir(directory: Path, backend: str) -> Path:
    """``index`` for torch (the folder earlier versions used), ``index-onnx-int8`` etc. for the others."""
    return directory if backend == "torch" else directory.with_name(f"{directory.name}-{backend}")


def ann_threshold() -> int:
    from bot.settings import get_settings

    return get_settings().retrieval_ann_threshold


def index_type_for(count: int, threshold: int | None = None) -> str:
    threshold = ann_threshold() if threshold is None else threshold
    return "hnsw" if threshold and count >= threshold else "flat"


def make_vector_index(vectors: np.ndarray, kind: str, progress: bool = False) -> faiss.Index:
    """An inner-product index over normalised vectors: exact (``flat``) or an HNSW graph, added in chunks."""
    from tqdm import tqdm

    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        raise ValueError(f"unknown vector index type {kind!r}")
    starts = range(0, len(vectors), ADD_CHUNK)
    for a in tqdm(starts, desc=f"vector index ({kind})", unit="chunk", disable=not progress or len(starts) < 2):
        index.add(vectors[a : a + ADD_CHUNK])
    return index


def _tune(index: faiss.Index) -> faiss.Index:
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def _wanted_meta(fingerprint: str, model_id: str, options: dict | None = None) -> dict:
    return {
        "fingerprint": fingerprint,
        "model_id": model_id,
        "passage_version": PASSAGE_VERSION,
        "options": options or {},
    }


def load_index(
    directory: Path, fingerprint: str, model_id: str, options: dict | None = None, threshold: int | None = None
) -> DenseIndex | None:
    """The stored index if it matches this KB and model (and the index type its size now calls for), else None."""
    meta_path, faiss_path = directory / META_FILE, directory / INDEX_FILE
    if not (meta_path.exists() and faiss_path.exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if any(meta.get(k) != v for k, v in _wanted_meta(fingerprint, model_id, options).items()):
            return None
        if meta.get("index_type", "flat") != index_type_for(len(meta["passages"]), threshold):
            return None
        index = _tune(faiss.read_index(str(faiss_path)))
        passages = [Passage.from_json(p) for p in meta["passages"]]
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        log.warning("search index unreadable, rebuilding: %s", e)
        return None
    if index.ntotal != len(passages):
        return None
    return DenseIndex(passages, index, meta, rebuilt=False)


def _embed(embedder: Embedder, texts: list[str], progress: bool, on_progress) -> np.ndarray:
    """All passage vectors; with ``on_progress(stage, done, total)``, in chunks so a background build reports how far it is."""
    if on_progress is None:
        return embedder.passages(texts, progress=progress)
    parts = []
    for a in range(0, len(texts), PROGRESS_CHUNK):
        on_progress("embed", a, len(texts))
        parts.append(np.asarray(embedder.passages(texts[a : a + PROGRESS_CHUNK], progress=False), dtype=np.float32))
    on_progress("embed", len(texts), len(texts))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def build_index(
    directory: Path,
    passages: list[Passage],
    embedder: Embedder,
    fingerprint: str,
    progress: bool = True,
    options: dict | None = None,
    threshold: int | None = None,
    on_progress=None,
) -> DenseIndex:
    """Embed all passages, write the FAISS file and metadata atomically, and return the index."""
    start = time.perf_counter()
    texts = [p.search_text for p in passages]
    vectors = np.ascontiguousarray(_embed(embedder, texts, progress, on_progress), dtype=np.float32)
    kind = index_type_for(len(passages), threshold)
    index = make_vector_index(vectors, kind, progress=progress)
    meta = {
        **_wanted_meta(fingerprint, embedder.model_id, options),
        "dim": int(vectors.shape[1]),
        "count": len(passages),
        "index_type": kind,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "build_seconds": round(time.perf_counter() - start, 3),
        "passages": [p.to_json() for p in passages],
    }
    directory.mkdir(parents=True, exist_ok=True)
    tag = f".{os.getpid()}.{threading.get_ident()}.tmp"  # two servers building the same version never share a temp file
    tmp_index, tmp_meta = directory / (INDEX_FILE + tag), directory / (META_FILE + tag)
    faiss.write_index(index, str(tmp_index))
    tmp_meta.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp_index, directory / INDEX_FILE)
    os.replace(tmp_meta, directory / META_FILE)  # meta last: a half-written pair never matches
    return DenseIndex(passages, index, meta, rebuilt=True)


def load_or_build(
    directory: Path,
    passages_factory,
    embedder: Embedder,
    fingerprint: str,
    force: bool = False,
    progress: bool = True,
    options: dict | None = None,
    threshold: int | None = None,
    on_progress=None,
) -> DenseIndex:
    """Reuse the stored index when KB fingerprint, model id and passage options match; else build it.

    ``threshold`` (passages from which the index is HNSW) defaults to ``settings.retrieval_ann_threshold``.
    """
    directory = backend_index_dir(Path(directory), getattr(embedder, "backend", "torch"))
    if not force:
        found = load_index(directory, fingerprint, embedder.model_id, options, threshold)
        if found is not None:
            return found
    return build_index(
        directory,
        passages_factory(),
        embedder,
        fingerprint,
        progress=progress,
        options=options,
        threshold=threshold,
        on_progress=on_progress,
    )
