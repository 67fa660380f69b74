"""The search space of an adaptive sweep, read from the sweeper's `params` and the command line in Hydra's sweep
syntax as hydra-optuna-sweeper spells it: choice(...), a comma list, range(...), interval(...), tag(log, ...), a
fixed value. Values keep Hydra's types (int, float, str, bool; null and lists as Hydra prints them), as that
sweeper's do, so a trial's overrides name the same values a grid sweep would."""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from gansweep.search.settings import SearchError

Value = Union[str, int, float, bool]


@dataclass(frozen=True)
class Fixed:
    """A single value, kept as Hydra prints it (hydra-optuna-sweeper's fixed params); part of every trial."""

    text: str


@dataclass(frozen=True)
class Choice:
    """choice(a,b), a comma list a,b, or a shuffled range: categorical values in Hydra's order."""

    values: Tuple[Value, ...]


@dataclass(frozen=True)
class Range:
    """range(start, stop, step): Hydra's values (stop excluded, as its basic sweeper runs them), an ordered axis."""

    values: Tuple[Union[int, float], ...]
    step: Union[int, float]
    integer: bool  # start, stop and step all ints (else a stepped float axis)


@dataclass(frozen=True)
class Interval:
    """interval(low, high), with tag(log, ...) on a log scale: a continuous axis, never a grid."""

    low: float
    high: float
    log: bool


Param = Union[Fixed, Choice, Range, Interval]
Dimension = Union[Choice, Range, Interval]


@dataclass(frozen=True)
class SearchSpace:
    params: Dict[str, Param]  # key (with Hydra's +/~ prefix, as written) -> its values, in order of first mention

    @property
    def dimensions(self) -> Dict[str, Dimension]:
        """The keys a sampler chooses, with their axes."""
        return {key: p for key, p in self.params.items() if not isinstance(p, Fixed)}

    @property
    def fixed(self) -> Dict[str, str]:
        """The keys every trial shares, with their values as Hydra prints them."""
        return {key: p.text for key, p in self.params.items() if isinstance(p, Fixed)}

    def grid(self) -> Optional[Dict[str, List[Value]]]:
        """{key: values} for Optuna's GridSampler when every axis is finite (choices and ranges), else None."""
        dims = self.dimensions
        if any(isinstance(d, Interval) for d in dims.values()):
            return None
        return {key: list(d.values) for key, d in dims.items() if not isinstance(d, Interval)}

    def is_grid(self) -> bool:
        """Whether the whole space is a finite grid (the fixed grid of a template or a command line)."""
        return self.grid() is not None

    def grid_size(self) -> Optional[int]:
        """The number of points of the grid (1 when nothing is swept); None when the space is not a grid."""
        grid = self.grid()
        return None if grid is None else prod(len(values) for values in grid.values())

    def overrides(self, values: Mapping[str, Any]) -> List[str]:
        """A trial's Hydra overrides: its sampled `values` and the fixed ones, in the space's order of keys."""
        from hydra.core.override_parser.types import Transformer

        missing = [key for key in self.dimensions if key not in values]
        if missing:
            raise SearchError(f"no value for {', '.join(missing)}")
        return [
            f"{key}={p.text if isinstance(p, Fixed) else Transformer.str(values[key])}"
            for key, p in self.params.items()
        ]


def parse_space(params: Optional[Mapping[str, Any]] = None, arguments: Sequence[str] = ()) -> SearchSpace:
    """The space of a sweeper's `params` (key -> override value), then the command line's `arguments`: a later
    override of a key replaces the earlier one, as in Hydra's basic sweeper."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{key}={value}" for key, value in (params or {}).items()] + list(arguments)
    space: Dict[str, Param] = {}
    for override in OverridesParser.create().parse_overrides(lines):
        space[override.get_key_element()] = _param(override)
    return SearchSpace(space)


def _param(override: Any) -> Param:
    """One parsed override as a fixed value or an axis, with hydra-optuna-sweeper's reading of each sweep."""
    from hydra.core.override_parser.types import Glob, Transformer

    if not override.is_sweep_override():
        return Fixed(override.get_value_element_as_str())
    sweep = override.value()
    if override.is_interval_sweep():
        return Interval(sweep.start, sweep.end, "log" in sweep.tags)
    if isinstance(sweep, Glob) or not override.is_discrete_sweep():
        raise SearchError(f"{override.input_line}: only choice, range, interval and comma lists can be searched")
    values = tuple(override.sweep_iterator(transformer=Transformer.encode))
    if not values:
        raise SearchError(f"{override.input_line} holds no value")
    if override.is_range_sweep() and not sweep.shuffle:
        integer = not any(isinstance(x, float) for x in (sweep.start, sweep.stop, sweep.step))
        return Range(values, sweep.step, integer)
    return Choice(values)
