"""The evaluation seam: a callback that scores the generator every `every` G iterations and at the end."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

import pytorch_lightning as pl


class Evaluation(pl.Callback):
    """Subclasses implement `compute`; values are logged as eval/<key> against generator iterations, and the
    latest ones (the final ones once training ends) are kept in `metrics` for the run's metrics.json, and in the
    checkpoint, so an interrupted run records the metrics it had reached."""

    def __init__(self, num_samples: int, every: Optional[int] = None) -> None:
        if num_samples < 1:
            raise ValueError(f"an evaluation needs num_samples >= 1 (metrics.num_samples), got {num_samples}")
        if every is not None and every < 1:
            raise ValueError(f"metrics.every is in generator iterations, >= 1 or null; got {every}")
        self.num_samples, self.every = num_samples, every
        self.metrics: Dict[str, float] = {}

    def compute(self, trainer: pl.Trainer, module: Any) -> Dict[str, float]:
        """The metrics of the generator as it is now (module.sample draws from the EMA generator when kept)."""
        raise NotImplementedError

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        last = module.g_iters >= module.last_iteration  # on_train_end evaluates the last iteration
        if self.every and module.g_iters % self.every == 0 and not last:
            self.metrics = self.compute(trainer, module)
            self._log(trainer, module, self.metrics)

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        self.metrics = self.compute(trainer, module)
        self._log(trainer, module, self.metrics)

    def state_dict(self) -> Dict[str, Any]:
        return {"metrics": dict(self.metrics)}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.metrics = dict(state_dict["metrics"])

    @staticmethod
    def _log(trainer: pl.Trainer, module: Any, metrics: Dict[str, float]) -> None:
        if trainer.logger is not None and metrics:
            trainer.logger.log_metrics({f"eval/{k}": float(v) for k, v in metrics.items()}, step=module.g_iters)


def datamodule_of(trainer: pl.Trainer) -> Any:
    """The fitted LightningDataModule (Lightning attaches it to the trainer at fit time, untyped)."""
    return trainer.datamodule  # type: ignore[attr-defined]


def collect_metrics(callbacks: Iterable[Any]) -> Dict[str, float]:
    """The latest metrics of every evaluation callback (the final ones after training), for metrics.json."""
    metrics: Dict[str, float] = {}
    for callback in callbacks:
        if isinstance(callback, Evaluation):
            metrics.update(callback.metrics)
    return metrics
