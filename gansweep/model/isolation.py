"""Failure isolation inside a group: when a step's batched computation raises, find the points whose own tensors
raise it, fail those alone, and compute the step again for the others.

A step computes (forward and backward) before it applies anything, so when the computation raises, the weights are
as the step found them. What the computation may have changed in place is put back first: each point's noise
stream (rewound) and its networks' buffers (batch-norm statistics, spectral norm's vectors). Then each training
point is probed alone (every slot computing with its tensors); those whose probe raises are failed with their own
error and routed out, and the step is computed again: the others get exactly the numbers a group without the failure
gives them. An error that no point raises alone, or that every point raises, is the group's: it is raised.
"""

from __future__ import annotations

import traceback
from contextlib import nullcontext
from typing import Callable, ContextManager, Dict, Tuple

import torch
from torch import Tensor

from gansweep.model.stack import GANStack
from gansweep.noise import PointNoise

Failed = Callable[[Dict[int, Tuple[BaseException, str]]], None]


class Isolation:
    """Steps.run for a model: `on_failed({point: (error, traceback)})` takes the failed points out of training;
    `quiet()` is where the probes compute (no training hooks fire for them)."""

    def __init__(
        self, stack: GANStack, noise: PointNoise, on_failed: Failed, quiet: Callable[[], ContextManager] = nullcontext
    ) -> None:
        self.stack, self.noise, self.on_failed, self.quiet = stack, noise, on_failed, quiet

    def __call__(self, compute: Callable[[], Dict[str, Tensor]]) -> Dict[str, Tensor]:
        if len(self.stack.training_points) < 2:  # nothing to isolate: an error is this point's, or the group's
            return compute()
        saved = self._save()
        while True:
            try:
                return compute()
            except Exception:
                self._restore(saved)
                culprits = self._probe(compute, saved)
                if not culprits or len(culprits) == len(self.stack.training_points):
                    raise
                self.on_failed(culprits)
                self._restore(saved)

    def _probe(self, compute: Callable[[], Dict[str, Tensor]], saved: Tuple) -> Dict[int, Tuple[BaseException, str]]:
        """Each training point's step computed alone: the points whose own computation raises, with their errors."""
        culprits: Dict[int, Tuple[BaseException, str]] = {}
        for k in self.stack.training_points:
            routes = self.stack.route_all(k)
            try:
                with self.quiet():
                    compute()
            except Exception as err:
                culprits[k] = (err, traceback.format_exc())
            finally:
                self.stack.set_routes(routes)
                self._restore(saved)
        return culprits

    def _save(self) -> Tuple:
        """What a step's computation changes in place: the noise streams' positions and the networks' buffers."""
        buffers = self.stack.network_buffers()
        return self.noise.mark(), buffers, [b.clone() for b in buffers]

    def _restore(self, saved: Tuple) -> None:
        mark, buffers, values = saved
        self.noise.rewind(mark)
        with torch.no_grad():
            for buffer, value in zip(buffers, values, strict=True):
                buffer.copy_(value)
