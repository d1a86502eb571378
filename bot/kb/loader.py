"""Load the knowledge base and check it as a whole.

Every problem is reported as (file, entry, field, message) so that whoever edits the YAML
by hand can find the line to fix; :func:`load_kb` raises :class:`KBError` with all of them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bot.kb.models import AgencyDirectory, Community, CommunityDirectory, Service, ServiceCatalogue
from bot.kb.plan import Plan, PlanParseError, load_plan

KB_FILES = ("plan_excerpt.txt", "errata.yml", "services.yml", "agencies.yml", "communities.yml")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        where = " › ".join(p for p in (self.file, self.entry, self.field) if p)
        return f"{where}: {self.message}"


class KBError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class KnowledgeBase:
    kb_dir: Path
    plan: Plan
    services: list[Service]
    agencies: AgencyDirectory
    directory: CommunityDirectory
    fingerprint: str = ""
    _service_by_id: dict[str, Service] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._service_by_id = {s.id: s for s in self.services}

    def service(self, service_id: str) -> Service:
        return self._service_by_id[service_id]

    @property
    def communities(self) -> list[Community]:
        return self.directory.communities

    def community(self, community_id: str) -> Community:
        for c in self.directory.communities:
            if c.id == community_id:
                return c
        raise KeyError(community_id)

    def agency_full_name(self, short: str) -> str:
        for a in self.agencies.agencies:
            if a.name == short:
                return a.full_name
        return short

    @cached_property
    def counts(self) -> dict[str, int]:
        return {
            "clauses": len(self.plan.clauses),
            "chapters": len(self.plan.chapters),
            "indicators": len(self.plan.indicators),
            "actions": len(self.plan.actions),
            "services": len(self.services),
            "agencies": len(self.agencies.agencies),
            "communities": len(self.directory.communities),
            "committees": sum(len(c.committees) for c in self.directory.communities),
            "categories": len(self.directory.categories),
        }


def fingerprint(kb_dir: Path) -> str:
    """Hash of every knowledge-base file: the search index is rebuilt when it changes."""
    h = hashlib.sha256()
    for name in KB_FILES:
        p = kb_dir / name
        h.update(name.encode())
        h.update(p.read_bytes() if p.exists() else b"<missing>")
    return h.hexdigest()[:16]


def _read_yaml(path: Path, problems: list[Problem]) -> Any:
    if not path.exists():
        problems.append(Problem(path.name, "", "", "file is missing"))
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        problems.append(Problem(path.name, where, "", f"not valid YAML: {getattr(e, 'problem', e)}"))
        return None


def _entry_name(data: Any, loc: tuple) -> tuple[str, str]:
    """Turn a pydantic error location into ("services[3] id=foo", "agency")."""
    node, entry, rest = data, [], list(loc)
    while rest:
        key = rest[0]
        try:
            child = node[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(key, int):
            ident = child.get("id") or child.get("name") if isinstance(child, dict) else None
            entry.append(f"[{key}]" + (f" {ident}" if ident else ""))
        else:
            entry.append(str(key))
        rest.pop(0)
        node = child
        if isinstance(node, dict) and rest and isinstance(rest[0], str) and len(rest) == 1:
            break
    return " ".join(entry), ".".join(str(x) for x in rest)


def _validate(model: type[M], data: Any, file: str, problems: list[Problem]) -> M | None:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            entry, fld = _entry_name(data, err["loc"])
            problems.append(Problem(file, entry, fld, err["msg"]))
        return None


def _duplicates(ids: list[str]) -> list[str]:
    return [i for i, n in Counter(ids).items() if n > 1]


def check_references(plan: Plan, catalogue: ServiceCatalogue, agencies: AgencyDirectory, directory: CommunityDirectory) -> list[Problem]:
    problems: list[Problem] = []
    plan_agencies = set(plan.all_agencies)
    clause_ids = {s.id for _, s in plan.clauses} | {a.id for a in plan.actions} | {i.id for i in plan.indicators}
    for dup in _duplicates([s.id for s in catalogue.services]):
        problems.append(Problem("services.yml", dup, "id", "duplicate id"))
    for s in catalogue.services:
        if s.agency not in plan_agencies:
            problems.append(Problem("services.yml", s.id, "agency", f"unknown agency {s.agency!r}: the plan names {sorted(plan_agencies)}"))
        if s.clause not in clause_ids:
            problems.append(Problem("services.yml", s.id, "clause", f"no clause {s.clause!r} in the plan"))
    names = [a.name for a in agencies.agencies]
    for dup in _duplicates(names):
        problems.append(Problem("agencies.yml", dup, "name", "duplicate agency"))
    for a in agencies.agencies:
        if a.name not in plan_agencies:
            problems.append(Problem("agencies.yml", a.name, "name", "the plan does not name this agency"))
    for missing in sorted(plan_agencies - set(names)):
        problems.append(Problem("agencies.yml", missing, "", "agency named by the plan has no entry"))
    category_ids = [c.id for c in directory.categories]
    for dup in _duplicates(category_ids):
        problems.append(Problem("communities.yml", dup, "id", "duplicate category id"))
    for dup in _duplicates([c.id for c in directory.communities]):
        problems.append(Problem("communities.yml", dup, "id", "duplicate community id"))
    committee_ids = [m.id for c in directory.communities for m in c.committees]
    for dup in _duplicates(committee_ids):
        problems.append(Problem("communities.yml", dup, "id", "duplicate committee id"))
    for c in directory.communities:
        fallbacks = [m for m in c.committees if m.fallback]
        if len(fallbacks) != 1:
            problems.append(Problem("communities.yml", c.id, "committees", f"needs exactly one fallback committee, has {len(fallbacks)}"))
        expected = "居民委员会" if c.kind == "社区" else "村民委员会"
        for m in fallbacks:
            if m.type != expected:
                problems.append(Problem("communities.yml", m.id, "type", f"the fallback of a {c.kind} must be a {expected}"))
        for m in c.committees:
            for cat in m.categories:
                if cat not in category_ids:
                    problems.append(Problem("communities.yml", m.id, "categories", f"unknown category {cat!r}"))
            if m.compound and m.compound not in c.compounds:
                problems.append(Problem("communities.yml", m.id, "compound", f"{m.compound!r} is not a compound of {c.id}"))
    return problems


def load_kb(kb_dir: Path | None = None) -> KnowledgeBase:
    if kb_dir is None:
        from bot.settings import get_settings

        kb_dir = get_settings().kb_dir
    problems: list[Problem] = []
    plan = None
    try:
        plan = load_plan(kb_dir)
    except FileNotFoundError:
        problems.append(Problem("plan_excerpt.txt", "", "", "file is missing"))
    except (PlanParseError, KeyError, yaml.YAMLError) as e:
        problems.append(Problem("plan_excerpt.txt / errata.yml", "", "", str(e)))
    catalogue = _validate(ServiceCatalogue, _read_yaml(kb_dir / "services.yml", problems), "services.yml", problems)
    agencies = _validate(AgencyDirectory, _read_yaml(kb_dir / "agencies.yml", problems), "agencies.yml", problems)
    directory = _validate(CommunityDirectory, _read_yaml(kb_dir / "communities.yml", problems), "communities.yml", problems)
    if plan and catalogue and agencies and directory:
        problems += check_references(plan, catalogue, agencies, directory)
    if problems:
        raise KBError(problems)
    assert plan and catalogue and agencies and directory
    return KnowledgeBase(kb_dir, plan, catalogue.services, agencies, directory, fingerprint(kb_dir))
