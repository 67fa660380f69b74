"""The adaptive sweep's search space (gansweep/search/space.py) against the real clients of Hydra's sweep syntax: the
released hydra-optuna-sweeper's own parsing (create_params_from_overrides) and grid (its GridSampler choices), and
Hydra's basic sweeper's expansion of the same overrides (gansweep.grid.expand) for the grids of our templates."""

from __future__ import annotations

import itertools
from typing import Any, Dict, List, Sequence

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from gansweep.grid import expand
from gansweep.paths import templates_dir
from gansweep.search.settings import SearchError
from gansweep.search.space import Choice, Interval, Range, parse_space

optuna = pytest.importorskip("optuna")
impl = pytest.importorskip("hydra_plugins.hydra_optuna_sweeper._impl")

from gansweep.search.distributions import distributions  # noqa: E402  (needs optuna)

# (sweeper params, command line): what a template's hydra.sweeper.params and a user's `gansweep -m ...` give
SPACES = {
    "comma lists": ({"constraint.gp.weight": "0.1,1,10", "optim.lr": "1e-4,2e-4,5e-4", "seed": "0,1"}, []),
    "choice of strings and bools": ({"loss": "choice(wgan,bolt)", "train.ema": "choice(true,false)"}, []),
    "mixed choice": ({"x": "choice(1,1.5,a)"}, []),
    "int ranges": ({"seed": "range(10)", "arch.hidden": "range(16,80,16)", "n": "range(1,13,4)"}, []),
    "float range": ({"optim.beta": "range(0.1,0.5,0.1)"}, []),
    "intervals": ({"optim.lr": "tag(log,interval(1e-5,1e-3))", "train.ema": "interval(0.9,0.999)"}, []),
    "log interval of ints": ({"arch.hidden": "tag(log,interval(16,256))"}, []),
    "fixed values": ({"experiment": "lgan_cifar10", "seed": "0,1", "train.iters": "2000"}, []),
    "command line over params": (
        {"optim.lr": "1e-4,2e-4", "seed": "0,1", "loss": "wgan"},
        ["optim.lr=tag(log,interval(1e-5,1e-3))", "seed=3", "constraint.gp.weight=choice(1,10)", "+extra=x,y"],
    ),
}


def lines(params: Dict[str, str], arguments: Sequence[str]) -> List[str]:
    """What both sweepers parse: the params as `key=value`, then the command line."""
    return [f"{key}={value}" for key, value in params.items()] + list(arguments)


def canon(distribution: Any) -> Any:
    """A distribution as plain values, so that Optuna 2's classes compare with Optuna 3's."""
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return ("categorical", tuple(distribution.choices))
    name = type(distribution).__name__
    log = getattr(distribution, "log", "Log" in name)
    integer = isinstance(distribution.low, int)
    step = getattr(distribution, "step", getattr(distribution, "q", None))
    return ("int" if integer else "float", distribution.low, distribution.high, step or (1 if integer else None), log)


def client_grid(distribution: Any) -> List[Any]:
    """hydra-optuna-sweeper's values for its GridSampler (hydra/sweeper/sampler=grid) of one distribution."""
    return list(impl.OptunaSweeperImpl._to_grid_sampler_choices(None, distribution))


@pytest.mark.parametrize("case", list(SPACES))
def test_the_space_reads_each_override_as_hydra_optuna_sweeper_does(case):
    params, arguments = SPACES[case]
    space = parse_space(params, arguments)
    theirs, fixed = impl.create_params_from_overrides(lines(params, arguments))
    for key in fixed:  # that sweeper drops a key from its search space when any of its overrides is fixed
        theirs.pop(key, None)
    ours = distributions(space)
    assert space.fixed == fixed and set(ours) == set(theirs)
    for key, dim in space.dimensions.items():
        mine, client = canon(ours[key]), canon(theirs[key])
        if isinstance(dim, Range):  # the values its grid sampler runs; its other samplers also draw range's stop
            assert list(dim.values) == client_grid(theirs[key]) and mine[2] == max(dim.values)
            mine, client = mine[:2] + mine[3:], client[:2] + client[3:]
        assert mine == client, key


