"""The sweep's comparison in W&B: one more run in the sweep's group (job type "report") holding the ranked table,
every point's row and the report's plots, so the dashboard shows the comparison in one place."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("gansweep")

WANDB_TARGET = "gansweep.loggers.wandb_run.WandbRunLogger"


def wandb_settings(config: DictConfig) -> Optional[Dict[str, Any]]:
    """The sweep's W&B logger settings (its `logger` entry whose target is WandbRunLogger), or None without one.
    Read key by key, unresolved: the save_dir interpolates the point's folder, which the sweep does not have."""
    for name, node in (OmegaConf.select(config, "logger", default=None) or {}).items():
        if node and node.get("_target_") == WANDB_TARGET:
            keys = ("project", "entity", "group", "tags", "mode", "init_timeout")
            return {key: OmegaConf.select(config, f"logger.{name}.{key}", default=None) for key in keys}
    return None


def log_report(
    sweep_dir: Path,
    settings: Mapping[str, Any],
    report: Any,
    point_columns: Sequence[str],
    point_rows: Sequence[Mapping[str, Any]],
) -> None:
    """A W&B run in the sweep's group with the ranked table (`comparison`), the points (`points`), the plots
    (`plots/<name>`) and the headline metric in its summary. A W&B failure is logged; nothing on disk depends on it."""
    import wandb

    from gansweep.loggers.identity import sweep_group
    from gansweep.loggers.wandb_run import clean_tags, resolve_mode, start_run

    mode = resolve_mode(settings.get("mode") or "auto")
    if mode == "disabled":
        return
    group = settings.get("group") or sweep_group(sweep_dir)
    init = {
        "project": settings.get("project") or "gansweep",
        "entity": settings.get("entity"),
        "group": group,
        "job_type": "report",
        "name": f"report {group}",
        "tags": clean_tags([*(settings.get("tags") or []), "report"]),
        "dir": str(sweep_dir),
        "mode": mode,
        "config": {"metric": report.metric, "higher_is_better": report.higher_is_better},
    }
    run = start_run(init, float(settings.get("init_timeout") or 90))
    try:
        rows: List[List[Any]] = [[row.get(c) for c in point_columns] for row in point_rows]
        ranked = [list(r) for r in report.table_rows]
        run.log(
            {
                "comparison": wandb.Table(columns=list(report.table_columns), data=ranked),
                "points": wandb.Table(columns=list(point_columns), data=rows),
                **{f"plots/{Path(p).stem}": wandb.Image(str(p)) for p in report.plots},
            }
        )
        run.summary.update({"metric": report.metric, "points": len(point_rows)})
        run.finish(exit_code=0)
    except Exception as err:  # the report files are written already; W&B only mirrors them
        name = type(err).__name__
        log.warning("the W&B report run failed (%s: %s); report.md in %s is complete", name, err, sweep_dir)
        try:
            run.finish(exit_code=1)
        except Exception:  # already said; the sweep's own files are what counts
            pass
