"""Lipschitz constraints as plug-ins, selected (and stacked) with `constraint=NAME` or `constraint=[a,b]`."""

from gansweep.constraints.base import Constraint

__all__ = ["Constraint"]
