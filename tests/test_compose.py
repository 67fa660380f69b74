"""gansweep.launch.compose.PointComposer composes every point as Hydra's load_sweep_config does: every template's
grid and hand-written points (value, group, +, ++, ~ and hydra.* overrides, quoted strings, lists, dicts, errors).

Compared, Hydra's config vs the fast one:
* OmegaConf.to_container(resolve=False) of the whole config, the hydra node included;
* every node's class and metadata (ref_type, object_type, optional, key, key/element types, flags: struct, readonly
  of the root and of the hydra node), every value node's raw value, and the root's resolver cache;
* resolved values, leaf by leaf, of the whole config (hydra node included) with HydraConfig unset, where a leaf that
  does not resolve (`${hydra:...}`, hydra.job.num and other fields a launcher sets later) must fail with the same
  exception type on both sides; and the task config (all but `hydra`) resolved in full with HydraConfig set to each
  side's own config (runtime.output_dir given the same value, as a launcher does).
Nothing is excluded from the comparison: hydra.runtime.cwd/version are equal on both sides in one process.
* a point that fails raises the same exception type (Hydra's own exception: the fast path hands failures to Hydra).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.utils import create_config_search_path
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.errors import ConfigCompositionException
from hydra.types import RunMode
from omegaconf import Container, DictConfig, ListConfig, OmegaConf, open_dict, read_write
from omegaconf.base import Node

from gansweep.config import register_schema
from gansweep.grid import expand
from gansweep.launch.compose import PointComposer
from gansweep.paths import conf_dir, templates_dir
from gansweep.templates import register_templates

TEMPLATES = sorted(path.stem for path in templates_dir().glob("*.yaml"))
SWEEP_DIR = ["hydra.sweep.dir=/SWEEP"]  # the master's own hydra override, as a command line gives one


@pytest.fixture(scope="module")
def loader() -> ConfigLoaderImpl:
    Plugins.instance()  # imports hydra_plugins/: the launcher's and sweeper's configs in the ConfigStore
    register_schema()
    register_templates()
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(conf_dir())))


def master(loader: ConfigLoaderImpl, overrides: Sequence[str] = ()) -> DictConfig:
    """The launching config of `gansweep -m OVERRIDES hydra.sweep.dir=/SWEEP`."""
    return loader.load_configuration("config", [*overrides, *SWEEP_DIR], RunMode.MULTIRUN)


def template_grid(cfg: DictConfig) -> List[List[str]]:
    """Every point of the master's grid, as Hydra's basic sweeper launches them."""
    params = OmegaConf.to_container(cfg.hydra.sweeper.params) or {}
    assert isinstance(params, dict)
    task = OmegaConf.to_container(cfg.hydra.overrides.task)
    assert isinstance(task, list)
    return expand([*(f"{key}={value}" for key, value in params.items()), *task]).points


# -- comparison -------------------------------------------------------------------------------------------------------


def node_shape(node: Node, path: str = "") -> Dict[str, Any]:
    """{path: (class, metadata, raw value)} of every node, unresolved."""
    meta = node._metadata
    entry = (type(node).__name__, meta.ref_type, meta.object_type, meta.optional, meta.key, dict(meta.flags))
    if isinstance(node, Container):
        entry += (meta.key_type, meta.element_type, meta.flags_root)
        out = {path: entry}
        if node._is_none() or node._is_missing() or node._is_interpolation():
            out[path] = entry + (node._value(),)
            return out
        keys = list(node.keys()) if isinstance(node, DictConfig) else list(range(len(node)))
        for key in keys:
            child = node._get_node(key)
            assert isinstance(child, Node)
            out.update(node_shape(child, f"{path}.{key}"))
        return out
    return {path: entry + (type(node._value()), node._value())}


def resolved_leaves(node: Container, path: str = "") -> Dict[str, Any]:
    """{path: resolved value, or ("error", exception type)} of every leaf, each resolved on its own."""
    out: Dict[str, Any] = {}
    keys = list(node.keys()) if isinstance(node, DictConfig) else list(range(len(node)))
    for key in keys:
        where = f"{path}.{key}"
        try:
            value = node[key]
        except Exception as error:
            out[where] = ("error", type(error).__name__)
            continue
        if isinstance(value, (DictConfig, ListConfig)) and not (value._is_none() or value._is_missing()):
            out.update(resolved_leaves(value, where))
        else:
            out[where] = value
    return out


def task_resolved(cfg: DictConfig) -> Any:
    """The task config resolved in full with HydraConfig set to `cfg` (run folder /RUN); its exception's type."""
    cfg = copy.deepcopy(cfg)
    with read_write(cfg.hydra.runtime), open_dict(cfg.hydra.runtime):
        cfg.hydra.runtime.output_dir = "/RUN"
    HydraConfig.instance().set_config(cfg)
    try:
        task = copy.deepcopy(cfg)
        with open_dict(task):
            del task["hydra"]
        return OmegaConf.to_container(task, resolve=True)
    except Exception as error:
        return ("error", type(error).__name__)
    finally:
        HydraConfig.instance().cfg = None


