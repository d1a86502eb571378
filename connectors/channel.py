"""What every channel class says the same way: its Rasa name and how credentials.yml builds its input.

A channel sets ``CHANNEL`` (the name in credentials.yml, in ``output_channel=`` and in tracker events) and
``LOADERS``: one callable per constructor argument, each reading its part of the credentials (env as default).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, Optional, Text, Tuple

from connectors.config import SharedRedisConfig
from connectors.memory import SharedKeys, connect_shared

Credentials = Optional[Dict[Text, Any]]


def shared_redis(credentials: Credentials) -> Optional[SharedKeys]:
    """The replicas' Redis named in the credentials or environment (None: this process only)."""
    return connect_shared(SharedRedisConfig.load(credentials))


class Named:
    """Mixin placed before Rasa's InputChannel / OutputChannel base."""

    CHANNEL: ClassVar[str]
    LOADERS: ClassVar[Tuple[Callable[[Credentials], Any], ...]] = ()

    @classmethod
    def name(cls) -> Text:
        return cls.CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Credentials) -> Any:
        return cls(*(load(credentials) for load in cls.LOADERS))
