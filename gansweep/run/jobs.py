"""Hydra's job steps for the points of a fused group, as hydra.core.utils.run_job takes them for one point: each
point's output folder, .hydra/ files, job log and on_job_start, then the group trains once (train_group), then
each point's JobReturn and on_job_end. The training is the group's; everything a point's folder holds is its own."""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, List, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn,
    JobRuntime,
    JobStatus,
    _flush_loggers,
    _save_config,
    configure_log,
    env_override,
)
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from gansweep.hydra_job import hydra_config, sweeper_value, task_config


def run_group_jobs(
    hydra_context: HydraContext, task_function: Any, configs: Sequence[DictConfig], refill: Any = None
) -> List[JobReturn]:
    """One JobReturn per point, in order; the points' configs are as the launcher composed them. `task_function`
    (the sweep's, gansweep's task) is what on_job_start is told. `refill` (gansweep.search.refill.RefillPlan): the
    group's freed slots take new trials of its adaptive sweep as it trains."""
    from gansweep.run.group import train_group

    callbacks = hydra_context.callbacks
    for config in configs:  # as run_job: the folder exists and is absolute before logging is configured
        output_dir = Path(str(config.hydra.runtime.output_dir)).absolute()
        output_dir.mkdir(parents=True, exist_ok=True)
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = str(output_dir)
    lead = configs[0]
    with hydra_config(lead):
        configure_log(lead.hydra.job_logging, lead.hydra.verbose)  # the group's log goes to every point's job log
    add_job_logs(configs[1:])
    with env_override(lead.hydra.job.env_set):  # equal for every point of a group (gansweep.run.fusion)
        returns = [start_job(config, callbacks, task_function) for config in configs]
        try:
            with hydra_config(lead):
                bound = refill.bind(hydra_context, task_function) if refill is not None else None
                values: Sequence[Any] = train_group(configs, bound)
        except Exception as err:  # train_group records every point itself; this is what escaped it
            values = [err] * len(configs)
    task_name = JobRuntime.instance().get("name")
    _flush_loggers()
    for config, job_return, value in zip(configs, returns, values, strict=True):
        if not isinstance(value, Exception):  # as the task answers: never NaN to a sweeper
            value = sweeper_value(float(value), config.hydra)
        job_return.return_value, job_return.task_name = value, task_name
        job_return.status = JobStatus.FAILED if isinstance(value, Exception) else JobStatus.COMPLETED
        with hydra_config(config):
            callbacks.on_job_end(config=config, job_return=job_return)
    return returns


def start_job(config: DictConfig, callbacks: Any, task_function: Any) -> JobReturn:
    """run_job's steps up to the task: .hydra/ files and on_job_start (the working directory unchanged: a point with
    hydra.job.chdir=true is never fused, gansweep.run.fusion)."""
    output_dir = Path(str(config.hydra.runtime.output_dir))
    task_cfg = task_config(config)
    with hydra_config(config):
        hydra_cfg: DictConfig = copy.deepcopy(HydraConfig.instance().cfg)  # type: ignore[assignment]
        if config.hydra.output_subdir is not None:
            hydra_output = output_dir / str(config.hydra.output_subdir)
            _save_config(task_cfg, "config.yaml", hydra_output)
            _save_config(hydra_cfg, "hydra.yaml", hydra_output)
            _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_output)
        callbacks.on_job_start(config=config, task_function=task_function)
    overrides = OmegaConf.to_container(config.hydra.overrides.task)
    assert isinstance(overrides, list)
    return JobReturn(overrides=overrides, cfg=task_cfg, hydra_cfg=hydra_cfg, working_dir=os.getcwd())


def add_job_logs(configs: Sequence[DictConfig]) -> List[logging.Handler]:
    """Each other point's job log file (hydra.job_logging's file handler, resolved for that point) beside the lead's:
    the group's log reaches every point's; the handlers added (a trial that joins a group mid-fit has its own removed
    when it ends, gansweep.search.refill)."""
    root = logging.getLogger()
    template = next((h for h in root.handlers if isinstance(h, logging.FileHandler)), None)
    added: List[logging.Handler] = []
    if template is None:
        return added
    for config in configs:
        with hydra_config(config):
            handlers = OmegaConf.to_container(config.hydra.job_logging.get("handlers", {}), resolve=True)
        for spec in (handlers or {}).values():  # type: ignore[union-attr]
            if isinstance(spec, dict) and spec.get("filename"):
                handler = logging.FileHandler(spec["filename"], mode=spec.get("mode", "a"))
                handler.setFormatter(template.formatter)
                handler.setLevel(template.level)
                root.addHandler(handler)
                added.append(handler)
    return added
