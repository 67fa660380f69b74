"""The evaluation seam: a callback that scores the generator every `every` G iterations and at the end."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

import pytorch_lightning as pl


class Evaluation(pl.Callback):
    """Subclasses implement `compute`; values are logged as eval/<key> against generator iterations, and the
    final ones are kept in `final_metrics` for the run's metrics.json."""

    def __init__(self, num_samples: int, every: Optional[int] = None) -> None:
        if num_samples < 1:
            raise ValueError(f"an evaluation needs num_samples >= 1 (metrics.num_samples), got {num_samples}")
        if every is not None and every < 1:
            raise ValueError(f"metrics.every is in generator iterations, >= 1 or null; got {every}")
        self.num_samples, self.every = num_samples, every
        self.final_metrics: Dict[str, float] = {}

    def compute(self, trainer: pl.Trainer, module: Any) -> Dict[str, float]:
        """The metrics of the generator as it is now (module.sample draws from the EMA generator when kept)."""
        raise NotImplementedError

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        last = module.g_iters >= trainer.num_training_batches  # on_train_end evaluates the last iteration
        if self.every and module.g_iters % self.every == 0 and not last:
            self._log(trainer, module, self.compute(trainer, module))

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        self.final_metrics = self.compute(trainer, module)
        self._log(trainer, module, self.final_metrics)

    @staticmethod
    def _log(trainer: pl.Trainer, module: Any, metrics: Dict[str, float]) -> None:
        if trainer.logger is not None and metrics:
            trainer.logger.log_metrics({f"eval/{k}": float(v) for k, v in metrics.items()}, step=module.g_iters)


def datamodule_of(trainer: pl.Trainer) -> Any:
    """The fitted LightningDataModule (Lightning attaches it to the trainer at fit time, untyped)."""
    return trainer.datamodule  # type: ignore[attr-defined]


def collect_metrics(callbacks: Iterable[Any]) -> Dict[str, float]:
    """The final metrics of every evaluation callback, for metrics.json."""
    metrics: Dict[str, float] = {}
    for callback in callbacks:
        if isinstance(callback, Evaluation):
            metrics.update(callback.final_metrics)
    return metrics
