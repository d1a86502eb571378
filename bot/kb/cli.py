"""`python -m bot kb check|userdict`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.kb.loader import KBError, load_kb
from bot.kb.terms import write_user_dictionary


def register(sub: argparse._SubParsersAction) -> None:
    kb = sub.add_parser("kb", help="knowledge base tools").add_subparsers(dest="kb_command", required=True)
    check = kb.add_parser("check", help="validate the knowledge base and print counts")
    check.add_argument("--kb-dir", type=Path, default=None)
    check.set_defaults(func=_check)
    ud = kb.add_parser("userdict", help="write the jieba user dictionary generated from the catalogue")
    ud.add_argument("--kb-dir", type=Path, default=None)
    ud.add_argument("--check", action="store_true", help="exit 1 if the committed dictionary is out of date")
    ud.set_defaults(func=_userdict)


def _check(args: argparse.Namespace) -> int:
    from bot.settings import get_settings

    try:
        kb = load_kb(args.kb_dir)
    except KBError as e:
        print(f"知识库检查未通过：{len(e.problems)} 个问题", file=sys.stderr)
        for p in e.problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    default = get_settings().default_community
    if args.kb_dir is None and default not in {c.id for c in kb.communities}:
        print(f"LINLI_DEFAULT_COMMUNITY={default!r} is not a community in communities.yml", file=sys.stderr)
        return 1
    print("knowledge base OK: " + ", ".join(f"{k}={v}" for k, v in kb.counts.items()))
    return 0


def _userdict(args: argparse.Namespace) -> int:
    kb = load_kb(args.kb_dir)
    changed = write_user_dictionary(kb, dry_run=args.check)
    if args.check and changed:
        print("jieba user dictionary is out of date: run `python -m bot kb userdict`", file=sys.stderr)
        return 1
    return 0
