"""`python -m bot inbox serve | adduser | passwd | run-pass | apikey create|list|revoke`."""

from __future__ import annotations

import argparse
import getpass
import sys

from bot.errors import UserFacingError


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码（至少 8 位，不能是常见密码或用户名加数字）：")
    if getpass.getpass("再输入一次：") != first:
        raise UserFacingError("两次输入的密码不一致。", code="password_mismatch")
    return first


def _serve(args) -> int:
    import uvicorn

    from bot.inbox.app import create_app
    from bot.privacy import AccessLogFilter, MaskingFilter
    from bot.settings import get_settings

    settings = get_settings()
    app = create_app(settings)
    log_config = dict(uvicorn.config.LOGGING_CONFIG)
    log_config["filters"] = {"mask": {"()": MaskingFilter}, "access_mask": {"()": AccessLogFilter}}
    log_config["handlers"] = {
        "default": {**log_config["handlers"]["default"], "filters": ["mask"]},
        "access": {**log_config["handlers"]["access"], "filters": ["access_mask"]},
    }
    from bot.inbox.server import uvicorn_config

    config = uvicorn_config(
        app,
        settings,
        host=args.host,
        port=args.port,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_config=log_config,
        log_level=settings.log_level.lower(),
    )
    uvicorn.Server(config).run()
    return 0


def _service():
    from bot.consultations import ConsultationService

    return ConsultationService.from_settings()


def _adduser(args) -> int:
    if not args.admin and not args.committee and not args.township and not args.kb_editor:
        print("请指定 --committee 委员会ID、--township 街道（乡镇）、--admin 或 --kb-editor。", file=sys.stderr)
        return 2
    svc = _service()
    role = "admin" if args.admin else ("supervisor" if args.township else ("kb-editor" if args.kb_editor else "member"))
    try:
        if args.committee:
            svc.directory.committee(args.committee)  # unknown committee → polite error
        user = svc.accounts.create_user(
            args.username, _read_password(args), args.committee or None, role, township=args.township
        )
    except UserFacingError as e:
        print(e.message, file=sys.stderr)
        return 1
    where = (
        "管理员"
        if user.is_admin
        else (
            f"{user.township}督办"
            if user.role == "supervisor"
            else ("知识库编辑" if user.role == "kb-editor" else f"{user.committee_name}（{user.committee_id}）")
        )
    )
    print(f"已创建用户 {user.username}：{where}")
    return 0


def _passwd(args) -> int:
    try:
        _service().accounts.set_password(args.username, _read_password(args))
    except UserFacingError as e:
        print(e.message, file=sys.stderr)
        return 1
    print(f"已更新 {args.username} 的密码。")
    return 0


def _apikeys():
    from bot.inbox.apikeys import ApiKeyStore
    from bot.settings import get_settings

    return ApiKeyStore.from_settings(get_settings())


def _apikey_create(args) -> int:
    try:
        key = _apikeys().create(args.name)
    except UserFacingError as e:
        print(e.message, file=sys.stderr)
        return 1
    print(key)
    print(f"已为 {args.name} 创建 Open311 API key（只显示这一次，请妥善保存）。", file=sys.stderr)
    return 0


def _run_pass(args) -> int:
    import json

    from bot.inbox.scheduler import run_pass

    result = run_pass(_service())
    print(json.dumps({"ran": result.ran, "jobs": result.jobs}, ensure_ascii=False))
    return 0


def _apikey_list(args) -> int:
    for i in _apikeys().list():
        print(f"{i.name}\t{i.created_at}\t{'启用' if i.active else '已停用'}")
    return 0


def _apikey_revoke(args) -> int:
    if _apikeys().revoke(args.name):
        print(f"已停用 {args.name} 的 API key。")
        return 0
    print(f"没有启用中的 {args.name} 的 API key。", file=sys.stderr)
    return 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inbox", help="committee inbox (web) and Open311 API keys")
    isub = p.add_subparsers(dest="inbox_command", required=True)

    s = isub.add_parser("serve", help="run the inbox web app")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="comma-separated reverse proxies whose X-Forwarded-For/-Proto are believed (default: LINLI_INBOX_TRUSTED_PROXIES, empty = none)",
    )
    s.set_defaults(func=_serve)

    a = isub.add_parser("adduser", help="create a committee member (or an admin)")
    a.add_argument("username")
    g = a.add_mutually_exclusive_group()
    g.add_argument("--committee", help="committee id (from communities.yml)")
    g.add_argument("--admin", action="store_true", help="admin: manages users, sees all committees")
    g.add_argument("--township", help="supervisor of a 街道/乡镇 (Community.township): overdue items, extensions")
    g.add_argument("--kb-editor", action="store_true", help="knowledge desk only (/kb): no committee, no consultations")
    a.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    a.set_defaults(func=_adduser)

    pw = isub.add_parser("passwd", help="set a user's password")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=_passwd)

    rp = isub.add_parser("run-pass", help="one closed-loop scheduler pass now (reminders, digest, registered jobs)")
    rp.set_defaults(func=_run_pass)

    k = isub.add_parser("apikey", help="Open311 API keys per integrator")
    ksub = k.add_subparsers(dest="apikey_command", required=True)
    kc = ksub.add_parser("create", help="create (or replace) a key; prints it once")
    kc.add_argument("name")
    kc.set_defaults(func=_apikey_create)
    kl = ksub.add_parser("list")
    kl.set_defaults(func=_apikey_list)
    kr = ksub.add_parser("revoke")
    kr.add_argument("name")
    kr.set_defaults(func=_apikey_revoke)
