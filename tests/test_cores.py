"""linli_common/cores.py: Rasa and a one-worker action server on cores of their own, unless told not to."""

import os
import subprocess
import sys

import pytest

from linli_common import cores

ALL = sorted(os.sched_getaffinity(0))
needs_two = pytest.mark.skipif(len(ALL) < 2, reason="the split needs two cores")


@needs_two
def test_the_action_server_takes_the_last_core_and_rasa_the_others():
    actions = cores.cores_for(cores.ACTIONS, 1, env={})
    engine = cores.cores_for(cores.ENGINE, env={"LINLI_ACTION_WORKERS": "1"})
    assert actions == {ALL[-1]} and engine == set(ALL[:-1]) and not actions & engine


@pytest.mark.parametrize(
    ("workers", "env"),
    [
        (2, {}),  # several action workers are there to use every core
        (None, {"LINLI_ACTION_WORKERS": "3"}),  # Rasa reads the same count
        (1, {"LINLI_CPU_SPLIT": "off"}),
        (None, {"LINLI_ACTION_WORKERS": "many"}),  # unreadable: leave the process alone, never fail start-up
    ],
)
def test_no_split_when_workers_share_the_cores_or_it_is_turned_off(workers, env):
    assert cores.cores_for(cores.ACTIONS, workers, env=env) is None
    assert cores.cores_for(cores.ENGINE, workers, env=env) is None


@needs_two
def test_a_pinned_engine_sizes_tensorflows_pools_to_its_cores():
    code = (
        "import os; from linli_common import cores; c = cores.pin(cores.ENGINE);"
        "print(sorted(os.sched_getaffinity(0)) == sorted(c), os.environ['TF_INTRA_OP_PARALLELISM_THREADS'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "OMP_", "LINLI_CPU"))}
    env["LINLI_ACTION_WORKERS"] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", str(len(ALL) - 1)]
