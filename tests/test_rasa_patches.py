"""rasa_addons.event_types and rasa_addons.log_copies: the same event classes and log records, less CPU per message."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.stack import RASA_PYTHON, REPO

pytestmark = pytest.mark.rasa  # it runs Rasa's own code in the engine env (not part of `make test-fast`)

# Runs in the engine env (Rasa 3.6).
_SCRIPT = r"""
import ast, copy, importlib, inspect, json, logging
from rasa.shared.core import events
from rasa.shared.core.events import Event, UserUttered, deserialise_events
from rasa.shared.utils.common import all_subclasses
from rasa_addons import event_types, log_copies

names = sorted({c.type_name for c in all_subclasses(Event)})
probes = [*names, "no_such_event", "topic"]

def resolve(name, default=None):
    try:
        cls = Event.resolve_by_type(name, default)
    except ValueError as e:
        return "ValueError: " + str(e)
    return cls and cls.__name__

def verdicts():
    return [resolve(n) for n in probes] + [resolve(n, UserUttered) for n in probes]

conversation = [
    {"event": "action", "name": "action_session_start"},
    {"event": "session_started"},
    {"event": "user", "text": "/affirm", "parse_data": {"intent": {"name": "affirm", "confidence": 1.0}}},
    {"event": "slot", "name": "contact_choice", "value": "anonymous"},
    {"event": "active_loop", "name": "consultation_form"},
    {"event": "bot", "text": "好的"},
    {"event": "followup", "name": "action_listen"},
]
for i, e in enumerate(conversation):
    e["timestamp"] = 1700000000.0 + i  # fixed: a missing one would be "now"
stock = verdicts()
stock_events = [e.as_dict() for e in deserialise_events(conversation)]
original = Event.resolve_by_type
event_types.install()
event_types.install()  # idempotent
out = {
    "names": len(names),
    "stock": stock,
    "fast": verdicts(),
    "fast_again": verdicts(),
    "same_events": [e.as_dict() for e in deserialise_events(conversation)] == stock_events,
    "replaced": Event.resolve_by_type is not original and Event.resolve_by_type.lookup is original,
}

# Every copy.deepcopy in the patched modules is an argument of a structlogger.debug call.
stray = []
for name in log_copies.MODULES:
    tree = ast.parse(inspect.getsource(importlib.import_module(name)))
    inside = set()
    for node in ast.walk(tree):
        f = getattr(node, "func", None)
        if isinstance(f, ast.Attribute) and f.attr == "debug" and getattr(f.value, "id", "") == "structlogger":
            inside |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        f = getattr(node, "func", None)
        if isinstance(f, ast.Attribute) and f.attr == "deepcopy" and id(node) not in inside:
            stray.append(f"{name}:{node.lineno}")
    # and nothing else of copy is used through another name
    stray += [f"{name}: from copy import" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "copy"]
out["stray"] = stray

log_copies.install()
log_copies.install()
import rasa.core.processor as processor
value = {"events": [{"event": "slot", "value": ["a"]}]}
logging.getLogger("rasa").setLevel(logging.INFO)
info = processor.copy.deepcopy(value)
logging.getLogger("rasa").setLevel(logging.DEBUG)
debug = processor.copy.deepcopy(value)
out["info_is_same_object"] = info is value
out["debug_is_a_copy"] = debug is not value and debug == value and debug["events"] is not value["events"]
out["other_copy_functions"] = processor.copy.copy(value) == value and processor.copy.copy(value) is not value
out["shims"] = [type(importlib.import_module(n).copy).__name__ for n in log_copies.MODULES]
print(json.dumps(out, ensure_ascii=False))
"""


def _run() -> dict:
    proc = subprocess.run(
        [str(RASA_PYTHON), "-W", "ignore", "-c", _SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_event_lookup_and_log_copies_keep_rasas_behaviour():
    out = _run()
    assert out["replaced"]
    assert out["names"] > 20  # every Rasa event type was probed
    assert out["fast"] == out["stock"] and out["fast_again"] == out["stock"]
    assert any(v.startswith("ValueError: Unknown event name") for v in out["stock"])  # unknown names still refused
    assert out["same_events"]
    assert out["stray"] == [], "a deepcopy in a patched module is not a debug-log argument"
    assert out["shims"] == ["LogArgumentCopy"] * 3
    assert out["info_is_same_object"] and out["debug_is_a_copy"] and out["other_copy_functions"]
