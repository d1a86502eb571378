"""A clause in its document, the cited sentence highlighted: in the inbox, and public for residents (web chat links)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from bot.inbox.deps import CurrentUser, SettingsDep
from bot.inbox.web import clean, render
from bot.kb.desk import clause_view
from bot.kb.loader import load_kb
from bot.kb.versions import current_dir

router = APIRouter()

MISSING = "没有找到这条原文：知识库可能已经更新。"


def _view(settings, item_id: str):
    view = clause_view(load_kb(current_dir(settings.kb_dir)), clean(item_id, 64))
    if view is None:
        raise HTTPException(404, MISSING)
    return view


@router.get("/kb/clause/{item_id}")
def clause_page(request: Request, settings: SettingsDep, user: CurrentUser, item_id: str):
    return render(request, "kb_clause.html", {"view": _view(settings, item_id), "public": False})


@router.get("/kb/c/{item_id}")
def public_clause_page(request: Request, settings: SettingsDep, item_id: str):
    """No login: a resident follows a citation from the web chat (only published policy text is shown)."""
    return render(request, "kb_clause.html", {"view": _view(settings, item_id), "public": True})
