"""The constraint-plugin contract: three optional hooks around the critic's updates; several stack."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Sequence, Tuple

from torch import Tensor, nn

if TYPE_CHECKING:
    from gansweep.noise import PointNoise

ScoreTransform = Callable[[Tensor], Tensor]


class Constraint:
    """A Lipschitz constraint on the critic. Override whichever hooks apply; the defaults do nothing.

    Contract: real and fake are [*points, N, *data_shape], the first `batch_dims` = len(points) + 1 dims
    indexing points and samples; a penalty reduces over N only and returns [*points], a scalar for one run. Its
    random numbers come from `noise` (each point's own stream, gansweep.noise) when given.

    A model builds one instance per point: prepare and after_critic_step run each point's own instance on its own
    critic; `fuse` makes the one instance whose penalty serves every point of a group (the points' instances must be
    equal but for `fusible` attributes, which a penalty with per-point hyperparameters makes per point).
    """

    #: attributes that may differ between the points of a fused group (fuse makes them per point)
    fusible: Tuple[str, ...] = ()

    @classmethod
    def fuse(cls, per_point: Sequence["Constraint"]) -> "Constraint":
        """The group's constraint from each point's (one point's is itself): the first, once every attribute but the
        fusible ones is checked equal. Penalties with fusible attributes make them per point."""
        first = per_point[0]
        kept = {k: v for k, v in vars(first).items() if k not in cls.fusible}
        for other in per_point[1:]:
            theirs = {k: v for k, v in vars(other).items() if k not in cls.fusible}
            if type(other) is not type(first) or theirs != kept:
                raise ValueError(
                    f"{cls.__name__} differs between the points of a fused group ({kept} vs {theirs}); only "
                    f"{', '.join(cls.fusible) or 'nothing'} may differ: run these points unfused (fuse=1)"
                )
        return first

    def prepare(self, critic: nn.Module) -> None:
        """Called once before training (e.g. wrap layers in spectral normalisation)."""

    def penalty(
        self,
        critic: nn.Module,
        real: Tensor,
        fake: Tensor,
        transform: Optional[ScoreTransform] = None,
        batch_dims: int = 1,
        noise: Optional[PointNoise] = None,
    ) -> Optional[Tensor]:
        """A term added to the critic loss (gradient penalties); None when the constraint adds none."""
        return None

    def after_critic_step(self, critic: nn.Module) -> None:
        """Called after every critic optimizer step, on the point's own critic (e.g. weight clipping)."""
