"""What runs inside a point's own process: capture its output, take its GPU lease, then Hydra's run_job.

The process is forked from a warm forkserver that has imported torch and Lightning but never initialised CUDA,
so setting CUDA_VISIBLE_DEVICES here, before the task runs, decides which GPU the point sees.
"""

from __future__ import annotations

import faulthandler
import io
import os
import pickle
import signal
import sys
import threading
import traceback
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from omegaconf import DictConfig

from gansweep.threads import ancestors
from gansweep.threads import apply as apply_threads

CONSOLE_LOG = "console.log"  # the point's raw stdout and stderr, kept even when it dies hard


@dataclass(frozen=True)
class PointSpec:
    """One grid point as the parent prepared it; `lease` is filled in by the pool when a slot is free."""

    num: int  # hydra.job.num
    config: DictConfig  # the point's composed config, hydra node included
    run_dir: str  # absolute; the parent has created it
    record_stamp: Optional[Tuple[int, int]]  # metrics.json (inode, mtime) before the point ran; None if absent
    context: bytes  # pickled (HydraContext, task function, Hydra's singletons), the same for every point
    cwd: str  # the launching process's working directory
    concurrency: int  # points running at once: each takes that share of the cores (gansweep.threads)
    lease: Optional[str] = None  # CUDA_VISIBLE_DEVICES for this point; None leaves it as it is
    capture: bool = True  # its output into its folder's console.log (another Hydra app's goes to the terminal)


@dataclass(frozen=True)
class GroupSpec:
    """A fused group (gansweep.run.fusion): its points as the parent prepared them, trained in one process on one lease;
    the process's output goes to the first point's console.log."""

    points: Tuple[PointSpec, ...]
    lease: Optional[str] = None
    log_start: int = 0  # the first point's console.log size before this attempt: what the others receive follows it
    refill: Any = None  # an adaptive sweep's gansweep.search.refill.RefillPlan: freed slots take new trials

    @property
    def num(self) -> int:
        return self.points[0].num

    @property
    def run_dir(self) -> str:
        return self.points[0].run_dir

    @property
    def cwd(self) -> str:
        return self.points[0].cwd

    @property
    def concurrency(self) -> int:
        return self.points[0].concurrency


Spec = Union[PointSpec, GroupSpec]


@dataclass(frozen=True)
class JobResult:
    """What the parent needs of the point's JobReturn; it has the point's configs already and adds them back."""

    status: Any  # hydra.core.utils.JobStatus
    value: Any  # the task's return value, or the exception it raised
    task_name: Optional[str]
    working_dir: Optional[str]
    unwritten: Optional[Dict[str, Any]] = None  # the point's record, when its process could not write it


def run_point(spec: Spec, conn: Connection, alive: Optional[Connection] = None) -> None:
    """Process entry: send ("result", JobResult), for a group ("results", [JobResult per point]), or ("error", text)
    back through `conn`, then exit at once. `alive` is the launcher's lifeline: when it closes, the launcher is gone."""
    if alive is not None:
        _stop_with_launcher(alive)
    if not isinstance(spec, PointSpec) or spec.capture:
        _capture_streams(Path(spec.run_dir) / CONSOLE_LOG)
    faulthandler.enable()  # a segfault's Python stack goes to console.log too
    os.chdir(spec.cwd)
    if spec.lease is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = spec.lease
    # its share of the cores (gansweep.threads); the forkserver's and the launcher's CPU use is not a neighbour's
    apply_threads(spec.concurrency, ours=ancestors(2))
    code = 0
    try:
        message: Tuple[str, Any] = (
            ("results", _run_group(spec)) if isinstance(spec, GroupSpec) else ("result", _run_job(spec))
        )
    except BaseException as err:  # whatever stops the task (SystemExit too) is reported, then the process exits
        traceback.print_exc()
        message, code = ("error", f"{type(err).__name__}: {err}"), 1
    try:
        _send(conn, message)
    except OSError:  # the launcher is gone: the point's record in its folder says how it ended
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit without waiting for threads a library may have left running: the result is sent, the lease must free.
    os._exit(code)


def _stop_with_launcher(alive: Connection) -> None:
    """The point stops (SIGTERM: checkpoint, record `interrupted`, exit) when its launcher dies, however it dies: the
    kernel closes the launcher's end of `alive`, and a reader here sees the end of the pipe. No orphan trains on."""

    def watch() -> None:
        try:
            alive.recv_bytes()
        except (EOFError, OSError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="gansweep-lifeline", daemon=True).start()


def _restore_context(context: bytes) -> Tuple[Any, Any]:
    """(HydraContext, task function) from the parent, with Hydra's singletons and every OmegaConf resolver (Hydra's
    and the app's own, registered at runtime) set up again, as Hydra's joblib launcher does."""
    from hydra.core.singleton import Singleton
    from hydra.core.utils import setup_globals

    hydra_context, task_function, state = pickle.loads(context)  # cloudpickle writes plain pickles
    setup_globals()
    Singleton.set_state(state)
    return hydra_context, task_function


def _run_job(spec: PointSpec) -> JobResult:
    from hydra.core.utils import run_job

    hydra_context, task_function = _restore_context(spec.context)
    ret = run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=spec.config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    unwritten = _unwritten()
    return JobResult(ret.status, ret._return_value, ret.task_name, ret.working_dir, unwritten.get(spec.run_dir))


def _run_group(spec: GroupSpec) -> List[JobResult]:
    from gansweep.run.jobs import run_group_jobs

    hydra_context, task_function = _restore_context(spec.points[0].context)
    returns = run_group_jobs(hydra_context, task_function, [point.config for point in spec.points], spec.refill)
    unwritten = _unwritten()
    return [
        JobResult(ret.status, ret._return_value, ret.task_name, ret.working_dir, unwritten.get(point.run_dir))
        for ret, point in zip(returns, spec.points, strict=True)
    ]


def _unwritten() -> Dict[str, Any]:
    """The records the task could not write (gansweep.record.keep_unwritten), by run folder."""
    from gansweep.record import take_unwritten

    return take_unwritten()


def _capture_streams(path: Path) -> None:
    """File descriptors 1 and 2 (Python, C libraries, faulthandler) append to `path`, line by line."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)


def _send(conn: Connection, message: Tuple[str, Any]) -> None:
    """Send the message; a return value or exception that cannot be pickled goes back as text instead."""
    try:
        conn.send(message)
        return
    except Exception:  # pickling fails before anything is written, so the message can be sent again
        pass
    kind, payload = message
    if isinstance(payload, JobResult):
        value = payload.value
        text = f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else repr(value)
        payload = replace(payload, value=RuntimeError(text) if isinstance(value, BaseException) else text)
    conn.send((kind, payload))
