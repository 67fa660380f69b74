"""What the launcher settles about a point before it gives it a process, in its own process and without torch: its
config composed (gansweep.launch.compose), its values checked (gansweep.config_checks.check_values, its dataset's and
evaluation's preflight), and what its run folder says (gansweep.run.plan's record part). So a point whose config
cannot train is recorded failed without a process, a finished point is skipped without one, and a folder of another
point or another config is refused before anything starts."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from gansweep.hydra_job import hydra_config, stop_with, sweep_output_dir, sweeper_value, task_config
from gansweep.launch.outcome import job_end, job_return_for
from gansweep.launch.owner import SweepRefused, claim_sweep, restore_command
from gansweep.launch.pending import PendingRecords
from gansweep.record import CHECKPOINT, METRICS_FILE, identity, objective, read_record

log = logging.getLogger(__name__)

RUN, SKIP, FAILED, REFUSED = "run", "skip", "failed", "refused"
CHECKED_NODES = ("dataset", "metrics")  # config nodes whose class has a `preflight(node)`: files, weights


@dataclass
class Prepared:
    num: int  # hydra.job.num
    overrides: List[str]
    action: str  # run | skip | failed (never started: its config cannot train) | refused (its folder is not its own)
    config: Optional[DictConfig] = None  # composed, hydra node included; None when it did not compose
    run_dir: Optional[Path] = (
        None  # None when unknown (it did not compose, and hydra.sweep.subdir is not the job number)
    )
    reason: str = ""  # skip: why; failed or refused: the error in one line
    error: Optional[BaseException] = None
    record: Optional[Dict[str, Any]] = None  # skip: the point's record


class Preparer:
    """Prepares the points of one sweep; each dataset and evaluation setting is preflighted once."""

    def __init__(
        self,
        hydra_context: HydraContext,
        master: DictConfig,
        job_overrides: Sequence[Sequence[str]],
        swept: Sequence[str] = (),
    ) -> None:
        """`swept`: keys the sweep varies beyond these jobs' own (an adaptive sweep's space, whose trials come a few
        at a time)."""
        from gansweep.launch.compose import PointComposer

        self.composer = PointComposer(hydra_context.config_loader, master)
        self.master = master
        self.job_overrides = [list(o) for o in job_overrides]
        self.swept = {key.lstrip("+~") for key in swept}
        self.preflighted: Dict[str, Optional[Exception]] = {}
        self.own = is_gansweep_config(master)  # another Hydra app's points are composed only, as Hydra's launcher does

    def point_config(self, overrides: Sequence[str], num: int) -> Tuple[DictConfig, Path]:
        """The point's config as Hydra's basic launcher composes it, and the run folder run_job will give it."""
        config = self.composer.compose(list(overrides))
        with open_dict(config):
            config.hydra.job.id = num
            config.hydra.job.num = num
        run_dir = sweep_output_dir(config).absolute()
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = str(run_dir)
        return config, run_dir

    def prepare(self, overrides: Sequence[str], num: int) -> Prepared:
        point = Prepared(num, list(overrides), RUN)
        if not self.own:  # its composition errors raise, as in Hydra's basic launcher
            point.config, point.run_dir = self.point_config(overrides, num)
            return point
        try:
            point.config, point.run_dir = self.point_config(overrides, num)
        except Exception as err:
            point.run_dir = self._job_dir(num)
            return _set(point, FAILED, err)
        try:
            plan = self.plan(point.config, point.run_dir)
        except Exception as err:  # another point's folder, another config's, an unreadable record: not touched
            return _set(point, REFUSED, err)
        if plan is not None and plan.action == "skip":  # finished: its config is not needed again, nor kept
            point.action, point.reason, point.record, point.config = SKIP, plan.reason, plan.record, None
            return point
        try:
            self.check(point.config)
        except Exception as err:
            return _set(point, FAILED, err)
        return point

    def check(self, config: DictConfig) -> None:
        """The point's values (check_values) and, once per distinct setting, its dataset's and evaluation's
        preflight (files present and readable, weights found): raises what the point would fail with."""
        from gansweep.config_checks import check_values

        with hydra_config(config, copy=False):
            check_values(config)
            for name in CHECKED_NODES:
                self._preflight(config.get(name))

    def plan(self, config: DictConfig, run_dir: Path) -> Any:
        """What the folder's record decides (gansweep.run.plan.plan_record); None when the point's own process decides
        (no record yet, or an interrupted point: its checkpoint is read there)."""
        from gansweep.run.plan import plan_record

        record = read_record(run_dir)
        if record is None:
            return None
        resume = config.resume
        failed = str(getattr(resume.failed, "value", resume.failed))
        changed = str(getattr(resume.get("changed", "refuse"), "value", resume.get("changed", "refuse")))
        return plan_record(run_dir, record, list(config.hydra.overrides.task), failed, identity(config), changed)

    def shared_failure(self, point: Prepared) -> Optional[BaseException]:
        """The point's error when every point shares it, else None: the sweep's common part (the overrides every point
        shares, the swept keys at their defaults) fails with the same message, and the key at fault is not swept."""
        from gansweep.grid import parse_overrides, varying_keys

        swept = {key.lstrip("+~") for key in varying_keys([parse_overrides(o) for o in self.job_overrides])}
        swept |= self.swept
        key = str(getattr(point.error, "key", None) or "")
        parts = key.split(".")
        if any(".".join(parts[:n]) in swept for n in range(1, len(parts) + 1)):  # loss swept: loss.x is the point's
            return None
        common = [o for o in self.job_overrides[0] if all(o in other for other in self.job_overrides[1:])]
        try:
            config, _ = self.point_config(common, -1)
            self.check(config)
        except Exception as err:
            return err if str(err) == str(point.error) else None
        return None

    def _preflight(self, node: Any) -> None:
        target = node.get("_target_") if isinstance(node, DictConfig) else None
        if not target:
            return
        key = OmegaConf.to_yaml(node)
        if key not in self.preflighted:
            from hydra.utils import get_class

            self.preflighted[key] = None
            check = getattr(get_class(str(target)), "preflight", None)
            try:
                if check is not None:
                    check(node)
            except Exception as err:
                self.preflighted[key] = err
        if self.preflighted[key] is not None:
            raise self.preflighted[key]  # type: ignore[misc]

    def _job_dir(self, num: int) -> Optional[Path]:
        """The run folder of a point that did not compose, when hydra.sweep.subdir is the job number (the default)."""
        sweep = OmegaConf.to_container(self.master.hydra.sweep, resolve=False)
        if not isinstance(sweep, dict) or sweep.get("subdir") != "${hydra.job.num}":
            return None
        return Path(str(self.master.hydra.sweep.dir)).absolute() / str(num)


def is_gansweep_config(config: DictConfig) -> bool:
    """Whether the sweep is gansweep's own app (its schema types the config), not another Hydra app that chose
    hydra/launcher=gansweep (which gets no checks, records, folder claims, fusion or torch preload)."""
    from gansweep.config import GansweepConfig

    kind = OmegaConf.get_type(config)
    return isinstance(kind, type) and issubclass(kind, GansweepConfig)


def unstarted_record(point: Prepared) -> Dict[str, Any]:
    """The record of a point the launcher did not start because its config cannot train: failed, with the error."""
    from gansweep.record import new_record

    if point.config is not None:
        record = new_record(point.config.hydra, task_config(point.config))
    else:  # it did not compose: what is known of it
        record = {"metrics": {}, "protocol": {}, "choices": {}, "overrides": point.overrides, "seed": None}
    # started: False -- nothing trained, so no config is this folder's yet (a resume on a fixed config is no change)
    record.update(status="failed", error=point.reason, g_iters=None, wall_time_s=None, started=False)
    return record


def claim_or_stop(sweep_dir: Path, config: DictConfig) -> None:
    """Take the sweep folder for this launcher (gansweep.launch.owner), or end the command in one line, the folder's
    own multirun.yaml put back."""
    try:
        claim_sweep(sweep_dir, config)
    except SweepRefused as err:
        restore_command(sweep_dir)
        stop_with(str(err), err)


def prepare_points(
    hydra_context: HydraContext,
    config: DictConfig,
    job_overrides: Sequence[Sequence[str]],
    nums: Sequence[int],
    whole: bool,
    swept: Sequence[str] = (),
) -> Iterator[Prepared]:
    """Each job prepared as it is pulled (its job number from `nums`), after the checks made before any starts
    (checked_points; `whole`: every point first); `swept`: keys the sweep varies beyond these jobs'."""
    preparer = Preparer(hydra_context, config, job_overrides, swept)
    prepared = (preparer.prepare(overrides, num) for overrides, num in zip(job_overrides, nums, strict=True))
    return checked_points(prepared, preparer, Path(str(config.hydra.sweep.dir)).absolute(), whole)


