"""Last NLU step: messages no classifier should judge get a fixed intent with confidence 1.0.

DIET labels a 10 000-character paste or a row of emoji with whatever intent is nearest, so the
resident gets a greeting or an unrelated answer. This guard overrides the intent with
``message_too_long`` (more than ``max_chars`` characters, the app's ``max_question_chars``) or
``message_unreadable`` (no letter, CJK character or digit), which rules answer politely.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from linli_common.text import MAX_QUESTION_CHARS

TOO_LONG = "message_too_long"
UNREADABLE = "message_unreadable"


def is_readable(text: str, meaningful_symbols: str = "") -> bool:
    """True if the text has a letter (any script, incl. CJK), a number, or one of ``meaningful_symbols`` (👍/👎)."""
    for ch in text:
        if ch in meaningful_symbols:
            return True
        cat = unicodedata.category(ch)
        if cat[0] in "LN":
            return True
    return False


def guard_intent(text: str | None, max_chars: int, meaningful_symbols: str = "") -> str | None:
    """The intent the guard forces for ``text``, or None when the classifiers should decide."""
    stripped = (text or "").strip()
    if len(stripped) > max_chars:
        return TOO_LONG
    if not is_readable(stripped, meaningful_symbols):
        return UNREADABLE
    return None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class MessageGuard(GraphComponent, IntentClassifier):
    """Overrides the intent of over-long and unreadable messages (place it last in the pipeline)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # config.yml's max_chars must match it (tests/test_rasa_data.py checks it).
        return {"max_chars": MAX_QUESTION_CHARS, "meaningful_symbols": "👍👎👌"}

    def __init__(self, config: dict[str, Any]) -> None:
        self.max_chars = int(config["max_chars"])
        self.meaningful_symbols = str(config.get("meaningful_symbols") or "")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MessageGuard:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            forced = guard_intent(message.get(TEXT), self.max_chars, self.meaningful_symbols)
            predicted = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if forced is not None:
                self._set_intent(message, forced, 1.0)
                message.set(ENTITIES, [], add_to_output=True)  # spans in a paste or emoji row mean nothing
            elif predicted in (TOO_LONG, UNREADABLE):
                # DIET learned the guard's intents from examples; for other text it is only a guess.
                confidence = (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY) or 0.0
                self._set_intent(message, DEFAULT_NLU_FALLBACK_INTENT_NAME, float(confidence))
        return messages

    @staticmethod
    def _set_intent(message: Message, name: str, confidence: float) -> None:
        intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
        ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != name]
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)