def assert_same(hydra: DictConfig, fast: DictConfig) -> None:
    assert OmegaConf.to_container(fast, resolve=False) == OmegaConf.to_container(hydra, resolve=False)
    for key in ("overrides.task", "overrides.hydra", "runtime.choices", "job.override_dirname"):
        assert OmegaConf.select(fast.hydra, key) == OmegaConf.select(hydra.hydra, key), key
    assert OmegaConf.is_struct(fast) == OmegaConf.is_struct(hydra) is True
    assert OmegaConf.is_readonly(fast.hydra) == OmegaConf.is_readonly(hydra.hydra) is False
    assert fast.hydra._get_node_flag("readonly") == hydra.hydra._get_node_flag("readonly")
    assert OmegaConf.get_cache(fast) == OmegaConf.get_cache(hydra)
    assert node_shape(fast) == node_shape(hydra)
    HydraConfig.instance().cfg = None
    assert resolved_leaves(fast) == resolved_leaves(hydra)
    assert task_resolved(fast) == task_resolved(hydra)


def outcome(compose: Any, overrides: Sequence[str]) -> Any:
    try:
        return compose(list(overrides))
    except Exception as error:
        return error


def check_points(loader: ConfigLoaderImpl, cfg: DictConfig, points: Sequence[Sequence[str]]) -> PointComposer:
    composer = PointComposer(loader, cfg)
    for point in points:
        hydra = outcome(lambda o: loader.load_sweep_config(cfg, o), point)
        fast = outcome(composer.compose, point)
        if isinstance(hydra, Exception):
            assert type(fast) is type(hydra), (point, hydra, fast)
            assert str(fast) == str(hydra), point
        else:
            assert isinstance(fast, DictConfig), (point, fast)
            assert_same(hydra, fast)
    return composer


# -- every template's grid --------------------------------------------------------------------------------------------


def sample(points: List[List[str]]) -> List[List[str]]:
    """The first two points, the last, and one point of every other combination of group choices (a key without a
    dot: each its own template): every kind of point a grid holds, without composing all of them twice (CI time)."""
    chosen, seen = [*points[:2], points[-1]], set()
    for point in points:
        choices = tuple(o for o in point if "." not in o.split("=", 1)[0])
        if choices not in seen:
            seen.add(choices)
            chosen.append(point)
    return chosen


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_point_composes_as_hydra(loader: ConfigLoaderImpl, template: str):
    cfg = master(loader, [f"+sweep={template}"])
    points = template_grid(cfg)
    assert len(points) > 1
    composer = check_points(loader, cfg, sample(points))
    assert composer.stats["slow"] == 0  # a template's grid never needs Hydra beyond its templates


# -- hand-written points ----------------------------------------------------------------------------------------------

HANDWRITTEN: List[List[str]] = [
    ["seed=3"],
    ["seed=4", "optim.lr=1e-4"],
    ["constraint.gp.weight=10", "seed=1"],
    ["train.iters=7", "optim.lr=2e-4", "constraint.gp.weight=0.5"],
    ["seed=1", "seed=2"],  # the last wins, both recorded
    ["seed=1", "loss=bolt", "optim.lr=2e-4"],  # a group choice between value overrides: task keeps the order
    ["optim.lr=3e-4", "dataset=cifar10", "protocol=bolt_images", "loss=bolt", "seed=2"],
    ["experiment=bolt", "train.iters=9"],
    ["debug=smoke", "seed=5"],
    ["constraint=[sn,gp]", "constraint.gp.weight=5"],
    ["+extra_key=5", "seed=1"],
    ["+train.note='a b, c'", "seed=1"],
    ["++seed=5", "optim.lr=1e-3"],
    ["~callbacks.checkpoint", "seed=4"],
    ["+extra=1", "~extra", "seed=3"],
    ["~train.ema", "seed=4"],  # a typed key: Hydra refuses the deletion
    ["+train.extra=1", "train.extra=2"],  # a value override of a key a + override adds: Hydra's order
    ["train.extra=2", "+train.extra=1"],  # ...the other way round fails, as in Hydra
    ["hydra.job.chdir=true", "seed=2"],
    ["seed=2", "hydra.job.env_copy=[HOME]"],  # env_set from the environment
    ["hydra.job.config.override_dirname.exclude_keys=[seed]", "seed=3", "optim.lr=1e-4"],
    ["trainer.precision='16-mixed'", "seed=1"],
    ['trainer.precision="bf16-mixed"'],
    ["optim.betas=[0.5,0.99]"],
    ["train={iters:5,n_critic:2}", "seed=1"],  # a dict value for a key that is no group
    ["train.iters=int(5.0)"],  # a grammar function
    ["optim.lr=${train.iters}"],  # an interpolation
    ["train.generator_batch_size=null"],
    ["loss=bolt"],  # only structural: the template itself
    ["loss=bolt"],  # ...then from the cache
    # errors
    ["train.iters=abc"],
    ["optim.lrr=1"],
    ["seed=1", "train.iters=abc", "loss=bolt"],
    ["loss=nonexistent", "seed=1"],
    ["loss=nonexistent", "seed=2"],  # its failed template is remembered
    ["seed=1,2"],
    ["seed=[1"],
    ["~no_such_key"],
    ["+seed=1"],
    ["hydra.no_such_key=1"],
]


