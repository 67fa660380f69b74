"""Lightning callbacks selected by the `callbacks` config group: evaluation, sample plots, checkpoints."""

from gansweep.callbacks.evaluation import Evaluation

__all__ = ["Evaluation"]
