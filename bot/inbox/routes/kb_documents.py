"""The knowledge desk's documents and versions (kb-editors and admins): upload → review → publish, rollback, audit."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from bot.inbox.deps import KBEditor, KBIndex, SettingsDep
from bot.inbox.web import Refused, clean, flash_redirect, render
from bot.kb.desk import DeskError, discard, publish_staged, review
from bot.kb.loader import KBError, load_kb
from bot.kb.versions import VersionError, current_dir, describe, history, list_versions, rollback, version_dir

router = APIRouter()

HOME = "/kb"


@router.get("/kb")
def desk_home(request: Request, settings: SettingsDep, user: KBEditor, index: KBIndex):
    root = settings.kb_dir
    kb = load_kb(current_dir(root))
    versions = [
        {
            "name": v.name,
            "current": v.current,
            "by": v.manifest.get("by", "—"),
            "at": v.manifest.get("at", "—"),
            "what": describe(v.manifest.get("changes", []), v.manifest.get("message", "")),
        }
        for v in reversed(list_versions(root))
    ]
    audit = [dict(h, what=describe(h.get("changes", []))) for h in reversed(history(root))][:50]
    return render(
        request,
        "kb_home.html",
        {
            "active": "kb",
            "kb": kb,
            "versions": versions,
            "audit": audit,
            "status": index.status(),
            "max_mb": settings.kb_upload_max_bytes // 1024 // 1024,
        },
    )


@router.post("/kb/upload")
async def upload(request: Request, settings: SettingsDep, user: KBEditor, document: UploadFile | None = File(None)):
    from bot.kb.desk import stage_upload

    if document is None or not getattr(document, "filename", ""):
        raise Refused("请选择要上传的文件。", HOME)
    data = await document.read(settings.kb_upload_max_bytes + 1)
    try:
        token = stage_upload(settings.var_dir, document.filename, data, settings.kb_upload_max_bytes)
    except DeskError as e:
        raise Refused(str(e), HOME) from None
    try:
        review(settings.var_dir, settings.kb_dir, token)  # a file that cannot be read is refused here, and not kept
    except DeskError as e:
        discard(settings.var_dir, token)
        raise Refused(str(e), HOME) from None
    return flash_redirect(request, f"/kb/review/{token}", "文件已上传，请检查解析结果后再发布。")


@router.get("/kb/review/{token}")
def review_page(request: Request, settings: SettingsDep, user: KBEditor, token: str):
    try:
        c = review(settings.var_dir, settings.kb_dir, clean(token, 64))
    except DeskError as e:
        raise Refused(str(e), HOME) from None
    return render(request, "kb_review.html", {"active": "kb", "c": c, "p": c.parsed.plan, "token": token})


@router.post("/kb/review/{token}/publish")
def publish_page(
    request: Request,
    settings: SettingsDep,
    user: KBEditor,
    index: KBIndex,
    token: str,
    title: str = Form(""),
    force: str = Form(""),
):
    token = clean(token, 64)
    try:
        name, kb = publish_staged(
            settings.var_dir, settings.kb_dir, token, user.username, clean(title, 120) or None, force == "1"
        )
    except DeskError as e:
        raise Refused(str(e), f"/kb/review/{token}") from None
    except KBError as e:
        raise Refused(f"未发布：新版本的知识库检查未通过：{e}", f"/kb/review/{token}") from None
    index.published()
    return flash_redirect(request, f"/kb/versions/{name}", f"已发布知识版本 {name}，正在重建索引。")


@router.post("/kb/review/{token}/discard")
def discard_upload(request: Request, settings: SettingsDep, user: KBEditor, token: str):
    discard(settings.var_dir, clean(token, 64))
    return flash_redirect(request, HOME, "已放弃这份上传的文件。")


@router.get("/kb/versions/{name}")
def version_page(request: Request, settings: SettingsDep, user: KBEditor, index: KBIndex, name: str):
    name = clean(name, 16)
    try:
        folder = version_dir(settings.kb_dir, name)
    except VersionError as e:
        raise Refused(str(e), HOME) from None
    v = next(v for v in list_versions(settings.kb_dir) if v.name == name)
    status = index.status()
    return render(
        request,
        "kb_version.html",
        {
            "active": "kb",
            "v": v,
            "what": describe(v.manifest.get("changes", []), v.manifest.get("message", "")),
            "kb": load_kb(folder),
            "status": status,
            "refresh": status.get("building") is not None and status.get("stage") not in ("done", "failed"),
        },
    )


@router.get("/kb/status")
def index_status(user: KBEditor, index: KBIndex):
    """The desk's index rebuild, for the version page (stage, passages embedded of total)."""
    return JSONResponse(index.status(), headers={"Cache-Control": "no-store"})


@router.post("/kb/versions/{name}/rollback")
def rollback_version(request: Request, settings: SettingsDep, user: KBEditor, index: KBIndex, name: str):
    name = clean(name, 16)
    try:
        previous = rollback(settings.kb_dir, name, by=user.username)
    except (VersionError, KBError) as e:
        raise Refused(f"无法回滚：{e}", HOME) from None
    index.published()
    return flash_redirect(request, HOME, f"当前知识版本：{name}（之前：{previous}）。")
