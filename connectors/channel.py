"""What every channel class says the same way: its Rasa name and how credentials.yml builds its input.

A channel sets ``CHANNEL`` (the name in credentials.yml, in ``output_channel=`` and in tracker events) and
``LOADERS``: one callable per constructor argument, each reading its part of the credentials (env as default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from connectors.config import SharedRedisConfig
from connectors.memory import SharedKeys, connect_shared

Credentials = dict[str, Any] | None


def shared_redis(credentials: Credentials) -> SharedKeys | None:
    """The replicas' Redis named in the credentials or environment (None: this process only)."""
    return connect_shared(SharedRedisConfig.load(credentials))


class Named:
    """Mixin placed before Rasa's InputChannel / OutputChannel base."""

    CHANNEL: ClassVar[str]
    LOADERS: ClassVar[tuple[Callable[[Credentials], Any], ...]] = ()

    @classmethod
    def name(cls) -> str:
        return cls.CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Credentials) -> Any:
        return cls(*(load(credentials) for load in cls.LOADERS))
