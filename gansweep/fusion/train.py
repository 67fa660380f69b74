"""The task of a fused group: K points trained as one GANModule in this process, each recorded as its own run.

Each point is planned as the ordinary task plans it (gansweep.sweep.resume): a finished point is skipped, the
others train together when they start from the same generator iteration (fresh, or resumed from their own
checkpoints), and a point left alone trains as an ordinary run. Every point keeps its own config.yaml, loggers,
callbacks (evaluation, samples, checkpoint) and metrics.json.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time
import traceback
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from omegaconf import DictConfig, open_dict, read_write

from gansweep.config import check_train
from gansweep.fusion.groups import check_fusible
from gansweep.loggers.build import close_loggers
from gansweep.signals import StopSignals, stop_requested
from gansweep.sweep.resume import SKIP, plan_run, prepare
from gansweep.train import (
    build_point,
    fail,
    make_trainer,
    objective,
    open_point,
    point_callbacks,
    run_point,
    settle_status,
    write_point,
)

log = logging.getLogger("gansweep")


@contextlib.contextmanager
def hydra_config(config: DictConfig) -> Iterator[None]:
    """The point's Hydra config current (its run folder for `${hydra:...}`), as run_job sets it."""
    from hydra.core.hydra_config import HydraConfig

    saved = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(config)
    try:
        yield
    finally:
        HydraConfig.instance().cfg = saved


def task_config(config: DictConfig) -> DictConfig:
    """The config a task receives: the point's, without the hydra node."""
    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        del task["hydra"]
    return task


def train_group(configs: Sequence[DictConfig]) -> List[Any]:
    """Run the points of one fused group (their composed configs, hydra node included); per point, its objective,
    or the exception that kept it from being planned (a folder of another point, an unreadable checkpoint), as the
    ordinary task raises it. Training errors never escape: every point's metrics.json records what happened."""
    plans: List[Any] = []
    values: Dict[int, Any] = {}
    todo: List[int] = []
    for i, config in enumerate(configs):
        run_dir = _run_dir(config)
        cfg = task_config(config)
        failed = getattr(cfg.resume.failed, "value", cfg.resume.failed)  # the FailedPolicy enum, or its name
        try:
            plan = plan_run(run_dir, list(config.hydra.overrides.task), str(failed), cfg.train.iters)
        except Exception as err:  # this point only: its folder is left as it is
            log.error("%s: %s", run_dir, err)
            plans.append(None)
            values[i] = err
            continue
        plans.append(plan)
        if plan.action == SKIP:
            log.info("skipped: %s is %s", run_dir, plan.reason)
            values[i] = objective(plan.record or {})
        else:
            log.info("%s: %s", run_dir, plan.reason)
            prepare(run_dir, plan)
            todo.append(i)
    with StopSignals() as stop:
        for start in sorted({_start(plans[i].checkpoint) for i in todo}):  # points at one iteration train together
            members = [i for i in todo if _start(plans[i].checkpoint) == start]
            if len(members) == 1:
                with hydra_config(configs[members[0]]):
                    cfg, run_dir = task_config(configs[members[0]]), _run_dir(configs[members[0]])
                    values[members[0]] = objective(run_point(cfg, run_dir, plans[members[0]].checkpoint, multirun=True))
            else:
                group = run_points([configs[i] for i in members], [plans[i].checkpoint for i in members])
                values.update((i, objective(record)) for i, record in zip(members, group, strict=True))
            if stop_requested():  # the others stay unstarted, recorded so: running the sweep again trains them
                for i in todo:
                    if i not in values:
                        values[i] = objective(_unstarted(configs[i], plans[i].checkpoint))
                break
    stop.forward()
    return [values[i] for i in range(len(configs))]


