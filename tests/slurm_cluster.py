"""A real one-node SLURM for tests: munge, slurmctld and slurmd from Debian's packages on 127.0.0.1, configured in a
private folder (SLURM_CONF, spool, logs, free ports), stopped by their PIDs. Traps: the cgroup plugins fail silently in
containers (jobs "complete" without running), hence proctrack/linuxproc and task/none; no accounting, so no sacct.

`.ci/run` installs the packages (`apt-get install munge slurmctld slurmd slurm-client`); the cluster only starts
them. Whatever fails is raised as SlurmUnavailable with the reason and the daemons' log tails."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

PACKAGES = "munge slurmctld slurmd slurm-client"
BINARIES = ("munged", "munge", "slurmctld", "slurmd", "sinfo", "sbatch", "scancel", "scontrol")
MUNGE_SOCKET_DIR = Path("/run/munge")


class SlurmUnavailable(RuntimeError):
    """SLURM could not be started here; the message says why and what to install or run."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _which(name: str) -> Optional[str]:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


class SlurmCluster:
    """One node (this machine, as `hostname -s`) in partition `debug`; `env` is what a client needs (SLURM_CONF)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.conf = self.root / "slurm.conf"
        self.env: Dict[str, str] = dict(os.environ, SLURM_CONF=str(self.conf))
        self.processes: List[subprocess.Popen] = []
        self.munged_pid: Optional[int] = None  # only when this cluster started munged

    def start(self, timeout_s: float = 60.0) -> "SlurmCluster":
        missing = [name for name in BINARIES if _which(name) is None]
        if missing:
            raise SlurmUnavailable(
                f"{', '.join(missing)} not found: install SLURM first (as root: apt-get install -y "
                f"--no-install-recommends {PACKAGES}; .ci/run does this)"
            )
        if os.geteuid() != 0:
            raise SlurmUnavailable("starting slurmctld, slurmd and munged (SlurmUser=root) needs root")
        self._start_munge()
        self._write_conf()
        for daemon in ("slurmctld", "slurmd"):
            log = open(self.root / f"{daemon}.out", "w")
            args = [str(_which(daemon)), "-D", "-f", str(self.conf)]
            if daemon == "slurmd":
                args += ["-N", self.node]
            self.processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env))
        self._wait_idle(timeout_s)
        return self

    @property
    def node(self) -> str:
        return socket.gethostname().split(".")[0]

    def _start_munge(self) -> None:
        """Use a running munged (`munge -n` answers), else start one as the munge user and remember its PID."""
        if subprocess.run(["munge", "-n"], capture_output=True, timeout=10).returncode == 0:
            return
        MUNGE_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
        shutil.chown(MUNGE_SOCKET_DIR, "munge", "munge")
        key = Path("/etc/munge/munge.key")
        if not key.is_file():
            subprocess.run(["mungekey", "--create"], check=True, capture_output=True, timeout=30)
            shutil.chown(key, "munge", "munge")
        started = subprocess.run(
            ["runuser", "-u", "munge", "--", str(_which("munged"))], capture_output=True, text=True
        )
        if started.returncode != 0:
            raise SlurmUnavailable(f"munged did not start: {started.stderr.strip()}")
        pid_file = MUNGE_SOCKET_DIR / "munged.pid"
        self.munged_pid = int(pid_file.read_text()) if pid_file.is_file() else None

    def _write_conf(self) -> None:
        for sub in ("ctld", "d"):
            (self.root / "spool" / sub).mkdir(parents=True, exist_ok=True)
        mem_mb = int(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 * 0.9)  # below what slurmd detects
        r = self.root
        self.conf.write_text(
            f"""ClusterName=gansweep-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
AuthType=auth/munge
StateSaveLocation={r}/spool/ctld
SlurmdSpoolDir={r}/spool/d
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/slurmctld.log
SlurmdLogFile={r}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
KillWait=5
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""
        )

    def _wait_idle(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        state = ""
        while time.monotonic() < deadline:
            dead = [p for p in self.processes if p.poll() is not None]
            if dead:
                break
            sinfo = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=self.env, timeout=10
            )
            state = sinfo.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        self.stop()
        logs = "\n".join(
            f"--- {name}:\n{_tail(self.root / name)}"
            for name in ("slurmctld.out", "slurmctld.log", "slurmd.out", "slurmd.log")
        )
        raise SlurmUnavailable(f"the node did not become idle within {timeout_s:.0f} s (sinfo: {state!r})\n{logs}")

    def run(self, *args: str, timeout_s: float = 30.0) -> str:
        """A SLURM client command against this cluster; its stdout (raises with stderr when it fails)."""
        proc = subprocess.run(list(args), capture_output=True, text=True, env=self.env, timeout=timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def diagnostics(self) -> str:
        """Every job's state and the daemons' log tails without debug lines: what a failed test prints."""
        jobs = subprocess.run(
            ["scontrol", "show", "job"], capture_output=True, text=True, env=self.env, timeout=30
        ).stdout
        logs = []
        for name in ("slurmctld.log", "slurmd.log"):
            lines = [line for line in _tail(self.root / name, 400).splitlines() if "debug" not in line]
            logs.append(f"--- {name}:\n" + "\n".join(lines[-40:]))
        return f"--- scontrol show job:\n{jobs}\n" + "\n".join(logs)

    def stop(self) -> None:
        """Stop the daemons this cluster started, by PID (slurmd first, then slurmctld, then munged)."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
        self.processes.clear()
        if self.munged_pid is not None:
            try:
                os.kill(self.munged_pid, 15)
            except ProcessLookupError:
                pass
            _wait_gone(self.munged_pid, timeout_s=15)  # else the next cluster finds it still answering, and loses it
            self.munged_pid = None


def _wait_gone(pid: int, timeout_s: float) -> None:
    """Until process `pid` has exited (gone, or a zombie nobody reaps: munged is a daemon, not our child)."""
    deadline = time.monotonic() + timeout_s
    status = Path(f"/proc/{pid}/status")
    while time.monotonic() < deadline:
        try:
            state = next((line for line in status.read_text().splitlines() if line.startswith("State:")), "")
        except OSError:
            return
        if "Z" in state.split()[1:2]:
            return
        time.sleep(0.1)
