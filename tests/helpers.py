"""What the tests share: test-only callbacks, given to a run through config (`+callbacks.NAME._target_=tests.helpers.X`,
or `+hydra.callbacks.NAME._target_=...`), that make chosen grid points fail in a given way or record what a point's
process saw; and `fit_points`, the run path's fit of hand-built points. Nothing here ships with gansweep."""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig

from gansweep.data.images import ImageDataModule, MissingDataError
from gansweep.losses.base import CriticOutput
from gansweep.losses.wgan import WGANLoss
from gansweep.model.module import GANModule
from gansweep.optim import scheduler_factory
from gansweep.run.fit import FitPoint, FitSettings, fit
from gansweep.signals import stop_requested

FAULTS_ENV = "GANSWEEP_TEST_FAULTS"  # e.g. "1:raise,3:sigkill": hydra.job.num -> what that point does


def _fault_for_this_point(env: str = FAULTS_ENV) -> str | None:
    faults = dict(item.split(":", 1) for item in os.environ.get(env, "").split(",") if item)
    return faults.get(str(HydraConfig.get().job.num))


def act(action: str) -> None:
    """Fail the way real points fail: raise, or die hard without any Python cleanup."""
    print(f"test fault: {action}", flush=False)  # unflushed: the point's stdout must be line-buffered to keep it
    if action == "raise":
        raise RuntimeError("test fault raised on purpose")
    if action == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "segfault":
        ctypes.string_at(0)
    elif action == "exit":
        os._exit(3)
    else:
        raise ValueError(f"unknown test fault {action!r}")


class Fault(pl.Callback):
    """At fit start, the point whose job number GANSWEEP_TEST_FAULTS names raises or dies (sigkill, segfault, exit)."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        action = _fault_for_this_point()
        if action is not None:
            act(action)


class ExitAfterRecord(HydraCallback):
    """Hydra callback: after its task has written metrics.json, the point named in GANSWEEP_TEST_EXIT_AFTER dies.

    Only in the point's own process: the launcher calls on_job_end again in the sweep's process for a point whose
    process died, and the sweep itself must live."""

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        action = _fault_for_this_point("GANSWEEP_TEST_EXIT_AFTER")
        if action is not None and multiprocessing.parent_process() is not None:
            act(action)


class RecordJobEvents(HydraCallback):
    """Hydra callback: appends "start NUM" / "end NUM STATUS VALUE" to job_events.txt in the sweep folder."""

    def _append(self, config: DictConfig, line: str) -> None:
        with open(Path(config.hydra.sweep.dir) / "job_events.txt", "a") as fh:
            fh.write(line + "\n")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._append(config, f"start {config.hydra.job.num}")

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self._append(config, f"end {config.hydra.job.num} {job_return.status.name} {job_return._return_value}")


class RecordLease(pl.Callback):
    """Holds the point for `seconds` and writes lease.json: the CUDA_VISIBLE_DEVICES and torch threads its process
    had, and when it ran."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.start = 0.0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.time()
        time.sleep(self.seconds)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seen: Dict[str, Any] = {
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "torch_threads": torch.get_num_threads(),
            "start": self.start,
            "end": time.time(),
            "pid": os.getpid(),
        }
        (Path(HydraConfig.get().runtime.output_dir) / "lease.json").write_text(json.dumps(seen))


class HoldAt(pl.Callback):
    """At the end of generator iteration `at` of the grid point whose `point` (e.g. ${seed} or ${hydra:job.num}) is
    `only_point`, unless `marker` exists, writes it (the process id and SLURM job id) and waits, up to a minute, for a
    stop signal: the test signals a point known to be mid-way."""

    def __init__(self, at: int, marker: str, point: Any = None, only_point: Any = None) -> None:
        self.at, self.marker, self.active = at, Path(marker), only_point is None or str(point) == str(only_point)

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if self.active and module.g_iters == self.at and not self.marker.exists():  # a resumed attempt runs on
            self.marker.write_text(json.dumps({"pid": os.getpid(), "slurm_job_id": os.environ.get("SLURM_JOB_ID")}))
            deadline = time.monotonic() + 60
            while not stop_requested() and time.monotonic() < deadline:
                time.sleep(0.05)


class SignalAt(pl.Callback):
    """Sends `signum` to its own process at the end of generator iteration `at` of the grid point whose `point` (e.g.
    ${seed}) is `only_point` (every point by default): a run stopped at a known iteration, as SLURM stops it."""

    def __init__(self, at: int, signum: str = "SIGTERM", point: Any = None, only_point: Any = None) -> None:
        self.at, self.signum = at, getattr(signal, signum)
        self.active = only_point is None or str(point) == str(only_point)

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if self.active and module.g_iters == self.at:
            os.kill(os.getpid(), self.signum)


