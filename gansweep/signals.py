"""Stop signals: SIGTERM, SIGUSR1 and SIGUSR2 (what SLURM, Lightning's SLURM setup and submitit send before a time
limit or on preemption) and SIGINT (Ctrl-C in a terminal, sent to the whole process group) become a request to stop
at the end of the current generator iteration.

The handler only records the signal: the training loop checks the request between iterations
(gansweep.callbacks.stop), saves the checkpoint and records the run as interrupted. A second signal while that
happens is recorded and changes nothing, so it can never cut a checkpoint in half. Once the run is recorded,
`forward` hands every received signal to the handler that was installed before ours (submitit's requeue on its
preemption signal, which exits the process itself; not Python's own SIGINT handler, whose KeyboardInterrupt would end
the process with a traceback), then exits with 128 + the first signal's number, the status
of a process that signal killed, so a launcher or a shell sees that the process was stopped. Lightning's own
SIGTERM handler is set aside while it fits (`reclaim`). Signals the process ignores (SIG_IGN) are left ignored.
Handlers can only be installed from the main thread; elsewhere (e.g. a thread pool launcher) the signals keep
whatever handling they had.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any, Dict, List, Optional, Sequence

log = logging.getLogger("gansweep")

STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2")

_active: Optional["StopSignals"] = None


def stop_requested() -> bool:
    """Whether a stop signal reached this process while a StopSignals block was active."""
    return _active is not None and bool(_active.received)


def reclaim() -> None:
    """Put the active block's handlers back on top. Lightning installs its own SIGTERM handler when a fit starts
    (calling ours too): it would raise SIGTERMException after the next iteration, even the last one, whose run
    should finish instead. Lightning restores the handlers it found (ours) when the fit ends."""
    if _active is not None:
        _active.install()


class StopSignals:
    """A context manager around one run: installs the stop handlers on entry, restores the previous ones on exit."""

    def __init__(self, names: Sequence[str] = STOP_SIGNALS) -> None:
        self.names = tuple(names)
        self.received: List[int] = []
        self.previous: Dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        global _active
        self.received, self.previous = [], {}
        if threading.current_thread() is threading.main_thread():
            for name in self.names:
                signum = getattr(signal, name, None)
                if signum is None:  # not on this platform
                    continue
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN:
                    self.previous[signum] = previous
        self.install()
        _active = self
        return self

    def install(self) -> None:
        """(Re)install the handler on every signal this block took over."""
        if threading.current_thread() is threading.main_thread():
            for signum in self.previous:
                signal.signal(signum, self._handle)

    def __exit__(self, *exc: object) -> None:
        global _active
        for signum, previous in self.previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        _active = None

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        name = signal.Signals(signum).name
        if not self.received:
            log.warning("%s: stopping after this generator iteration (checkpoint, record, exit)", name)
        else:
            log.warning("%s: already stopping, the checkpoint is being written", name)
        self.received.append(signum)

    def forward(self) -> None:
        """After the run is recorded: nothing when no signal came; otherwise pass each received signal to the
        handler it displaced (submitit's requeue exits here), then exit with 128 + the first signal's number."""
        if not self.received:
            return
        for signum in dict.fromkeys(self.received):
            previous = self.previous.get(signum)
            if callable(previous) and previous is not signal.default_int_handler:  # that one raises KeyboardInterrupt
                try:
                    previous(signum, None)
                except Exception as err:  # the process still ends as stopped, never as a finished task
                    # e.g. submitit's `scontrol requeue`, killed by the very requeue it asked for: its error would
                    # reach the task, which would return a result, and the launcher would take the requeued worker
                    # for a finished one (its trials lost) while SLURM runs it again
                    name = signal.Signals(signum).name
                    log.warning("%s: the handler before ours raised %s: %s", name, type(err).__name__, err)
        raise SystemExit(128 + self.received[0])
