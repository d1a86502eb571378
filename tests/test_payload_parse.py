"""rasa_addons.payload_parse: a button payload parsed without the NLU graph gives the graph's parse data, and
anything else (typed text, unknown or malformed payloads) still runs the graph, with the trained model."""

from __future__ import annotations

import ast
import json
import re
import subprocess

import pytest
import yaml

from tests.stack import RASA_PYTHON, REPO, _rasa_env, ensure_model

pytestmark = pytest.mark.rasa

# Runs in the engine env: each text parsed by Rasa's own method (the whole graph) and by the installed one,
# counting the graph runs the installed one makes.
_SCRIPT = r"""
import json, sys
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_addons import payload_parse

cases = json.loads(sys.stdin.read())
processor = Agent.load(cases["model"]).processor
payload_parse.install()
payload_parse.install()  # idempotent
fast = MessageProcessor._parse_message_with_graph
graph = fast.through_graph
runs = []
run = processor.graph_runner.run
processor.graph_runner.run = lambda *a, **k: runs.append(1) or run(*a, **k)
tracker = DialogueStateTracker.from_events("payload-test", [])
out = {"twice": graph is not fast and getattr(graph, "through_graph", None) is None, "cases": {}}
for text in cases["texts"]:
    message = UserMessage(text, sender_id="payload-test")
    full = graph(processor, message, tracker)
    before = len(runs)
    short = fast(processor, message, tracker)
    ran = len(runs) > before
    same_unfiltered = ran or fast(processor, message, tracker, False) == graph(processor, message, tracker, False)
    out["cases"][text] = {"graph": full, "fast": short, "ran_graph": ran, "same_unfiltered": same_unfiltered}
print(json.dumps(out, ensure_ascii=False, default=str))
"""

TRACKING_NO = "YS-20260101-0001"
_PAYLOAD = re.compile(r"^/(\w+)(\{.*\})?$", re.S)


def _domain() -> dict:
    return yaml.safe_load((REPO / "domain.yml").read_text(encoding="utf-8"))


def _domain_button_payloads(domain: dict) -> set[str]:
    return {
        b["payload"]
        for variants in domain["responses"].values()
        for v in variants
        for b in v.get("buttons") or []
        if "payload" in b
    }


