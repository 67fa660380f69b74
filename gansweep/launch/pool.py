"""One process per point, forked from a warm forkserver, as many at once as there are free leases.

A point that ends frees its lease at once and the next point starts on it, whatever the others are doing.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing import connection, forkserver
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from gansweep.launch.child import Spec, run_point
from gansweep.launch.leases import Leases
from gansweep.signals import STOP_SIGNALS
from gansweep.threads import prepare_environment

STOP_GRACE_S = 30.0  # after SIGTERM, how long a point may take to checkpoint and stop (SLURM's default KillWait)


class SweepStopped(BaseException):
    """A stop signal (Ctrl-C's SIGINT too) reached the sweep's own process: the running points are stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"the sweep received {signal.Signals(signum).name}")
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the pool runs, SIGTERM/SIGINT/SIGUSR1/SIGUSR2 raise SweepStopped in the sweep's process (once; later ones
    are ignored while the points stop), so every running point is sent SIGTERM and records itself as interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised: List[int] = []

    def handle(signum: int, frame: object) -> None:
        if not raised:
            raised.append(signum)
            raise SweepStopped(signum)

    signums = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, handle) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@dataclass
class Running:
    spec: Spec
    process: BaseProcess
    conn: Connection
    start: float  # time.time() once the process exists
    message: Optional[Tuple[str, Any]] = None  # what the point sent back, once it has
    listening: bool = True  # until a message or EOF has been read from `conn`


@dataclass(frozen=True)
class Ended:
    spec: Spec  # with its lease (a fused group: gansweep.launch.child.GroupSpec)
    pid: Optional[int]
    start: float
    end: float
    exitcode: Optional[int]  # negative: killed by that signal
    message: Optional[Tuple[str, Any]]  # None when the point died before sending anything


UNPULLED = object()  # PointPool.run without lookahead: the next spec is not pulled yet


class PointPool:
    """Starts points on free leases and reports each as it ends; on any error it stops every running point."""

    def __init__(self, leases: Leases, preload: Sequence[str]) -> None:
        self.leases = leases
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(list(preload))  # read once, when the server starts
        prepare_environment()  # the server imports torch: libgomp's wait policy must be in the environment it gets
        forkserver.ensure_running()  # imports start now, while the parent composes the first point
        self.running: Dict[int, Running] = {}  # by process sentinel
        # every point's lifeline: only this process holds the writing end, so the points see it close when it dies
        self.alive, self._alive_writer = self.context.Pipe(duplex=False)

    def run(self, specs: Iterable[Spec], on_end: Callable[[Ended], None], lookahead: bool = True) -> None:
        """Run every spec, one per free lease; `on_end` sees each point as soon as it ends.

        Specs are pulled lazily, one ahead (`lookahead`): the next point is prepared (composed) while the others run,
        so a freed lease is taken at once. Without it a spec is pulled only once a lease is free (an adaptive sweep
        whose groups refill their slots: a trial asked ahead would wait for a group's end).
        """
        pending = iter(specs)
        ready: Any = next(pending, None) if lookahead else UNPULLED
        try:
            while ready is not None or self.running:
                while ready is not None and self.leases.free:
                    if ready is UNPULLED:
                        ready = next(pending, None)
                        continue
                    self._start(ready)
                    ready = next(pending, None) if lookahead else UNPULLED
                for ended in self._wait() if self.running else ():
                    on_end(ended)
        except BaseException:
            self.stop()
            raise

    def _start(self, spec: Spec) -> None:
        spec = replace(spec, lease=self.leases.acquire())
        reader, writer = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=run_point, args=(spec, writer, self.alive), name=f"gansweep-point-{spec.num}"
        )
        try:
            process.start()  # the first start waits for the forkserver to finish its imports
        except BaseException:
            self.leases.release(spec.lease)
            reader.close()
            raise
        finally:
            writer.close()  # the child holds its own copy: EOF on `reader` once it is gone
        self.running[process.sentinel] = Running(spec, process, reader, time.time())

    def _wait(self) -> List[Ended]:
        """Block until a point sends its result or ends; messages are read as they come (a full pipe would block)."""
        by_conn = {id(r.conn): r for r in self.running.values() if r.listening}
        ready = connection.wait([r.conn for r in by_conn.values()] + list(self.running))
        for obj in ready:
            if isinstance(obj, Connection):
                _receive(by_conn[id(obj)])
        ended = []
        for obj in ready:
            if isinstance(obj, int):
                ended.append(self._reap(self.running.pop(obj)))
        return ended

    def _reap(self, run: Running) -> Ended:
        run.process.join()
        end = time.time()
        if run.listening and run.conn.poll():
            _receive(run)
        run.conn.close()
        self.leases.release(run.spec.lease)
        return Ended(run.spec, run.process.pid, run.start, end, run.process.exitcode, run.message)

    def stop(self) -> None:
        """SIGTERM every running point, SIGKILL those still alive after STOP_GRACE_S; their leases are freed."""
        for run in self.running.values():
            run.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for run in self.running.values():
            run.process.join(max(0.0, deadline - time.monotonic()))
            if run.process.exitcode is None:
                run.process.kill()
                run.process.join()
            run.conn.close()
            self.leases.release(run.spec.lease)
        self.running.clear()


def _receive(run: Running) -> None:
    """Read the point's message; a point that dies mid-message, or sends one we cannot read, has none."""
    run.listening = False
    try:
        run.message = run.conn.recv()
    except EOFError:
        run.message = None
    except Exception as err:  # unpicklable in this process: keep what went wrong
        run.message = ("error", f"its result could not be read: {type(err).__name__}: {err}")