def checked_points(
    prepared: Iterator[Prepared], preparer: Preparer, sweep_dir: Path, whole: bool
) -> Iterator[Prepared]:
    """The prepared points, after the checks made before any starts: the first point's failure, when the sweep's
    common part fails the same way, stops the sweep; a resumed folder (`whole`) is checked point by point first, and
    any folder this command cannot continue stops it. A refused command's multirun.yaml is replaced by the folder's."""
    skipped: List[Prepared] = []  # finished points before the first to run: they say nothing of the others
    first = next(prepared, None)
    while first is not None and first.action == SKIP:
        skipped.append(first)
        first = next(prepared, None)
    if first is not None and first.action == FAILED:
        shared = preparer.shared_failure(first)
        if shared is not None:
            restore_command(sweep_dir)
            stop_with(
                f"every point of this sweep fails before it starts: {first.reason}\nNo point was started: fix it, "
                "then run the same command again.",
                shared,
            )
    head = [*skipped, *([first] if first is not None else [])]
    if not whole:
        yield from head
        yield from prepared
        return
    points = [*head, *prepared]
    refused = [point for point in points if point.action == REFUSED]
    if refused:
        restore_command(sweep_dir)
        shown = "\n".join(f"#{point.num}: {point.reason}" for point in refused[:5])
        more = f"\n... and {len(refused) - 5} more" if len(refused) > 5 else ""
        stop_with(
            f"{len(refused)} point(s) of this sweep folder cannot be continued by this command; no point was "
            f"started:\n{shown}{more}",
            refused[0].error,
        )
    yield from points


