"""The constraint-plugin contract: three optional hooks around the critic's updates; several stack."""

from __future__ import annotations

from typing import Callable, Optional

from torch import Tensor, nn

ScoreTransform = Callable[[Tensor], Tensor]


class Constraint:
    """A Lipschitz constraint on the critic. Override whichever hooks apply; the defaults do nothing.

    Contract: real and fake are [*points, N, *data_shape], the first `batch_dims` = len(points) + 1 dims
    indexing points and samples; a penalty reduces over N only and returns [*points], a scalar for one run.
    """

    def prepare(self, critic: nn.Module) -> None:
        """Called once before training (e.g. wrap layers in spectral normalisation)."""

    def penalty(
        self,
        critic: nn.Module,
        real: Tensor,
        fake: Tensor,
        transform: Optional[ScoreTransform] = None,
        batch_dims: int = 1,
    ) -> Optional[Tensor]:
        """A term added to the critic loss (gradient penalties); None when the constraint adds none."""
        return None

    def after_critic_step(self, critic: nn.Module) -> None:
        """Called after every critic optimizer step (e.g. weight clipping)."""
