"""Training curves in `logs/metrics.csv` that a resumed run continues instead of starting over."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import List, Optional

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from gansweep.files import write_atomic


def truncate_curves(path: Path, last_step: int) -> List[str]:
    """Keep the rows of a metrics.csv whose step is at most `last_step` (a run killed after its checkpoint may have
    logged later steps, which the resumed run logs again); atomic. Returns the header."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = [row for row in reader if row.get("step") and int(float(row["step"])) <= last_step]

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header)
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(path, write)
    return header


class ResumableCSVLogger(CSVLogger):
    """Lightning's CSVLogger (which deletes an existing metrics.csv when it starts), except after `resume_from(step)`:
    then the rows up to `step` are kept and the new ones appended to the same file, so every step appears once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._resume_step: Optional[int] = None

    def resume_from(self, step: int) -> None:
        """Continue the curves of a run resumed at generator iteration `step` (before anything is logged)."""
        self._resume_step = step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None and self._resume_step is not None:
            os.makedirs(self.log_dir, exist_ok=True)
            self._experiment = _AppendingWriter(self.log_dir, self._resume_step)
        return super().experiment


class _AppendingWriter(ExperimentWriter):
    """Lightning's writer, opening an existing metrics.csv for appending (its header becomes the known keys)."""

    def __init__(self, log_dir: str, resume_step: int) -> None:
        self._resume_step = resume_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # Lightning's version deletes the file
        path = Path(self.metrics_file_path)
        if path.is_file():
            self.metrics_keys = truncate_curves(path, self._resume_step)