@pytest.mark.parametrize("launching", [[], ["+sweep=gp_lr_grid"]], ids=["plain", "gp_lr_grid"])
def test_handwritten_points_compose_as_hydra(loader: ConfigLoaderImpl, launching: List[str]):
    cfg = master(loader, launching)
    points = [[*launching, *point] for point in HANDWRITTEN]
    if not launching:
        points += [list(reversed(point)) for point in HANDWRITTEN if len(point) > 1]  # the other order
    check_points(loader, cfg, points)


def test_value_overrides_take_the_fast_path(loader: ConfigLoaderImpl):
    cfg = master(loader)
    composer = PointComposer(loader, cfg)
    for seed in range(3):
        for lr in ("1e-4", "2e-4"):
            composer.compose([f"seed={seed}", f"optim.lr={lr}"])
    composer.compose(["loss=bolt", "seed=1"])
    assert composer.stats == {"fast": 7, "slow": 0, "templates": 2}
    composer.compose(["+train.extra=1", "train.extra=2"])  # order-dependent: Hydra's
    assert composer.stats["slow"] == 1
    with pytest.raises(ConfigCompositionException):
        composer.compose(["seed=1,2"])  # a sweep: Hydra refuses it
    assert composer.stats["slow"] == 2


def test_each_point_is_its_own_config(loader: ConfigLoaderImpl):
    cfg = master(loader)
    composer = PointComposer(loader, cfg)
    first = composer.compose(["loss=bolt"])  # the template itself, the first time
    first.seed = 99
    first.hydra.overrides.task.append("x=1")
    again = composer.compose(["loss=bolt"])
    other = composer.compose(["loss=bolt", "seed=3"])
    assert again.seed == 0 and list(again.hydra.overrides.task) == ["loss=bolt"]
    assert other.seed == 3 and list(other.hydra.overrides.task) == ["loss=bolt", "seed=3"]
    assert_same(loader.load_sweep_config(cfg, ["loss=bolt", "seed=3"]), other)


def test_the_masters_resolver_cache_is_copied(loader: ConfigLoaderImpl):
    cfg = master(loader)
    composer = PointComposer(loader, cfg)
    composer.compose(["seed=1"])  # template composed with the cache as it was
    OmegaConf.set_cache(cfg, {"gansweep.test": {"k": 1}})
    fast, hydra = composer.compose(["seed=2"]), loader.load_sweep_config(cfg, ["seed=2"])
    assert OmegaConf.get_cache(fast) == OmegaConf.get_cache(hydra) == {"gansweep.test": {"k": 1}}


def test_environment_and_cwd_are_read_per_point(loader: ConfigLoaderImpl, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("GANSWEEP_TEST_VAR", "one")
    cfg = master(loader, ["hydra.job.env_copy=[GANSWEEP_TEST_VAR]"])
    composer = PointComposer(loader, cfg)
    composer.compose(["seed=1"])
    monkeypatch.setenv("GANSWEEP_TEST_VAR", "two")
    monkeypatch.chdir(tmp_path)
    fast = composer.compose(["seed=2"])
    assert fast.hydra.job.env_set.GANSWEEP_TEST_VAR == "two" and fast.hydra.runtime.cwd == os.getcwd()
    assert_same(loader.load_sweep_config(cfg, ["seed=2"]), fast)
    monkeypatch.delenv("GANSWEEP_TEST_VAR")
    hydra_error: Optional[Exception] = outcome(lambda o: loader.load_sweep_config(cfg, o), ["seed=3"])
    assert isinstance(hydra_error, KeyError)
    assert type(outcome(composer.compose, ["seed=3"])) is KeyError
