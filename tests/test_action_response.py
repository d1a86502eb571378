"""rasa_addons.action_response: Rasa's action-response check with the schema checked once gives the same verdicts."""

from __future__ import annotations

import json
import subprocess

from tests.stack import RASA_PYTHON, REPO

# Runs in the engine env (Rasa 3.6): every response judged by Rasa's own check and by the installed one.
_SCRIPT = r"""
import json, sys
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa_addons import action_response

cases = json.loads(sys.stdin.read())
action = RemoteAction("action_answer_question", None)

def verdicts():
    out = []
    for case in cases:
        try:
            out.append(action._validate_action_result(case))
        except ValidationError as e:
            out.append("invalid: " + ("custom-actions" in e.message and "hint" or "no hint"))
    return out

stock = verdicts()
original = RemoteAction._validate_action_result
action_response.install()
action_response.install()  # idempotent
print(json.dumps({"stock": stock, "fast": verdicts(), "replaced": RemoteAction._validate_action_result is not original}))
"""

CASES = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "topic", "value": "电梯坏了"}], "responses": [{"text": "好的"}]},
    {"events": [{"event": "bot", "text": "您好"}, {"event": "action", "name": "action_listen"}]},
    {"responses": [{"text": "答复", "buttons": [{"title": "是", "payload": "/affirm"}]}]},
    {"events": "not a list"},
    {"events": [{"no_event_key": 1}]},
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"responses": ["a string, not an object"]},
    [],
]


def test_installed_check_gives_rasas_verdicts_and_hint():
    proc = subprocess.run(
        [str(RASA_PYTHON), "-W", "ignore", "-c", _SCRIPT],
        input=json.dumps(CASES, ensure_ascii=False),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replaced"]
    assert out["fast"] == out["stock"]
    assert out["stock"][:4] == [True] * 4
    assert all(v == "invalid: hint" for v in out["stock"][4:]), out["stock"]
