"""linli_common.timeline and bench/timeline_report.py: marks from several processes land in one file on one clock,
and each mark is assigned to the message in flight when it was made."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.timeline_report import lines, offsets
from linli_common import timeline
from tests.stack import REPO

_MARK = "from linli_common.timeline import mark; import sys; [mark(e) for e in sys.argv[1:]]"


def _mark_in_process(path: str, *events: str) -> None:
    env = {**os.environ, "LINLI_TIMELINE": path}
    subprocess.run([sys.executable, "-c", _MARK, *events], cwd=REPO, env=env, check=True)


def test_marks_of_two_processes_are_assigned_to_the_message_in_flight(tmp_path):
    path = str(tmp_path / "timeline.txt")
    sent = []
    for kind in ("a", "b", "a"):
        t0 = time.monotonic_ns()
        _mark_in_process(path, "x.start", "x.end")
        _mark_in_process(path, "x.start")  # a second occurrence, in another process
        sent.append((kind, t0, time.monotonic_ns()))
    _mark_in_process(path, "late")  # after every message: belongs to none
    marks = timeline.read(path)
    assert [e for _, e in marks] == ["x.start", "x.end", "x.start"] * 3 + ["late"]
    got = offsets(path, sent)
    assert sorted(got) == ["a", "b"]
    assert {k: len(v) for k, v in got["a"].items()} == {"x.start": 2, "x.end": 2, "x.start#2": 2, "bench.reply": 2}
    for kind in ("a", "b"):
        for i in range(len(got[kind]["bench.reply"])):
            assert 0 <= got[kind]["x.start"][i] <= got[kind]["x.end"][i] <= got[kind]["x.start#2"][i]
            assert got[kind]["x.start#2"][i] <= got[kind]["bench.reply"][i]
    report = lines(path, sent)
    assert report[0].startswith("timeline of a (2 messages)") and report[-1].endswith("bench.reply")


def test_without_the_variable_nothing_is_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LINLI_TIMELINE"}
    code = "from linli_common import timeline; timeline.mark('x'); print(timeline.enabled())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        text=True,
        capture_output=True,
        check=True,
    )
    assert out.stdout.strip() == "False" and list(tmp_path.iterdir()) == []
