"""Copy debug-log arguments only when the debug record is written.

Rasa 3.6 passes deep copies to ``structlogger.debug`` (``rasa_events=copy.deepcopy(events)`` for every
action, the parse data, the rule states, …). Python evaluates them even when the level is INFO and the
record is dropped: about 4 % of the Rasa process's CPU under ``bench/bench_load.py`` (py-spy), most of it
copying each action's events. In the modules below every ``copy.deepcopy`` builds such an argument (checked
by tests/test_rasa_patches.py), so their ``copy`` is replaced by one that copies only when the module's logger
writes DEBUG or an anonymization pipeline (which may rewrite the values, even of dropped records) is set.

:func:`install` is called by ``rasa_addons.run`` before Rasa starts.
"""

from __future__ import annotations

import copy
import logging
from types import ModuleType
from typing import Any

#: Rasa modules whose every ``copy.deepcopy`` is a ``structlogger.debug`` argument.
MODULES = ("rasa.core.processor", "rasa.core.actions.forms", "rasa.core.policies.rule_policy")

_installed = False


class LogArgumentCopy:
    """The ``copy`` module for one Rasa module: ``deepcopy`` is the identity while DEBUG is off."""

    def __init__(self, module: str) -> None:
        self._logger = logging.getLogger(module)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if self._logger.isEnabledFor(logging.DEBUG) or _anonymizing():
            return copy.deepcopy(value, memo)
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _anonymizing() -> bool:
    from rasa.plugin import plugin_manager

    return bool(plugin_manager().hook.get_anonymization_pipeline())


def install() -> None:
    """Give each module of :data:`MODULES` its :class:`LogArgumentCopy` (idempotent)."""
    global _installed
    if _installed:
        return
    import importlib

    for name in MODULES:
        module: ModuleType = importlib.import_module(name)
        if module.copy is not copy:
            raise RuntimeError(f"{name}.copy is not the copy module: check this patch against the Rasa version")
        module.copy = LogArgumentCopy(name)
    _installed = True
