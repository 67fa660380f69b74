"""How a point's process uses the CPU: torch's intra-op thread count and how its OpenMP threads wait, chosen where
the process starts, so that a run beside other CPU-bound work (another program, or the sweep's other workers)
keeps its speed instead of collapsing.

torch's CPU wheel runs its intra-op threads (and MKL's) on GNU OpenMP (libgomp): every op is a fork-join over the
team, and a waiting thread spins (~3 ms by default). Beside a busy neighbour a team as large as the machine waits
on a descheduled partner at every op: on 2 cores torch's default 2 threads ran the toy step at 29% (one busy loop)
and 18% (two) of its solo speed, a quickstart point at 31% and 19%, where one thread kept 102% and 66%, 106% and
59% (benchmarks/neighbour.py, medians of 3 interleaved rounds; alone it ran at 0.7x the 2 threads). So, unless the
user chose:
- a point takes at most its share of the cores (cores // points at once) and never every core it finds idle when
  it starts (measured over 0.2 s): one is left for whatever else runs or starts, so a neighbour costs it a core at
  most, never the team's synchronisation. On 2 cores that is one thread (`apply`);
- a team of threads waits asleep (OMP_WAIT_POLICY=PASSIVE): beside a neighbour a 2-thread team kept 50-60% of its
  speed passive and 20-30% spinning. libgomp reads it when torch is first imported, so it goes into the
  environment before that, in the CLI's process and so in the sweep's forkserver (`prepare_environment`).
The user's choice wins: OMP_NUM_THREADS / MKL_NUM_THREADS (thread count) or OMP_WAIT_POLICY / GOMP_SPINCOUNT (wait
policy) in the environment, or torch.set_num_threads in their own callback (it runs later).
GANSWEEP_THREADS=torch leaves torch's defaults alone (the behaviour before this module; benchmarks compare both).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Mapping, MutableMapping, Optional, Sequence, Tuple

SWITCH = "GANSWEEP_THREADS"  # "torch": leave torch's defaults (threads = cores, libgomp's spinning waits)
USER_THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # the user's thread count: kept, never overridden
USER_WAIT = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # the user's wait policy: kept, never overridden
WAIT_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}  # what gansweep sets when the user set no wait policy
PROBE_S = 0.2  # how long a starting point watches the machine's idle time


@dataclass(frozen=True)
class ThreadChoice:
    """What a process applies: the environment to add before torch loads, and torch's thread count (None: keep)."""

    env: Dict[str, str]
    threads: Optional[int]


def choose(cores: int, concurrency: int, environ: Mapping[str, str], idle: Optional[float] = None) -> ThreadChoice:
    """The policy: one of `concurrency` points sharing `cores`, `idle` of them unused by other processes (None:
    unknown, taken as all); a setting already in `environ` is the user's and wins."""
    if environ.get(SWITCH, "").strip().lower() == "torch":
        return ThreadChoice({}, None)
    env = {} if any(environ.get(key, "").strip() for key in USER_WAIT) else dict(WAIT_ENV)
    if any(environ.get(key, "").strip() for key in USER_THREADS):
        return ThreadChoice(env, None)
    share = max(1, cores // max(1, concurrency))
    spare = int((cores if idle is None else idle) + 0.5) - 1  # a core more than half idle counts; one is left
    return ThreadChoice(env, max(1, min(share, spare)))


def cpu_cores(environ: Optional[Mapping[str, str]] = None) -> int:
    """The cores this process may run on, at least one: those a taskset or cpuset leaves it, and inside a SLURM job
    no more than its allocation (SLURM_CPUS_PER_TASK: without a task/affinity plugin the job sees every core)."""
    environ = os.environ if environ is None else environ
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        cores = max(1, os.cpu_count() or 1)
    allocated = environ.get("SLURM_CPUS_PER_TASK", "").strip() if environ.get("SLURM_JOB_ID") else ""
    return min(cores, int(allocated)) if allocated.isdigit() and int(allocated) > 0 else cores


def _cpu_times() -> Tuple[int, int]:
    """(idle, total) clock ticks of all cores, from /proc/stat's first line."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return values[3] + values[4], sum(values)


def ancestors(levels: int) -> List[int]:
    """This process's parent, its parent, ... up to `levels` of them (fewer where /proc cannot tell)."""
    pids, pid = [], os.getpid()
    for _ in range(levels):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])  # ppid: field 4 of proc(5)
        except (OSError, ValueError, IndexError):
            break
        if pid <= 1:
            break
        pids.append(pid)
    return pids


def _process_ticks(pids: Sequence[int]) -> int:
    """User + system clock ticks the processes `pids` have used (one that is gone counts nothing)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
        except (OSError, ValueError, IndexError):
            pass
    return ticks


def idle_cores(seconds: float = PROBE_S, ours: Sequence[int] = ()) -> Optional[float]:
    """How many cores other processes leave idle, watched for `seconds` while this one sleeps; what the processes
    `ours` use (the launcher preparing the next point) counts as idle. None off Linux."""
    try:
        (idle0, total0), own0 = _cpu_times(), _process_ticks(ours)
        time.sleep(seconds)
        (idle1, total1), own1 = _cpu_times(), _process_ticks(ours)
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return min(1.0, (idle1 - idle0 + own1 - own0) / (total1 - total0)) * (os.cpu_count() or 1)


def prepare_environment(environ: Optional[MutableMapping[str, str]] = None) -> Dict[str, str]:
    """Add the wait policy to the environment (this process's by default), for libgomp to read when torch is first
    imported, here or in a process started from here (the sweep's forkserver); returns what was added. Once torch is
    loaded in a process, it is too late for that process."""
    environ = os.environ if environ is None else environ
    added = choose(1, 1, environ).env
    environ.update(added)
    return added


def apply(concurrency: int = 1, ours: Sequence[int] = ()) -> Optional[int]:
    """Give torch its threads as one of `concurrency` points running at once (`ours`: the processes of this run that
    are not training, e.g. its launcher): set now if torch is loaded, else through OMP_NUM_THREADS for when it loads.
    Returns the count, or None where the user's setting stands."""
    cores = cpu_cores()
    most = choose(cores, concurrency, os.environ).threads
    idle = idle_cores(ours=ours) if most is not None and most > 1 else None  # one thread needs no probe
    threads = choose(cores, concurrency, os.environ, idle).threads
    if threads is None:
        return None
    torch = sys.modules.get("torch")
    if torch is None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    elif threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads
