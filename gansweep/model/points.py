"""A grid point's share of a model: its networks, constraints, optimizer factories, EMA decay and seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

from gansweep.constraints.base import Constraint
from gansweep.models.base import GANNetworks
from gansweep.optim import OptimizerFactory


@dataclass
class GANPoint:
    """One grid point: its networks, constraints (prepared on its critic here, so a point built under its seed
    initialises alone and fused alike), (generator, critic) optimizer factories, EMA decay and seed (its noise
    streams, gansweep.noise)."""

    networks: GANNetworks
    constraints: Sequence[Constraint]
    optimizers: Tuple[OptimizerFactory, OptimizerFactory]
    ema: Optional[float] = None
    seed: int = 0

    def __post_init__(self) -> None:
        for constraint in self.constraints:
            constraint.prepare(self.networks.critic)


def same(what: str, values: Sequence[Any]) -> Any:
    """The one value every point of a group shares; a difference fails with what to do."""
    if any(value != values[0] for value in values[1:]):
        raise ValueError(f"the points of a fused group differ in {what} ({values}); run them unfused (fuse=1)")
    return values[0]
