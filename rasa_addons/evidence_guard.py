"""NLU step before MessageGuard: a transactional intent without evidence in the words is demoted.

DIET alone ended conversations on a farewell word inside a question, started the withdrawal flow on a
question about a dispute and recorded consent from a typed name. The rules of ``rasa_addons.evidence``
decide whether the words back the intent; when they do not, the message gets the best-ranked
informational intent (the assistant answers it; inside a form it is answered and the form resumes), or
``nlu_fallback`` for a yes/no that is not one (a form re-asks its question). The original intent is kept
in the parse data as ``demoted_intent`` for logs and tests.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from rasa_addons.evidence import (
    CORRECTABLE,
    CORRECTION_INTENT,
    INFORMATIONAL,
    TO_FALLBACK,
    is_correction,
    lacks_evidence,
)

DEMOTED = "demoted_intent"


def demotion_target(intent: str, ranking: list[dict[str, Any]], text: str | None = None) -> str:
    """Where an intent without evidence goes: yes/no → nlu_fallback; else the best informational intent whose
    own evidence the text has (a phone number read as a status check is no process question either)."""
    if intent in TO_FALLBACK:
        return DEFAULT_NLU_FALLBACK_INTENT_NAME
    for r in ranking:
        if r.get(INTENT_NAME_KEY) in INFORMATIONAL and not lacks_evidence(r[INTENT_NAME_KEY], text):
            return r[INTENT_NAME_KEY]
    return DEFAULT_NLU_FALLBACK_INTENT_NAME


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class EvidenceGuard(GraphComponent, IntentClassifier):
    """Demotes status/withdraw/goodbye/start-form/yes-no intents whose text lacks evidence (after FallbackClassifier);
    a misread correction ("社区选错了" as deny) becomes correct_form_field."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EvidenceGuard:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            text = message.get(TEXT)
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != name]
            if name in CORRECTABLE and is_correction(text):
                target = CORRECTION_INTENT
            elif lacks_evidence(name, text):
                target = demotion_target(name, ranking, text)
            else:
                continue
            new = {
                INTENT_NAME_KEY: target,
                PREDICTED_CONFIDENCE_KEY: float(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0),
            }
            message.set(INTENT, new, add_to_output=True)
            message.set(
                INTENT_RANKING_KEY, [new, *[r for r in ranking if r.get(INTENT_NAME_KEY) != target]], add_to_output=True
            )
            message.set(DEMOTED, name, add_to_output=True)
        return messages
