"""`make run` shows progress and errors, and keeps the libraries' warnings in var/log/ (scripts/console.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from tests.stack import REPO

CONSOLE = REPO / "scripts" / "console.py"

# lines seen on the terminal of `make run` before the filter (TensorFlow, pkg_resources, pyparsing, Rasa)
NOISE = [
    "2026-12-01 10:00:01.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations are on.",
    "2026-12-01 10:00:02.000000: E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:9261] Unable to register cuDNN factory",
    "/x/.venv-rasa/lib/python3.10/site-packages/rasa/shared/utils/validation.py:2: DeprecationWarning: pkg_resources is deprecated as an API.",
    "  import pkg_resources",
    "/x/site-packages/pyparsing.py:108: DeprecationWarning: module 'sre_constants' is deprecated",
    "/x/site-packages/tensorflow/python/framework/dtypes.py:35: UserWarning: a NumPy error: Error in numpy",
    "  warnings.warn(",
    "knowledge base OK: clauses=29, chapters=3, indicators=8",
    "2026-12-01 10:00:03 INFO     root  - Starting Rasa server on http://127.0.0.1:5005",
]
SHOWN = [
    "\x1b[1;34m[setup]\x1b[0m checking the knowledge base",
    "[train] model is up to date (0123456789abcdef)",
    "[run] waiting for the servers…",
    "\x1b[1;31m[setup]\x1b[0m knowledge_base/jieba/userdict.txt is stale",
    "Traceback (most recent call last):",
    "sqlite3.OperationalError: unable to open database file",
    "2026-12-01 10:00:04 ERROR    rasa.core.agent  - Could not load model due to Model file not found.",
    "OSError: [Errno 98] Address already in use",
]


def _console():
    spec = importlib.util.spec_from_file_location("console", CONSOLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_progress_and_errors_are_shown_warnings_are_not():
    shown = _console().shown
    assert [line for line in NOISE if shown(line)] == []
    assert [line for line in SHOWN if not shown(line)] == []


def test_every_line_goes_to_the_log_and_only_the_shown_ones_to_the_terminal(tmp_path):
    log = tmp_path / "setup.log"
    log.write_text("earlier run\n", encoding="utf-8")
    lines = [x for pair in zip(NOISE, SHOWN) for x in pair]
    out = subprocess.run(
        [sys.executable, str(CONSOLE), str(log)],
        input="\n".join(lines) + "\n",
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert out.stderr.splitlines() == SHOWN
    assert log.read_text(encoding="utf-8").splitlines() == ["earlier run", *lines]  # appended, nothing dropped
