"""Validate each action server response against a schema checked once, not once per call.

Rasa 3.6's ``RemoteAction._validate_action_result`` calls ``jsonschema.validate(result, schema)`` on every
custom action call. ``jsonschema.validate`` first checks the *schema* against its meta-schema (draft 2020-12
with jsonschema 4.17: ``$dynamicRef`` resolution, URL splitting) and only then the response. With the
events schema that check is about half of the Rasa process's CPU per message (py-spy under
``bench/bench_load.py``: 53 % of samples in ``_validate_action_result``, 50 % in ``check_schema``). The
schema is Rasa's own constant, so it is checked here once and the response is validated by one compiled
validator: the same rules, the same ``ValidationError`` (with Rasa's hint) on a bad response.

:func:`install` is called by ``rasa_addons.run`` before Rasa starts.
"""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    """Replace ``RemoteAction._validate_action_result`` with a pre-checked validator (idempotent)."""
    global _installed
    if _installed:
        return
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, as jsonschema.validate would do on every call
    validator = cls(schema)

    def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, "
                "make sure your response from the Action endpoint is valid. "
                f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result
    _installed = True
