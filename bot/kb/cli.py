"""`python -m bot kb check|userdict|import|versions|rollback`."""

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
    imp = kb.add_parser(
        "import", help="parse a policy document (.txt/.docx/.pdf), print the review; --publish makes a version"
    )
    imp.add_argument("path", type=Path)
    imp.add_argument("--title", default=None, help="document title (default: its title line)")
    imp.add_argument(
        "--id",
        dest="doc_id",
        default=None,
        help="document id and clause prefix (default: docN, or the id of the same title)",
    )
    imp.add_argument("--publish", action="store_true", help="publish a new knowledge version with this document")
    imp.add_argument("--force", action="store_true", help="publish even though the parser reported errors")
    imp.add_argument("--by", default=None, help="who publishes (for the manifest and audit; default: the login name)")
    imp.set_defaults(func=_import)
    ver = kb.add_parser("versions", help="list the published knowledge versions (* = current)")
    ver.set_defaults(func=_versions)
    rb = kb.add_parser("rollback", help="make an earlier version (or 'seed') current")
    rb.add_argument("version")
    rb.add_argument("--by", default=None)
    rb.set_defaults(func=_rollback)


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
    for d in kb.documents:
        for p in d.problems:
            print(f"warning: {d.file}: {p}", file=sys.stderr)
    print("knowledge base OK: " + ", ".join(f"{k}={v}" for k, v in kb.counts.items()))
    return 0


def _userdict(args: argparse.Namespace) -> int:
    from bot.settings import get_settings

    kb = load_kb(
        args.kb_dir or get_settings().kb_dir
    )  # the committed dictionary: the seed's (a publish writes its own)
    changed = write_user_dictionary(kb, dry_run=args.check)
    if args.check and changed:
        print("jieba user dictionary is out of date: run `python -m bot kb userdict`", file=sys.stderr)
        return 1
    return 0


def _import(args: argparse.Namespace) -> int:
    from bot.kb.documents.importer import add_to, read_candidate, review_lines
    from bot.kb.documents.readers import DocumentError
    from bot.kb.versions import current_dir, publish
    from bot.settings import get_settings

    root = get_settings().kb_dir
    try:
        candidate = read_candidate(args.path, current_dir(root), args.title, args.doc_id)
    except (DocumentError, ValueError) as e:
        print(f"无法导入：{e}", file=sys.stderr)
        return 1
    print("\n".join(review_lines(candidate)))
    if not args.publish:
        return 0
    if candidate.parsed.errors and not args.force:
        print(
            f"未发布：解析报告了 {len(candidate.parsed.errors)} 个错误；改正文档后重新导入，或加 --force 照样发布",
            file=sys.stderr,
        )
        return 1
    try:
        name, kb = publish(root, lambda d: add_to(d, candidate), by=args.by, message=f"导入《{candidate.cite}》")
    except KBError as e:
        print(f"未发布：新版本的知识库检查未通过：\n{e}", file=sys.stderr)
        return 1
    print(f"已发布知识版本 {name}（指纹 {kb.fingerprint}）：" + "，".join(f"{k}={v}" for k, v in kb.counts.items()))
    return 0


def _versions(args: argparse.Namespace) -> int:
    from bot.kb.versions import describe, list_versions
    from bot.settings import get_settings

    for v in list_versions(get_settings().kb_dir):
        m = v.manifest
        what = describe(m.get("changes", []), m.get("message", ""))
        print(
            f"{'*' if v.current else ' '} {v.name}  {m.get('at', '-')}  {m.get('by', '-')}  {m.get('fingerprint', '-')}  {what}"
        )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from bot.kb.versions import VersionError, rollback
    from bot.settings import get_settings

    try:
        previous = rollback(get_settings().kb_dir, args.version, by=args.by)
    except (VersionError, KBError) as e:
        print(f"无法回滚：{e}", file=sys.stderr)
        return 1
    print(f"当前知识版本：{args.version}（之前：{previous}）")
    return 0