def unstarted(point: Prepared, config: DictConfig, callbacks: Any, pending: PendingRecords) -> Tuple[JobReturn, str]:
    """A point the launcher answers for without a process: skipped (finished), or failed before it started (its
    record written, its error on one line), or refused (its folder left untouched)."""
    if point.action == SKIP:
        value, status = sweeper_value(objective(point.record or {}), config.hydra), "skipped"
        log.info(f"#{point.num} skipped: {point.run_dir} is {point.reason}")
    elif point.action == FAILED:
        value, status = sweeper_value(math.nan, config.hydra), "failed"
        kept = point.run_dir is not None and (
            (point.run_dir / METRICS_FILE).exists() or (point.run_dir / CHECKPOINT).exists()
        )
        left = " (its folder's record and checkpoint are left as they were)" if kept else ""
        log.error(f"#{point.num} failed before it started: {point.reason}{left}")
        if point.run_dir is not None and not kept:
            pending.write(point.run_dir, unstarted_record(point))
    else:
        value, status = sweeper_value(math.nan, config.hydra), "refused"
        log.error(f"#{point.num} refused: {point.reason}")
    if point.action == FAILED and point.config is not None:  # as a job that ran: Hydra's on_job_end sees it
        job_return = job_return_for(point.config, JobStatus.COMPLETED, value, config.hydra.job.name, os.getcwd())
        job_end(callbacks, point.config, job_return)
        return job_return, status
    job_return = JobReturn(  # no job ran: what a sweeper reads (the value), without composing a copy for it
        overrides=list(point.overrides), cfg=OmegaConf.create(), working_dir=os.getcwd(), status=JobStatus.COMPLETED
    )
    job_return.return_value, job_return.task_name = value, config.hydra.job.name
    return job_return, status


def _holds_a_run(run_dir: Path) -> bool:
    """Whether the folder holds something a run left (a checkpoint, or a record of a point that started)."""
    record = read_record(run_dir) if (run_dir / METRICS_FILE).is_file() else None
    return (run_dir / CHECKPOINT).is_file() or (record is not None and record.get("started") is not False)


def _set(point: Prepared, action: str, err: BaseException) -> Prepared:
    """The point failed (its first line: ConfigError's and Hydra's messages name the key) or refused (whole)."""
    point.action, point.error = action, err
    text = str(err).strip() or type(err).__name__
    point.reason = text if action == REFUSED else text.splitlines()[0]
    return point