def _unstarted(config: DictConfig, checkpoint: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The record of a point a stop signal kept from starting: interrupted where it stood."""
    from gansweep.sweep.records import new_record, write_record

    record = new_record(config.hydra, config.get("seed"))
    record.update(status="interrupted", g_iters=_start(checkpoint), resumed_from=None)
    write_record(_run_dir(config), record)
    return record


def _start(checkpoint: Optional[Dict[str, Any]]) -> int:
    from gansweep.callbacks.checkpoint import STATE_KEY

    return int(checkpoint[STATE_KEY]["g_iters"]) if checkpoint is not None else 0


def _run_dir(config: DictConfig) -> Path:
    return Path(str(config.hydra.runtime.output_dir))


def run_points(configs: Sequence[DictConfig], checkpoints: Sequence[Optional[Dict[str, Any]]]) -> List[Dict[str, Any]]:
    """Train and record K points together (all fresh, or all resumed from one iteration); their records."""
    start = time.perf_counter()
    cfgs = [task_config(config) for config in configs]
    run_dirs = [_run_dir(config) for config in configs]
    opened = []
    for cfg, config, run_dir, checkpoint in zip(cfgs, configs, run_dirs, checkpoints, strict=True):
        with hydra_config(config):  # its config.yaml and loggers resolve `${hydra:...}` to its own folder
            opened.append(open_point(cfg, config.hydra, run_dir, checkpoint))
    records = [record for record, _, _ in opened]
    loggers = [point_loggers for _, point_loggers, _ in opened]
    for point_loggers in loggers:
        for logger in point_loggers:
            if hasattr(logger, "alongside"):  # W&B: each point its own run, open at once in this process
                logger.alongside = True
    if not any(failure for _, _, failure in opened):
        try:
            fit_group(configs, records, checkpoints, loggers)
        except Exception as err:  # shared by every point of the group
            for record in records:
                fail(record, err)
    else:  # a point whose folder or loggers failed: the group does not train (each record says why)
        for record, (_, _, failure) in zip(records, opened, strict=True):
            if failure is None:
                record["error"] = "not trained: another point of its fused group failed before training"
    for config, run_dir, record in zip(configs, run_dirs, records, strict=True):
        with hydra_config(config):  # every record on disk first: closing W&B runs may take long
            write_point(run_dir, record, time.perf_counter() - start)
    for k, (record, point_loggers) in enumerate(zip(records, loggers, strict=True)):
        close_loggers(point_loggers, record, finish_others=k == len(records) - 1)
    return records


def fit_group(
    configs: Sequence[DictConfig],
    records: Sequence[Dict[str, Any]],
    checkpoints: Sequence[Optional[Dict[str, Any]]],
    loggers: Sequence[Sequence[Any]],
) -> None:
    """gansweep.train.fit for a fused group: each point built under its own seed, one GANModule, each point's own
    callbacks and loggers; every record receives its g_iters, metrics and status."""
    cfgs = [task_config(config) for config in configs]
    for cfg in cfgs:
        check_train(cfg.train)
    check_fusible(cfgs)
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from gansweep.callbacks.device import DeviceSettings
    from gansweep.callbacks.evaluation import collect_metrics, collect_protocols
    from gansweep.callbacks.stop import Interrupted, StopOnSignal
    from gansweep.fusion.callbacks import PointCallbacks, PointRun, RestoreGroup
    from gansweep.fusion.data import FusedData
    from gansweep.fusion.views import PointModule
    from gansweep.module import GANModule
    from gansweep.train import _quiet_lightning, module_options

    _quiet_lightning()
    lead = cfgs[0]
    built = [build_point(cfg) for cfg in cfgs]
    loss = built[0][1]
    module = GANModule([point for _, _, point in built], loss, **module_options(lead))
    module.point_loggers = [list(point_loggers) for point_loggers in loggers]
    start = _start(checkpoints[0])
    data = FusedData([datamodule for datamodule, _, _ in built])
    data.configure_batches(
        lead.train.batch_size, lead.train.n_critic + loss.extra_real_batches, lead.train.iters - start, start=start
    )
    points = []
    for k, (config, cfg) in enumerate(zip(configs, cfgs, strict=True)):
        with hydra_config(config):  # `${hydra:runtime.output_dir}` is the point's own folder
            own = point_callbacks(cfg)
        points.append(PointRun(PointModule(module, k), loggers[k], built[k][0], own))
    resumed = all(checkpoint is not None for checkpoint in checkpoints)
    for point_loggers in loggers if resumed else ():
        for logger in point_loggers:
            if hasattr(logger, "resume_from"):
                logger.resume_from(start)
    callbacks = [
        *([RestoreGroup([c for c in checkpoints if c is not None], points)] if resumed else []),
        DeviceSettings(lead.train.tf32, lead.train.channels_last),
        PointCallbacks(points),
        StopOnSignal(),
    ]
    trainer = make_trainer(lead, _run_dir(configs[0]), callbacks, loggers=())
    interrupted, group_error = False, None
    try:
        trainer.fit(module, datamodule=data)
    except (Interrupted, SIGTERMException):  # raised between generator iterations; each checkpoint is written
        interrupted = True
    except Exception as err:  # the group's own step failed: every point still training fails with it
        group_error = (err, traceback.format_exc())
    for point, record in zip(points, records, strict=True):
        g_iters = point.module.ended_at if point.module.ended_at is not None else module.g_iters
        record.update(
            g_iters=g_iters, metrics=collect_metrics(point.callbacks), protocol=collect_protocols(point.callbacks)
        )
        for logger in point.loggers:
            logger.finalize("success" if point.error is None and group_error is None else "failed")
    if interrupted:
        module.check_divergence()
    for k, (point, record) in enumerate(zip(points, records, strict=True)):
        error = point.error or (group_error if module.diverged[k] is None else None)
        if error is not None:
            record.update(status="failed", error=f"{type(error[0]).__name__}: {error[0]}", traceback=error[1])
        else:
            settle_status(record, module.diverged[k], interrupted)
