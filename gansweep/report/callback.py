"""At the end of every sweep: the report (gansweep.report.write) into the sweep folder, its ranked table and the
status counts on the terminal, and, when the sweep logs to W&B, the report's run in the sweep's group."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("gansweep")


class SweepReport(Callback):
    """Hydra callback (conf/config.yaml, hydra.callbacks.sweep_report). A report that cannot be made is logged with
        the command that makes it later; the points' own folders are complete either way. A report the user made with
        other options (gansweep-report --metric/--axes) is made again with them, never replaced by the defaults (options
    set on this sweep's own command line, hydra.callbacks.sweep_report.metric=..., come first)."""

    def __init__(self, metric: Optional[str] = None, axes: Optional[Sequence[str]] = None) -> None:
        self.metric, self.axes = metric, list(axes) if axes else None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from gansweep.record import read_records
        from gansweep.report.table import columns, status_line, table_rows
        from gansweep.report.wandb_run import log_report, wandb_settings
        from gansweep.report.write import report_options, write_report

        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        records = read_records(sweep_dir)
        users = report_options(sweep_dir)
        metric, axes = self.metric or users.get("metric"), self.axes or users.get("axes")  # a command line's first
        try:
            report = write_report(sweep_dir, metric=metric, axes=axes)
        except Exception as err:
            log.error("no sweep report (%s: %s); `gansweep-report %s` makes it", type(err).__name__, err, sweep_dir)
        else:
            print(f"\ngansweep: {sweep_dir}\n{report.text}", flush=True)
            settings = wandb_settings(config)
            if settings is not None:
                log_report(sweep_dir, settings, report, columns(records), table_rows(records))
        print(status_line(records, sweep_dir), flush=True)  # the sweep's last line
