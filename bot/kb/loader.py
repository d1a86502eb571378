"""Load the knowledge base and check it as a whole.

Every problem is reported as (file, entry, field, message) so that whoever edits the YAML
by hand can find the line to fix; :func:`load_kb` raises :class:`KBError` with all of them.
A folder holds the seed plan, the catalogue and directory, and optionally ``documents.yml`` listing
imported documents (their text in ``documents/``). :func:`load_kb` without a folder loads the
published version the configured folder points at (``bot.kb.versions``), else the folder itself.
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

from bot.kb import yamlload
from bot.kb.documents.model import Chapter, Document, Indicator
from bot.kb.documents.parser import parse_document
from bot.kb.models import AgencyDirectory, Community, CommunityDirectory, Service, ServiceCatalogue
from bot.kb.plan import SEED_CITE, SEED_ID, SEED_TITLE, Plan, PlanParseError, load_plan
from bot.kb.qa import QA_FILE, citable_ids, load_qa

KB_FILES = ("plan_excerpt.txt", "errata.yml", "services.yml", "agencies.yml", "communities.yml")
DOCUMENTS_FILE = "documents.yml"
DOCUMENTS_DIR = "documents"
SEED_VERSION = "seed"

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
    documents: list[Document] = field(default_factory=list)  # the seed plan first, then imported documents
    version: str = SEED_VERSION  # the published knowledge version ("seed": the folder in git)
    qa: list = field(default_factory=list)  # reviewed Q&A entries (bot.kb.qa), from the desk's learning queue
    _service_by_id: dict[str, Service] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._service_by_id = {s.id: s for s in self.services}
        if not self.documents:
            self.documents = [Document(SEED_ID, SEED_TITLE, SEED_CITE, self.plan, "plan_excerpt.txt")]

    def document(self, document_id: str) -> Document:
        for d in self.documents:
            if d.id == document_id:
                return d
        raise KeyError(document_id)

    @property
    def indicators(self) -> list[Indicator]:
        return [i for d in self.documents for i in d.plan.indicators]

    def locate(self, item_id: str) -> tuple[Document, Chapter | None]:
        """The document of a clause, action or indicator id, and the chapter it belongs to (None for an indicator)."""
        for d in self.documents:
            p = d.plan
            if item_id.startswith(f"{d.id}-") and any(s.id == item_id for _, s in p.clauses):
                return d, p.clause(item_id)[0]
            for a in p.actions:
                if a.id == item_id:
                    return d, next((c for c in p.chapters if c.id == a.after_chapter), None)
            if any(i.id == item_id for i in p.indicators):
                return d, None
        raise KeyError(item_id)

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
        docs = [d.plan for d in self.documents]
        return {
            "documents": len(self.documents),
            "clauses": sum(len(p.clauses) for p in docs),
            "chapters": sum(len(p.chapters) for p in docs),
            "indicators": sum(len(p.indicators) for p in docs),
            "actions": sum(len(p.actions) for p in docs),
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
    if (kb_dir / DOCUMENTS_FILE).exists() or (kb_dir / QA_FILE).exists():  # else the seed's fingerprint stays
        for p in [kb_dir / DOCUMENTS_FILE, kb_dir / QA_FILE, *sorted((kb_dir / DOCUMENTS_DIR).glob("*"))]:
            if p.is_file():
                h.update(p.relative_to(kb_dir).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def load_documents(kb_dir: Path, problems: list[Problem]) -> list[Document]:
    """The imported documents listed in ``documents.yml`` (parsed from their stored text)."""
    raw = _read_yaml(kb_dir / DOCUMENTS_FILE, problems) if (kb_dir / DOCUMENTS_FILE).exists() else None
    out: list[Document] = []
    for k, entry in enumerate((raw or {}).get("documents", []) if isinstance(raw, dict) else []):
        where = f"[{k}] {entry.get('id', '')}" if isinstance(entry, dict) else f"[{k}]"
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(f), str) and entry.get(f) for f in ("id", "title", "file")
        ):
            problems.append(Problem(DOCUMENTS_FILE, where, "", "each document needs an id, a title and a file"))
            continue
        if entry["id"] == SEED_ID or any(d.id == entry["id"] for d in out):
            problems.append(Problem(DOCUMENTS_FILE, where, "id", "duplicate document id"))
            continue
        path = kb_dir / entry["file"]
        if not path.is_file() or kb_dir.resolve() not in path.resolve().parents:
            problems.append(Problem(DOCUMENTS_FILE, where, "file", f"no document text at {entry['file']}"))
            continue
        doc_id = entry["id"]
        parsed = parse_document(path.read_text(encoding="utf-8"), prefix=doc_id, item_prefix=f"{doc_id}-")
        out.append(
            Document(
                doc_id,
                entry["title"],
                str(entry.get("cite") or entry["title"]),
                parsed.plan,
                entry["file"],
                str(entry.get("source", "")),
                tuple(parsed.problems),
            )
        )
    return out


def _read_yaml(path: Path, problems: list[Problem]) -> Any:
    if not path.exists():
        problems.append(Problem(path.name, "", "", "file is missing"))
        return None
    try:
        return yamlload.safe_load(path.read_text(encoding="utf-8"))
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


def check_references(
    plan: Plan,
    catalogue: ServiceCatalogue,
    agencies: AgencyDirectory,
    directory: CommunityDirectory,
    others: list[Plan] = (),
) -> list[Problem]:
    """Cross-file checks; ``others`` are imported documents: their clauses and agencies may be cited by services,
    but their agencies need no entry in agencies.yml (the seed's do: residents are told their full names)."""
    problems: list[Problem] = []
    seed_agencies = set(plan.all_agencies)
    plan_agencies = seed_agencies.union(*(p.all_agencies for p in others))
    clause_ids = {
        x
        for p in (plan, *others)
        for x in [*(s.id for _, s in p.clauses), *(a.id for a in p.actions), *(i.id for i in p.indicators)]
    }
    for dup in _duplicates([s.id for s in catalogue.services]):
        problems.append(Problem("services.yml", dup, "id", "duplicate id"))
    for s in catalogue.services:
        if s.agency not in plan_agencies:
            problems.append(
                Problem(
                    "services.yml",
                    s.id,
                    "agency",
                    f"unknown agency {s.agency!r}: the plan names {sorted(plan_agencies)}",
                )
            )
        if s.clause not in clause_ids:
            problems.append(Problem("services.yml", s.id, "clause", f"no clause {s.clause!r} in the plan"))
    names = [a.name for a in agencies.agencies]
    for dup in _duplicates(names):
        problems.append(Problem("agencies.yml", dup, "name", "duplicate agency"))
    for a in agencies.agencies:
        if a.name not in plan_agencies:
            problems.append(Problem("agencies.yml", a.name, "name", "the plan does not name this agency"))
    for missing in sorted(seed_agencies - set(names)):
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
            problems.append(
                Problem(
                    "communities.yml", c.id, "committees", f"needs exactly one fallback committee, has {len(fallbacks)}"
                )
            )
        expected = "居民委员会" if c.kind == "社区" else "村民委员会"
        for m in fallbacks:
            if m.type != expected:
                problems.append(
                    Problem("communities.yml", m.id, "type", f"the fallback of a {c.kind} must be a {expected}")
                )
        for m in c.committees:
            for cat in m.categories:
                if cat not in category_ids:
                    problems.append(Problem("communities.yml", m.id, "categories", f"unknown category {cat!r}"))
            if m.compound and m.compound not in c.compounds:
                problems.append(
                    Problem("communities.yml", m.id, "compound", f"{m.compound!r} is not a compound of {c.id}")
                )
    return problems


def load_kb(kb_dir: Path | None = None) -> KnowledgeBase:
    """The knowledge base in ``kb_dir``; without it, the current published version of the configured folder."""
    if kb_dir is None:
        from bot.kb.versions import current_dir
        from bot.settings import get_settings

        kb_dir = current_dir(get_settings().kb_dir)
    kb_dir = Path(kb_dir)
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
    directory = _validate(
        CommunityDirectory, _read_yaml(kb_dir / "communities.yml", problems), "communities.yml", problems
    )
    documents = load_documents(kb_dir, problems)
    if plan and catalogue and agencies and directory:
        problems += check_references(plan, catalogue, agencies, directory, [d.plan for d in documents])
    qa = []
    if plan and catalogue:
        qa = load_qa(kb_dir, citable_ids([plan, *(d.plan for d in documents)], catalogue.services), problems)
    if problems:
        raise KBError(problems)
    assert plan and catalogue and agencies and directory
    seed = Document(SEED_ID, SEED_TITLE, SEED_CITE, plan, "plan_excerpt.txt")
    version = kb_dir.name if kb_dir.parent.name == "versions" else SEED_VERSION
    return KnowledgeBase(
        kb_dir, plan, catalogue.services, agencies, directory, fingerprint(kb_dir), [seed, *documents], version, qa
    )
