"""YAML parsed by libyaml when PyYAML was built with it: the knowledge base's files are parsed on every load and every
publish, and the pure-Python parser was most of a publish (~1 s on 2 shared cores). Same safe constructor, so the
same values and the same ``yaml.YAMLError`` (with its mark) for a broken file.

Even with libyaml, building the Python objects is pure Python: the assistant's data files (the scope probe's
labelled messages and the blind sets it learns from, some 100,000 nodes) took 2.4 s of every ``Assistant.build``,
once per process (each test worker, each action server). :func:`load_file` keeps each file's parsed form as JSON
under ``.cache/parsed``, keyed on the file's bytes, so an unchanged file is parsed once per machine."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import yaml

SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PARSED_DIR = Path(__file__).resolve().parents[2] / ".cache" / "parsed"


def safe_load(text: str):
    """``yaml.safe_load``, faster."""
    return yaml.load(text, Loader=SafeLoader)  # noqa: S506 (a safe loader)


def load_file(path: Path | str, cache_dir: Path = PARSED_DIR):
    """The parsed content of a YAML file, from the JSON kept for these exact bytes when there is one.

    A value JSON cannot hold unchanged (a date, a non-string key) is never kept: such a file is parsed every time."""
    data = Path(path).read_bytes()
    cached = Path(cache_dir) / f"{hashlib.sha256(data).hexdigest()[:32]}.json"
    try:
        return json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    value = safe_load(data.decode("utf-8"))
    try:
        text = json.dumps(value, ensure_ascii=False)
        if json.loads(text) != value:
            return value
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.tmp")  # one per writer; readers never see half a file
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(cached)
    except (TypeError, ValueError, OSError):
        pass  # not JSON-shaped, or a read-only checkout: parsed again next time
    return value
