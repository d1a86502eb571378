"""Parse a well-formed button payload (``/intent{json}``) without running the NLU graph.

Rasa 3.6 runs every message through the whole NLU graph (jieba, featurizers, DIET, our guards) and only at
its end lets ``RegexMessageHandler`` replace a ``/intent{…}`` message by a *new* message built from the
payload alone (``YAMLStoryReader.unpack_regex_message``): nothing computed before it survives. Nearly half of
form traffic is button presses, and the NLU graph is about 38 % of Rasa's CPU per message (py-spy under
``bench/bench_load.py``). So a payload Rasa would unpack without a warning (known intent, no confidence suffix,
a JSON object of known entities, nothing after it) is unpacked here by Rasa's own function, with the same
domain and extractor name, and the graph is skipped. Anything else (typed text, an unknown intent, broken
JSON, trailing text) goes through the graph exactly as before, warnings included.

:func:`install` is called by ``rasa_addons.run`` before Rasa starts.
"""

from __future__ import annotations

import json
from typing import Any

from rasa.core.processor import MessageProcessor
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

_PATTERN = YAMLStoryReader._regex_message_pattern()
_installed = False


def unpacked_payload(text: str | None, domain: Domain) -> Message | None:
    """The message ``RegexMessageHandler`` would produce for ``text``, or None when the graph must judge it."""
    stripped = (text or "").strip()
    if not stripped.startswith(INTENT_MESSAGE_PREFIX):
        return None
    match = _PATTERN.match(stripped)
    if match is None or match.group("rest") or match.group(PREDICTED_CONFIDENCE_KEY) is not None:
        return None
    if match.group(INTENT_NAME_KEY).strip() not in domain.intents:
        return None
    raw = match.group(ENTITIES)
    if raw is not None:
        try:
            arguments = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(arguments, dict) or not set(arguments) <= set(domain.entities):
            return None
    probe = Message(data={TEXT: text})
    result = YAMLStoryReader.unpack_regex_message(probe, domain, entity_extractor_name=RegexMessageHandler.__name__)
    return None if result is probe else result


def install() -> None:
    """Wrap ``MessageProcessor._parse_message_with_graph`` with the payload short cut (idempotent)."""
    global _installed
    if _installed:
        return
    through_graph = MessageProcessor._parse_message_with_graph

    def _parse_message_with_graph(
        self: MessageProcessor, message: Any, tracker: Any, only_output_properties: bool = True
    ) -> dict[str, Any]:
        parsed = unpacked_payload(message.text, self.domain)
        if parsed is None:
            return through_graph(self, message, tracker, only_output_properties)
        # The same defaults and output filter as Rasa's own method.
        parse_data: dict[str, Any] = {
            TEXT: "",
            INTENT: {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0},
            ENTITIES: [],
        }
        parse_data.update(parsed.as_dict(only_output_properties=only_output_properties))
        return parse_data

    _parse_message_with_graph.through_graph = through_graph  # type: ignore[attr-defined]  # for tests
    MessageProcessor._parse_message_with_graph = _parse_message_with_graph
    _installed = True
