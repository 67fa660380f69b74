"""Shared helpers: compose gansweep's real config (as the CLI would) and run the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Sequence

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from gansweep.config import register_schema
from gansweep.paths import conf_dir
from gansweep.templates import register_templates

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def offline_caches(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test (and every CLI it starts) sees fresh caches: XDG_CACHE_HOME (decoded data, real features, the
    digit classifier) and TORCH_HOME, whose hub/checkpoints holds a randomly initialised network in the real format
    of inception-2015-12-05.pt, so metrics=inception runs its real code path offline and never downloads. W&B runs
    offline (no test uploads; test_wandb's fallback test lifts it) with its settings and caches in the same place."""
    from tests.fake_inception import write_fake_inception

    root = tmp_path_factory.mktemp("caches")
    write_fake_inception(root / "torch" / "hub" / "checkpoints" / "inception-2015-12-05.pt")
    wandb_env = {f"WANDB_{k}_DIR": str(root / "wandb" / k.lower()) for k in ("CONFIG", "CACHE", "DATA")}
    env = {"XDG_CACHE_HOME": str(root / "xdg"), "TORCH_HOME": str(root / "torch"), "WANDB_MODE": "offline", **wandb_env}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def compose_config(overrides: Sequence[str] = (), out_dir: Path | None = None, multirun: bool = False) -> DictConfig:
    """The task config of `gansweep OVERRIDES`, with HydraConfig set (hydra.* readable) as inside a run."""
    task_cfg = compose_point(overrides, out_dir, multirun).copy()
    with open_dict(task_cfg):
        del task_cfg["hydra"]  # as Hydra hands it to the task
    return task_cfg


def compose_point(
    overrides: Sequence[str] = (), out_dir: Path | None = None, multirun: bool = False, num: int = 0
) -> DictConfig:
    """The composed config of `gansweep OVERRIDES` with its hydra node (job `num`, run folder `out_dir`), as a
    launcher hands it to a job; HydraConfig is set to it."""
    register_schema()
    register_templates()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        if out_dir is not None:
            cfg.hydra.runtime.output_dir = str(out_dir)
        cfg.hydra.job.num = num
        cfg.hydra.mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    HydraConfig.instance().set_config(cfg.copy())  # it marks its copy read-only
    return cfg


def cli_env() -> dict:
    env = dict(os.environ, WANDB_MODE="offline", PYTHONWARNINGS="ignore")
    env.pop("PYTHONPATH", None)
    return env


def run_cli(args: List[str], cwd: Path, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """`gansweep ARGS` from the installed console script next to this interpreter."""
    script = Path(sys.executable).with_name("gansweep")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "gansweep"]
    return subprocess.run(cmd + args, cwd=cwd, env=env or cli_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def fast() -> List[str]:
    """Overrides that keep a training run to a second or two on CPU."""
    return ["arch.hidden=32", "train.iters=20", "train.batch_size=64", "metrics.num_samples=500", "logger=none"]


@pytest.fixture
def default_float64():
    """torch's default dtype float64 for the test (equality to 1e-12 needs it), restored after."""
    import torch

    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(saved)
