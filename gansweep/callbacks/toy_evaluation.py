"""2-D data: mode coverage and % high-quality samples (3-sigma rule), and the energy distance to the data."""

from __future__ import annotations

from typing import Any, Dict

import pytorch_lightning as pl

from gansweep.callbacks.evaluation import Evaluation, datamodule_of
from gansweep.metrics.energy import energy_distance
from gansweep.metrics.modes import mode_metrics
from gansweep.model.view import RunView


class ToyEvaluation(Evaluation):
    """Mode metrics where the data has modes (not the swiss roll); energy distance to a fresh data sample."""

    name = "toy"

    @classmethod
    def headline(cls, config: Any) -> str:
        """modes_covered where the data has modes, else energy_distance (the swiss roll)."""
        from gansweep.data.toy import TOYS

        name = config.dataset.get("name") if config.get("dataset") is not None else None
        has_modes = name in TOYS and getattr(TOYS[name](), "modes", None) is not None
        return "modes_covered" if has_modes else "energy_distance"

    def describe(self) -> Dict[str, Any]:
        return {"real_samples": self.num_samples, "mode_rule": "nearest mode within 3 std"}

    def compute(self, trainer: pl.Trainer, module: RunView) -> Dict[str, float]:
        data = datamodule_of(trainer)
        samples = module.sample(self.num_samples).cpu()
        metrics: Dict[str, float] = {}
        if getattr(data, "modes", None) is not None:
            metrics.update(mode_metrics(samples, data.modes, data.mode_std))
        metrics["energy_distance"] = energy_distance(samples, data.reference(len(samples)))
        return metrics