def _action_payload_shapes() -> set[tuple[str, frozenset[str]]]:
    """(intent, entity names) of every payload-with-entities string or f-string in actions/*.py."""
    shapes = set()
    for path in (REPO / "actions").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            if id(node) in parts:
                continue
            if isinstance(node, ast.JoinedStr):
                text = "".join(str(v.value) if isinstance(v, ast.Constant) else "X" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            else:
                continue
            m = re.match(r"^/(\w+)\{", text)
            if m:
                shapes.add((m.group(1), frozenset(re.findall(r'"(\w+)":', text))))
    return shapes


def _shape(payload: str) -> tuple[str, frozenset[str]]:
    m = _PAYLOAD.match(payload.strip())
    return m.group(1), frozenset(json.loads(m.group(2)) if m.group(2) else ())


def _action_payloads() -> set[str]:
    from actions import answers, consultation_form, correction, loop
    from bot.kb.loader import load_kb

    buttons = [
        answers.CONSULT_BUTTON,
        answers.HANDOFF_BUTTON,
        *answers.THUMBS,
        *({"payload": p} for _, _, p in answers.FOLLOW_UPS),
        *consultation_form.CONTACT_CHOICE_BUTTONS,
        *consultation_form.community_buttons(load_kb().communities),
        *correction.WHICH_FIELD_BUTTONS,
        *loop.rating_buttons(TRACKING_NO),
        loop.urge_button(TRACKING_NO),
        *loop.COSIGN_BUTTONS,
        {"payload": f'/check_consultation_status{{"tracking_number":"{TRACKING_NO}"}}'},  # after a submission
    ]
    return {b["payload"] for b in buttons}


def _entity_variants(domain: dict) -> list[str]:
    entities = domain["entities"]
    one_each = [f'/inform{{"{e}":"示例 {e}"}}' for e in entities]
    return [
        *one_each,
        "  /affirm  ",
        '/inform{"community":["c1","c2"],"contact_choice":"anonymous"}',
        '/inform{"note":"电梯坏了 /affirm {x}","tracking_number":null}',
        '/inform{"note":{"nested":1}}',
        '/affirm{"contact_choice":"anonymous"}',
        '/withdraw_consultation{"tracking_number":"%s"}' % TRACKING_NO,
        "/withdraw_consultation",  # typed by a resident: the guards demote it in words, never as a payload
        "/goodbye",
        "/" + "inform" + '{"note":"%s"}' % ("长" * 600),  # past MessageGuard's max_chars
    ]


#: Texts the graph must still judge: typed words, unknown intents or entities, malformed syntax.
THROUGH_GRAPH = [
    "/nonexistent",
    "/inform{bad json",
    '/inform{"contact_choice":"anonymous"',
    '/inform{"unknown_entity":"x"}',
    '/inform{"contact_choice":"anonymous"}{"community":"x"}',
    '/inform{"contact_choice":"anonymous"} 谢谢',
    "/inform[1]",
    '/inform{"a":1}x',
    "/inform{[1]}",
    "/affirm@0.9",
    "/affirm{}",  # Rasa's pattern reads "{}" as trailing text
    "/affirm 好的",
    "/",
    "//affirm",
    "/ 好的",
    "我要撤回 " + TRACKING_NO,
    "撤回 /withdraw_consultation",
    "好的",
    "👍",
    "电梯坏了三天了",
]


@pytest.fixture(scope="module")
def parsed() -> dict:
    domain = _domain()
    valid = sorted(
        _domain_button_payloads(domain)
        | _action_payloads()
        | {f"/{i}" for i in domain["intents"]}
        | set(_entity_variants(domain))
    )
    missing = _action_payload_shapes() - {_shape(p) for p in valid}
    assert not missing, f"payloads in actions/ not in this test's list: {missing}"
    model = ensure_model()
    proc = subprocess.run(
        [str(RASA_PYTHON), "-W", "ignore", "-c", _SCRIPT],
        input=json.dumps({"model": str(model), "texts": valid + THROUGH_GRAPH}, ensure_ascii=False),
        cwd=REPO,
        env=_rasa_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["twice"], "install() wrapped the method twice"
    return {"valid": valid, "cases": out["cases"], "domain": domain}


def test_every_button_payload_skips_the_graph_with_the_graphs_parse_data(parsed):
    for text in parsed["valid"]:
        case = parsed["cases"][text]
        assert not case["ran_graph"], text
        assert case["fast"] == case["graph"], text
        assert case["same_unfiltered"], text
        m = _PAYLOAD.match(text.strip())
        name = m.group(1)
        assert case["graph"]["intent"] == {"name": name, "confidence": 1.0}, text
        assert case["graph"]["intent_ranking"][0]["name"] == name, text
        arguments = json.loads(m.group(2)) if m.group(2) else {}
        expected = sorted(
            (k, json.dumps(v, ensure_ascii=False))
            for k, values in arguments.items()
            for v in (values if isinstance(values, list) else [values])
        )
        got = sorted((e["entity"], json.dumps(e["value"], ensure_ascii=False)) for e in case["graph"]["entities"])
        assert got == expected, text


def test_the_form_buttons_set_their_slots_from_the_same_entities(parsed):
    """Slots come from the entities (from_entity mappings): equal entities set equal slots."""
    slots = parsed["domain"]["slots"]
    mapped = {
        m["entity"]: name
        for name, s in slots.items()
        for m in s.get("mappings") or []
        if m.get("type") == "from_entity"
    }
    for text in ('/inform{"contact_choice":"anonymous"}', '/inform{"cosign_choice":"cosign"}'):
        case = parsed["cases"][text]
        entity = case["fast"]["entities"][0]["entity"]
        assert entity in mapped, (text, entity)
        assert case["fast"]["entities"] == case["graph"]["entities"]


def test_typed_unknown_and_malformed_texts_still_run_the_graph_unchanged(parsed):
    for text in THROUGH_GRAPH:
        case = parsed["cases"][text]
        assert case["ran_graph"], text
        assert case["fast"] == case["graph"], text
    # The guards still judge typed words: a withdrawal verb without a payload is not trusted blindly.
    assert parsed["cases"]["/nonexistent"]["graph"]["intent"]["name"] != "nonexistent"
