"""Edit one service of the catalogue in a version being built, checked by the schema ``kb check`` uses.

Source of truth: the catalogue in git (``knowledge_base/services.yml``) is the seed; the desk's edits are published
versions (snapshots, ``bot.kb.versions``) and the current version's file is exported (``/kb/services/export``) to
be committed back, so git stays the reviewed record. The YAML is rewritten without its comments in a version.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from bot.kb import yamlload
from bot.kb.models import Service

SERVICES_FILE = "services.yml"
#: The fields the desk's form edits (the rest of an entry is kept as it is).
EDITABLE = ("eligible", "steps", "materials", "where", "agency", "phone", "hours", "clause")


FIELD_NAMES = {
    "how_to_apply": "办理步骤",
    "eligible": "适用对象",
    "where": "办理地点",
    "agency": "负责部门",
    "clause": "依据条款",
    "contact": "联系方式",
}
WORDS = {
    "too_short": "不能为空",
    "string_too_short": "太短",
    "string_pattern_mismatch": "格式不对（应为 plan-7-04、action-1 或 indicator-2 这样的编号）",
    "missing": "必填",
}


class CatalogueError(ValueError):
    """An edit the schema refuses (the message names the field, in the words ``kb check`` uses)."""


def _lines(text: str) -> list[str]:
    return [x.strip() for x in (text or "").splitlines() if x.strip()]


def edited(entry: dict, form: dict[str, str]) -> dict:
    """The service entry with the form's values, validated as ``kb check`` validates it."""
    out = dict(entry)
    out["eligible"], out["where"], out["agency"], out["clause"] = (
        form.get(k, "").strip() for k in ("eligible", "where", "agency", "clause")
    )
    out["how_to_apply"] = {"steps": _lines(form.get("steps", "")), "materials": _lines(form.get("materials", ""))}
    phone, hours = form.get("phone", "").strip(), form.get("hours", "").strip()
    if phone or hours or entry.get("contact"):
        out["contact"] = {**(entry.get("contact") or {}), "phone": phone or None, "hours": hours or None}
    try:
        Service.model_validate(out)
    except ValidationError as e:
        raise CatalogueError(
            "；".join(f"{_field(err['loc'])}：{WORDS.get(err['type'], err['msg'])}" for err in e.errors())
        ) from None
    return out


def _field(loc: tuple) -> str:
    return FIELD_NAMES.get(str(loc[0]), ".".join(map(str, loc))) if loc else ""


def check_edit(kb_dir: Path, service_id: str, form: dict[str, str]) -> None:
    """Refuse a bad form before a version is started (the publish repeats it on the copy, then ``load_kb``)."""
    raw = yamlload.safe_load((Path(kb_dir) / SERVICES_FILE).read_text(encoding="utf-8"))
    entry = next((s for s in raw["services"] if s.get("id") == service_id), None)
    if entry is None:
        raise CatalogueError(f"没有这项服务：{service_id}")
    edited(entry, form)


def update_service(kb_dir: Path, service_id: str, form: dict[str, str]) -> list[dict]:
    """Apply the form to ``service_id`` in ``kb_dir/services.yml``; returns the change (for the manifest)."""
    path = Path(kb_dir) / SERVICES_FILE
    raw = yamlload.safe_load(path.read_text(encoding="utf-8"))
    services = raw["services"]
    k = next((i for i, s in enumerate(services) if s.get("id") == service_id), None)
    if k is None:
        raise CatalogueError(f"没有这项服务：{service_id}")
    before = services[k]
    services[k] = edited(before, form)
    changed = sorted(f for f in services[k] if services[k].get(f) != before.get(f))
    path.write_text(
        "# Service catalogue (published by the knowledge desk; export it to git: /kb/services/export).\n"
        + yaml.safe_dump(raw, allow_unicode=True, sort_keys=False, width=1000),
        encoding="utf-8",
    )
    return [{"action": "changed", "service": service_id, "name": before.get("name", ""), "fields": changed}]


def service_form(svc: Service) -> dict[str, str]:
    """The form's values for a service as it is now."""
    return {
        "eligible": svc.eligible,
        "steps": "\n".join(svc.how_to_apply.steps),
        "materials": "\n".join(svc.how_to_apply.materials),
        "where": svc.where,
        "agency": svc.agency,
        "phone": (svc.contact.phone if svc.contact else "") or "",
        "hours": (svc.contact.hours if svc.contact else "") or "",
        "clause": svc.clause,
    }
