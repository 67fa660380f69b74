"""A stop signal passed on to the handler it displaced ends the process as stopped, whatever that handler does:
submitit's requeue exits by itself; when it raises instead (its `scontrol requeue` killed by the requeue it asked
for, seen under load on the real one-node SLURM), the process still exits 128 + signal, never returning as a
finished task (a result would make the launcher take the requeued worker for a finished one)."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any, List

import pytest

from gansweep.signals import StopSignals, stop_requested


def stop_with_previous(previous: Any) -> StopSignals:
    """SIGUSR2 received inside a StopSignals block over `previous`; the block left, nothing forwarded yet."""
    signal.signal(signal.SIGUSR2, previous)
    try:
        with StopSignals(("SIGUSR2",)) as stop:
            os.kill(os.getpid(), signal.SIGUSR2)
            assert stop_requested()
    finally:
        signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    return stop


def test_a_handler_that_raises_still_ends_the_process_as_stopped():
    calls: List[int] = []

    def requeue_killed(signum: int, frame: Any) -> None:
        calls.append(signum)
        raise subprocess.CalledProcessError(-15, ["scontrol", "requeue", "7"])

    stop = stop_with_previous(requeue_killed)
    with pytest.raises(SystemExit) as stopped:
        stop.forward()
    assert stopped.value.code == 128 + signal.SIGUSR2 and calls == [signal.SIGUSR2]


def test_a_handler_that_exits_exits_as_it_asks():
    def requeued(signum: int, frame: Any) -> None:
        raise SystemExit(-1)  # submitit's exit after a requeue

    stop = stop_with_previous(requeued)
    with pytest.raises(SystemExit) as stopped:
        stop.forward()
    assert stopped.value.code == -1
