"""The service catalogue's forms: edit a service (checked by the ``kb check`` schema), publish, export the YAML."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from bot.inbox.deps import KBEditor, KBIndex, SettingsDep
from bot.inbox.web import Refused, clean, flash_redirect, render
from bot.kb.catalogue import EDITABLE, SERVICES_FILE, CatalogueError, check_edit, service_form, update_service
from bot.kb.loader import KBError, load_kb
from bot.kb.versions import current_dir, publish

router = APIRouter()


def _current(settings):
    return load_kb(current_dir(settings.kb_dir))


@router.get("/kb/services")
def services_page(request: Request, settings: SettingsDep, user: KBEditor):
    return render(request, "kb_services.html", {"active": "kb", "kb": _current(settings)})


@router.get("/kb/services/export")
def export_services(settings: SettingsDep, user: KBEditor):
    """The current version's catalogue, to commit to git (the reviewed record)."""
    data = (current_dir(settings.kb_dir) / SERVICES_FILE).read_bytes()
    return Response(
        data,
        media_type="application/x-yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{SERVICES_FILE}"', "Cache-Control": "no-store"},
    )


@router.get("/kb/services/{service_id}")
def service_page(request: Request, settings: SettingsDep, user: KBEditor, service_id: str):
    kb = _current(settings)
    try:
        svc = kb.service(clean(service_id, 64))
    except KeyError:
        raise HTTPException(404, "没有这项服务。") from None
    return render(request, "kb_service.html", {"active": "kb", "svc": svc, "form": service_form(svc), "kb": kb})


@router.post("/kb/services/{service_id}")
async def save_service(request: Request, settings: SettingsDep, user: KBEditor, index: KBIndex, service_id: str):
    sid = clean(service_id, 64)
    back = f"/kb/services/{sid}"
    raw = await request.form()
    form = {k: clean(raw.get(k), 2000, multiline=k in ("steps", "materials", "eligible")) for k in EDITABLE}
    try:
        check_edit(current_dir(settings.kb_dir), sid, form)
        name, _ = publish(
            settings.kb_dir, lambda d: update_service(d, sid, form), by=user.username, message=f"修改服务 {sid}"
        )
    except CatalogueError as e:
        raise Refused(f"未保存：{e}", back) from None
    except KBError as e:
        raise Refused(f"未保存：知识库检查未通过：{e}", back) from None
    index.published()
    return flash_redirect(request, back, f"已发布知识版本 {name}：服务已更新。")