StopAt = SignalAt  # the name the runs of tests/fixtures/legacy_sweep were made with


class FailOnce(pl.Callback):
    """Raises at generator iteration `at` unless `marker` exists (then creates it): a failure a retry gets past."""

    def __init__(self, at: int, marker: str) -> None:
        self.at, self.marker = at, Path(marker)

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if module.g_iters == self.at and not self.marker.exists():
            self.marker.touch()
            raise RuntimeError("a one-off failure")


class BoundedWGAN(WGANLoss):
    """The WGAN loss, except that a critic score beyond `bound` on real data raises, as an objective's own check on
    its inputs would: it raises in the batched step of a group, for the one point whose scores blew up."""

    def __init__(self, bound: float = 1e6) -> None:
        self.bound = bound

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> torch.Tensor:
        if bool((real.score.abs() > self.bound).any()):
            raise FloatingPointError(f"critic scores beyond {self.bound:g}")
        return super().critic_loss(real, fake)


class BlowUp(pl.Callback):
    """A point's callback: before generator iteration `at`, the bias of its critic's last linear layer jumps to 1e9
    (its scores with it)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        if module.g_iters + 1 == self.at:
            last = [m for m in module.critic.modules() if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad():
                last.bias.fill_(1e9)


class InMemory(ImageDataModule):
    """A source whose files are a tensor: exercises everything the base class does."""

    name = "in_memory"

    def __init__(self, images: torch.Tensor, **kwargs: Any) -> None:
        self.source, self.reads = images, 0
        super().__init__(**kwargs)

    @property
    def data_shape(self) -> Tuple[int, int, int]:
        return tuple(self.source.shape[1:])  # type: ignore[return-value]

    def check(self) -> None:
        if self.source is None:
            raise MissingDataError(self.name, self.root, "the tensor")

    def read(self) -> torch.Tensor:
        self.reads += 1
        return self.source


def record_of(out_dir: Path) -> Dict[str, Any]:
    """A run folder's metrics.json."""
    return json.loads((out_dir / "metrics.json").read_text())


def checkpoint_of(out_dir: Path) -> Dict[str, Any]:
    """A run folder's checkpoints/last.ckpt."""
    return torch.load(out_dir / "checkpoints" / "last.ckpt", weights_only=True)


def csv_rows(path: Path) -> List[Dict[str, str]]:
    """The curves, without the evaluations' wall-clock times (eval/seconds_*), which no two runs share."""
    header, *rows = [line.split(",") for line in path.read_text().splitlines() if line]
    return [{k: v for k, v in zip(header, row, strict=True) if not k.startswith("eval/seconds_")} for row in rows]


def fit_points(
    points: Sequence[Tuple[Any, Any]],
    loss: Any,
    iters: int,
    batch_size: int,
    n_critic: int = 1,
    callbacks: Sequence[Sequence[pl.Callback]] = (),
    loggers: Sequence[Sequence[Any]] = (),
    precision: str = "32-true",
    log_every: int = 1,
    decay: str = "none",
    update: str = "alternating",
    g_batch: Optional[int] = None,
    channels_last: Any = "auto",
    refill: Any = None,
) -> GANModule:
    """(data module, GANPoint) points trained as one model on the CPU through gansweep's fit, each with its own
    callbacks and loggers (lists per point); the module, whose health says how each point ended."""
    fit_points = [
        FitPoint(point, data, list(callbacks[k]) if callbacks else [], list(loggers[k]) if loggers else [])
        for k, (data, point) in enumerate(points)
    ]
    options = dict(scheduler=scheduler_factory(decay, iters), generator_batch_size=g_batch, log_every=log_every)
    trainer = {"accelerator": "cpu", "devices": 1, "precision": precision, "enable_progress_bar": False}
    settings = FitSettings(iters, batch_size, n_critic, trainer, channels_last=channels_last)
    return fit(fit_points, loss, {**options, "update": update}, settings, refill)


class FillDisk(pl.Callback):
    """At the end of the grid point whose `point` is `only_point`, after its checkpoint, fills the file system of
    `path` (a small tmpfs in the test) with one file, so that everything written after fails with ENOSPC. Once: a
    `path.done` marker keeps a later attempt from filling it again."""

    def __init__(self, path: str, point: Any = None, only_point: Any = None) -> None:
        self.path, self.active = Path(path), only_point is None or str(point) == str(only_point)

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        done = self.path.with_name(self.path.name + ".done")
        if not self.active or done.exists():
            return
        done.touch()
        block = b"\0" * 65536
        with open(self.path, "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(block)
            except OSError:
                pass
        with open(self.path, "ab", buffering=0) as fh:  # the last few bytes a block write could not take
            try:
                while True:
                    fh.write(b"\0")
            except OSError:
                pass