@pytest.mark.parametrize("case", [case for case in SPACES if parse_space(*SPACES[case]).is_grid()])
def test_a_grid_holds_the_values_of_hydra_optuna_sweepers_grid_sampler_and_hydras_basic_sweeper(case):
    params, arguments = SPACES[case]
    space = parse_space(params, arguments)
    theirs, fixed = impl.create_params_from_overrides(lines(params, arguments))
    grid = space.grid()
    assert grid == {key: client_grid(theirs[key]) for key in theirs if key not in fixed}
    points = {
        tuple(space.overrides(dict(zip(grid, values, strict=True)))) for values in itertools.product(*grid.values())
    }
    assert points == {tuple(point) for point in expand(lines(params, arguments)).points}
    assert space.grid_size() == len(points)


def test_values_keep_hydras_types_through_a_trials_overrides():
    space = parse_space(
        SPACES["comma lists"][0], ["loss=choice(wgan,bolt)", "train.ema=true,false", "note=choice('a b',c)"]
    )
    grid = space.grid()
    assert grid["seed"] == [0, 1] and grid["optim.lr"] == [1e-4, 2e-4, 5e-4] and grid["train.ema"] == [True, False]
    assert grid["loss"] == ["wgan", "bolt"] and grid["note"] == ["a b", "c"]
    values = {key: values[-1] for key, values in grid.items()}
    parsed = OverridesParser.create().parse_overrides(space.overrides(values))
    assert {o.get_key_element(): o.value() for o in parsed} == values  # each parses back to its value and type


def test_an_interval_makes_the_space_no_grid():
    space = parse_space({"seed": "0,1"}, ["optim.lr=tag(log,interval(1e-5,1e-3))"])
    assert space.dimensions["optim.lr"] == Interval(1e-5, 1e-3, log=True)
    assert isinstance(space.dimensions["seed"], Choice)
    assert not space.is_grid() and space.grid() is None and space.grid_size() is None


def test_a_range_holds_hydras_values_where_hydra_optuna_sweeper_strays():
    """That sweeper's samplers draw range's stop too (an Optuna int axis up to it), and its grid loses the last value
    when stop - start is no multiple of step (range(1,10,4): 1,5); a range is Hydra's values (1,5,9), as the
    basic sweeper runs them, whatever the sampler."""
    space = parse_space({}, ["n=range(1,10,4)", "m=range(4)"])
    assert space.grid() == {"n": [1, 5, 9], "m": [0, 1, 2, 3]}
    assert [p for p in expand(["n=range(1,10,4)"]).points] == [["n=1"], ["n=5"], ["n=9"]]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = {study.ask(distributions(space)).params["m"] for _ in range(60)}
    assert drawn == {0, 1, 2, 3}


def test_a_later_override_of_a_key_wins_as_in_hydras_basic_sweeper():
    """hydra-optuna-sweeper keeps a fixed value over a later sweep of its key; Hydra's basic sweeper (and so the grid
    the same command runs without an adaptive sweeper) takes the later one, and so does the space."""
    space = parse_space({"seed": "0"}, ["seed=0,1,2"])
    assert space.grid() == {"seed": [0, 1, 2]}
    assert [p[0] for p in expand(["seed=0", "seed=0,1,2"]).points] == ["seed=0", "seed=1", "seed=2"]


def test_every_templates_grid_is_the_basic_sweepers():
    for template in sorted(templates_dir().glob("*.yaml")):
        params = OmegaConf.select(OmegaConf.load(template), "hydra.sweeper.params") or {}
        space = parse_space(params)
        assert space.is_grid(), template.name
        assert space.grid_size() == len(expand(lines(dict(params), [])).points), template.name


def test_a_sweep_the_space_cannot_search_is_refused_in_one_line():
    with pytest.raises(SearchError, match="only choice, range, interval"):
        parse_space({}, ["dataset=glob(*)"])
    with pytest.raises(SearchError, match="holds no value"):
        parse_space({}, ["seed=range(3,3)"])
    with pytest.raises(SearchError, match="no value for seed"):
        parse_space({}, ["seed=0,1"]).overrides({})
