"""The evaluation seam: a callback that scores the generator every `every` G iterations and at the end."""

from __future__ import annotations

import time
from typing import Any, Dict, Iterable, Optional

import pytorch_lightning as pl

from gansweep.model.view import RunView


class Evaluation(pl.Callback):
    """Subclasses implement `compute`; values are logged as eval/<key> against generator iterations, and the
    latest ones (the final ones once training ends) are kept in `metrics` for the run's metrics.json, and in the
    checkpoint, so an interrupted run records the metrics it had reached. Beside them, `protocol` says how they
    were measured (`describe`, plus the iteration, the generator used, the sample count and the time taken)."""

    name = "eval"  # the protocol's key in metrics.json, and the suffix of the eval/seconds_<name> curve

    def __init__(self, num_samples: int, every: Optional[int] = None) -> None:
        if num_samples < 1:
            raise ValueError(f"an evaluation needs num_samples >= 1 (metrics.num_samples), got {num_samples}")
        if every is not None and every < 1:
            raise ValueError(f"metrics.every is in generator iterations, >= 1 or null; got {every}")
        self.num_samples, self.every = num_samples, every
        self.metrics: Dict[str, float] = {}
        self.protocol: Dict[str, Any] = {}

    @classmethod
    def headline(cls, config: Any) -> str:
        """The metric a sweep of points with this evaluation optimises by default (gansweep.record.HEADLINE_ORDER)."""
        raise NotImplementedError(f"{cls.__name__} names no headline metric: give the adaptive sweep its metric")

    @classmethod
    def preflight(cls, settings: Any) -> None:
        """Checks a sweep runs once, before any point starts, on this evaluation's config (metrics.*): raise with
        what to fix. Nothing by default; each point still checks for itself when its callback is built."""

    def compute(self, trainer: pl.Trainer, module: RunView) -> Dict[str, float]:
        """The metrics of the generator as it is now (module.sample draws from the EMA generator when kept)."""
        raise NotImplementedError

    def describe(self) -> Dict[str, Any]:
        """How this evaluation measures, for the protocol block of metrics.json (extractor, weights, samples...)."""
        return {}

    def evaluate(self, trainer: pl.Trainer, module: RunView) -> None:
        """compute, then record the protocol and log the metrics and the time the evaluation took."""
        start = time.perf_counter()
        metrics = self.compute(trainer, module)
        seconds = time.perf_counter() - start
        self.metrics = metrics
        self.protocol = {
            **self.describe(),
            "generated_samples": self.num_samples,
            "g_iters": int(module.g_iters),
            "ema_generator": getattr(module, "ema_generator", None) is not None,
            "seconds": round(seconds, 3),
        }
        self._log(trainer, module, {**metrics, f"seconds_{self.name}": seconds})

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        last = module.g_iters >= module.last_iteration  # on_train_end evaluates the last iteration
        if self.every and module.g_iters % self.every == 0 and not last:
            self.evaluate(trainer, module)

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        if not self.protocol or self.protocol.get("g_iters") != module.g_iters:  # a pruned run evaluated just now
            self.evaluate(trainer, module)

    def state_dict(self) -> Dict[str, Any]:
        return {"metrics": dict(self.metrics), "protocol": dict(self.protocol)}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        self.metrics = dict(state_dict["metrics"])
        self.protocol = dict(state_dict.get("protocol", {}))  # checkpoints from before protocols were recorded

    @staticmethod
    def _log(trainer: pl.Trainer, module: RunView, metrics: Dict[str, float]) -> None:
        for logger in trainer.loggers if metrics else ():
            logger.log_metrics({f"eval/{k}": float(v) for k, v in metrics.items()}, step=module.g_iters)


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


def collect_protocols(callbacks: Iterable[Any]) -> Dict[str, Dict[str, Any]]:
    """How each evaluation measured its latest metrics, keyed by its name, for metrics.json."""
    return {c.name: dict(c.protocol) for c in callbacks if isinstance(c, Evaluation) and c.protocol}
