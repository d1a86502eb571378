"""`python -m bot route …`, `python -m bot db upgrade|current`, `python -m bot consultations list|show|status|deliver` (inbox users: `python -m bot inbox adduser`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict

from bot.errors import UserFacingError


def register(sub: argparse._SubParsersAction) -> None:
    route = sub.add_parser("route", help="route a resident's text to a category and committee")
    route.add_argument("text", help="the text, or '-' to read one text per line from stdin")
    route.add_argument("--community", default=None, help="community id (default: LINLI_DEFAULT_COMMUNITY)")
    route.add_argument("--json", action="store_true", help="one JSON object per text")
    route.add_argument("--no-embedding", action="store_true", help="keywords only (fast start)")
    route.set_defaults(func=_route)

    db = sub.add_parser("db", help="consultation database").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply migrations and sync communities.yml into the database")
    up.add_argument("--url", default=None, help="SQLAlchemy URL (default: settings)")
    up.set_defaults(func=_db_upgrade)
    cur = db.add_parser("current", help="print the applied migration")
    cur.add_argument("--url", default=None)
    cur.set_defaults(func=_db_current)

    c = sub.add_parser("consultations", help="consultations: ops commands").add_subparsers(
        dest="c_command", required=True
    )
    ls = c.add_parser("list", help="list consultations (newest first)")
    ls.add_argument("--committee", default=None)
    ls.add_argument("--status", default=None)
    ls.add_argument("--category", default=None)
    ls.add_argument("--search", default=None)
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    show = c.add_parser("show", help="one consultation with its trail")
    show.add_argument("tracking_no")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)
    st = c.add_parser("status", help="change a consultation's status (as ops)")
    st.add_argument("tracking_no")
    st.add_argument("to_status", help="accepted|deliberating|resolved|rejected or the Chinese label")
    st.add_argument("--note", default="")
    st.add_argument("--actor", default="ops")
    st.set_defaults(func=_status)
    dl = c.add_parser("deliver", help="push queued status notifications to Rasa")
    dl.add_argument("--loop", type=float, default=0, help="repeat every N seconds")
    dl.add_argument("--retry-failed", action="store_true", help="requeue pushes that gave up")
    dl.set_defaults(func=_deliver)


def _service(prepare: bool = True, use_embedding: bool = True):
    from bot.consultations.service import ConsultationService
    from bot.settings import get_settings

    s = get_settings()
    return ConsultationService(s.sqlalchemy_url, prepare=prepare, use_embedding=use_embedding, settings=s)


def _router(no_embedding: bool):
    from bot.consultations.routing import Router
    from bot.kb import load_kb

    kb = load_kb()
    return kb, Router(kb.directory, kb.kb_dir, use_embedding=not no_embedding)


def _route(args: argparse.Namespace) -> int:
    from bot.consultations.validation import clean_text
    from bot.settings import get_settings

    kb, router = _router(args.no_embedding)
    community = args.community or get_settings().default_community
    if not args.community:
        print(f"未指定社区（--community），按默认社区 {community} 处理。", file=sys.stderr)
    if community not in {c.id for c in kb.communities}:
        print(
            f"未知社区 {community!r}，可选：" + "、".join(f"{c.id}（{c.name}）" for c in kb.communities),
            file=sys.stderr,
        )
        return 2
    texts = (line.rstrip("\n") for line in sys.stdin) if args.text == "-" else iter([args.text])
    rc = 0
    for raw in texts:
        if args.text == "-" and not raw.strip():
            continue
        try:
            r = router.route(clean_text(raw), community)
        except UserFacingError as e:
            rc = 1
            if args.json:
                print(json.dumps({"error": e.message, "code": e.code}, ensure_ascii=False), flush=True)
            else:
                print(e.message, file=sys.stderr)
            continue
        if args.json:
            out = r.to_json()
            if not args.community:
                out["assumed_community"] = True
            print(json.dumps(out, ensure_ascii=False), flush=True)
        elif r.needs_village:
            names = "、".join(c.name for c in router.villages())
            print(
                f"{r.category_name or '未分类'} → 这是村里的事，{r.community.name}的居委会不受理：请先问清是哪个村（{names}），交该村的村民委员会。"
            )
        else:
            flag = "（未能分类，转交兜底委员会）" if r.flagged_unroutable else ""
            print(f"{r.category_name or '未分类'} → {r.committee.name}（{r.committee.type}，{r.community.name}）{flag}")
    return rc


def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.consultations.service import ConsultationService
    from bot.db import current_revision, upgrade
    from bot.privacy import mask_phone
    from bot.settings import get_settings

    url = args.url or get_settings().sqlalchemy_url
    upgrade(url)
    counts = ConsultationService(url, prepare=False, use_embedding=False).directory.sync()
    safe = url.split("@")[-1] if "@" in url else url  # never print a password
    print(f"database at revision {current_revision(url)} ({mask_phone(safe)}); directory: {asdict(counts)}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from bot.db import current_revision
    from bot.settings import get_settings

    print(current_revision(args.url or get_settings().sqlalchemy_url) or "(empty database)")
    return 0


def _row(r) -> str:
    from bot.consultations.outside import outside_text

    flag = " ⚑" if r.flagged_unroutable else ""
    local = r.created_at.astimezone().strftime("%m-%d %H:%M")
    text = outside_text(r.text, r.contact_name).replace("\n", " ")
    return f"{r.tracking_no}  {local}  {r.status_label:<4}  {(r.category_name or '未分类')[:8]:<8}  {r.committee_name}{flag}  {text[:40]}"


def _list(args: argparse.Namespace) -> int:
    svc = _service(use_embedding=False)
    rows = svc.reports.list_for_committee(
        args.committee, status=args.status, category=args.category, search=args.search, limit=args.limit
    )
    for r in rows:
        if args.json:
            print(
                json.dumps(
                    {
                        "tracking_no": r.tracking_no,
                        "status": r.status,
                        "category": r.category,
                        "committee": r.committee_id,
                        "created_at": r.created_at.isoformat(),
                        "flagged_unroutable": r.flagged_unroutable,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(_row(r))
    if not args.json:
        print(f"共 {len(rows)} 条", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    from bot.consultations.outside import outside_text

    svc = _service(use_embedding=False)
    r = svc.get(args.tracking_no)
    if r is None:
        print("没有找到这条诉求，请核对受理编号。", file=sys.stderr)
        return 1
    name = r.contact_name  # a terminal is an outside view too: masked like Open311 and the resident's view
    if args.json:
        print(
            json.dumps(
                {
                    "tracking_no": r.tracking_no,
                    "status": r.status,
                    "status_label": r.status_label,
                    "category": r.category,
                    "committee": r.committee_id,
                    "text": outside_text(r.text, name),
                    "trail": [
                        {
                            "at": e.at.isoformat(),
                            "actor": e.actor,
                            "kind": e.kind,
                            "from": e.from_status,
                            "to": e.to_status,
                            "note": outside_text(e.note, name),
                        }
                        for e in r.trail
                    ],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
        return 0
    print(_row(r))
    print(
        f"社区：{r.community_name}　联系人：{outside_text(r.contact_name or '—', name)}　电话：{outside_text(r.contact_phone or '—')}"
    )
    print(outside_text(r.text, name))
    for e in r.trail:
        what = (
            f"{e.from_category or '未分类'} → {e.to_category}"
            if e.kind == "recategorize"
            else f"{e.from_status or '—'} → {e.to_status}"
        )
        print(f"  {e.at.astimezone().strftime('%Y-%m-%d %H:%M')}  {e.actor:<10} {what}  {outside_text(e.note, name)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    svc = _service(use_embedding=False)
    try:
        r = svc.change_status(args.tracking_no, args.to_status, args.actor, args.note)
    except UserFacingError as e:
        print(e.message, file=sys.stderr)
        return 1
    print(f"{r.tracking_no} → {r.status_label}")
    return 0


def _deliver(args: argparse.Namespace) -> int:
    svc = _service(use_embedding=False)
    d = svc.delivery.deliverer()
    if args.retry_failed:
        print(f"requeued {d.retry_failed()}")
    while True:
        stats = d.deliver_pending()
        print(json.dumps(asdict(stats)), flush=True)
        if not args.loop:
            return 0 if not stats.failed else 1
        time.sleep(args.loop)
