"""`python -m bot indicators`: a community's figures against the 2025 targets of 专栏1."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.errors import UserFacingError
from bot.indicators import FIGURES


def register(sub: argparse._SubParsersAction) -> None:
    ind = sub.add_parser("indicators", help="compare a community's figures with the 2025 targets (专栏1)")
    ind.add_argument("--file", type=Path, help="JSON or YAML file with the figures")
    ind.add_argument("--json", action="store_true")
    ind.add_argument("--kind", choices=["社区", "村"], default=None, help="urban community (社区) or village (村)")
    for key, (label, unit, _) in FIGURES.items():
        ind.add_argument(f"--{key.replace('_', '-')}", type=float, default=None, help=f"{label} {unit}".strip())
    ind.add_argument("--has-facility", choices=["yes", "no"], default=None, help="有综合服务设施")
    ind.add_argument("--has-self-service", choices=["yes", "no"], default=None, help="有政务通用自助服务终端")
    ind.set_defaults(func=_indicators)


def _indicators(args: argparse.Namespace) -> int:
    from bot.indicators import format_results, self_check

    figures: dict = {}
    try:
        if args.file:
            import yaml

            try:
                loaded = yaml.safe_load(args.file.read_text(encoding="utf-8"))  # YAML is a superset of JSON
            except (OSError, yaml.YAMLError, UnicodeDecodeError) as e:
                raise UserFacingError(
                    f"读不了数据文件：{type(e).__name__}。请提供 JSON 或 YAML 文件。", code="bad_file"
                ) from None
            if not isinstance(loaded, dict):
                raise UserFacingError("数据文件应当是“名称: 数字”的键值表。", code="bad_file")
            figures.update(loaded)
        for key in (*FIGURES, "kind"):
            if getattr(args, key) is not None:
                figures[key] = getattr(args, key)
        for key in ("has_facility", "has_self_service"):
            if getattr(args, key) is not None:
                figures[key] = getattr(args, key) == "yes"
        results = self_check(figures)
    except UserFacingError as e:
        print(json.dumps({"error": e.message}, ensure_ascii=False) if args.json else e.message)
        return 2
    if args.json:
        print(json.dumps([r.__dict__ for r in results], ensure_ascii=False))
    else:
        print(format_results(results))
    return 0 if all(r.met for r in results) else 1
