"""YAML parsed by libyaml when PyYAML was built with it: the knowledge base's files are parsed on every load and every
publish, and the pure-Python parser was most of a publish (~1 s on 2 shared cores). Same safe constructor, so the
same values and the same ``yaml.YAMLError`` (with its mark) for a broken file."""

from __future__ import annotations

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str):
    """``yaml.safe_load``, faster."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 (a safe loader)
