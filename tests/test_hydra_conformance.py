"""Hydra's launcher conformance suites (hydra.test_utils.launcher_common_tests: LauncherTestSuite,
BatchedSweeperTestSuite, IntegrationTestSuite, shipped in the hydra-core wheel with their apps and configs) run
against hydra/launcher=gansweep, with workers > 1 and with fuse > 1 as variants, as Hydra's joblib launcher runs
them (plugins/hydra_joblib_launcher/tests); Hydra's pytest plugin gives the fixtures. Then what the suites do not
check: another app's sweep gets its jobs as Hydra's launchers run them, and no torch."""

import json
import subprocess
import sys

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import (
    BatchedSweeperTestSuite,
    IntegrationTestSuite,
    LauncherTestSuite,
)
from pytest import mark, param

from hydra_plugins.gansweep_launcher.launcher import GansweepLauncher


@pytest.fixture(autouse=True)
def unspecified_version_base():
    """The suites expect Hydra's version base unspecified, as in a fresh process (a job then changes into its output
    folder); other tests in this process set it (hydra.main(version_base="1.3"))."""
    from hydra.version import _UNSPECIFIED_, VersionBase

    base = VersionBase.instance()
    saved, base.version_base = base.version_base, _UNSPECIFIED_
    yield
    base.version_base = saved


VARIANTS = [  # Hydra's basic launcher passes the same suites (21 of 21 here); it is Hydra's to test
    param("gansweep", [], id="gansweep"),
    param("gansweep", ["hydra.launcher.workers=2"], id="gansweep-workers2"),
    param("gansweep", ["hydra.launcher.fuse=2"], id="gansweep-fuse2"),
]


def test_discovery() -> None:
    assert GansweepLauncher.__name__ in [x.__name__ for x in Plugins.instance().discover(Launcher)]


@mark.parametrize("launcher_name, overrides", VARIANTS)
class TestLauncher(LauncherTestSuite):
    pass


@mark.parametrize(
    "launcher_name, overrides",
    [
        param(name, [f"hydra/sweeper={sweeper}", "hydra.sweeper.max_batch_size=2", *extra], id=f"{id_}-{sweeper}")
        for name, extra, id_ in [(v.values[0], v.values[1], v.id) for v in VARIANTS]
        for sweeper in ("basic", "gansweep")
    ],
)
class TestBatchedSweeper(BatchedSweeperTestSuite):
    pass


@mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        param(
            {},
            [
                "-m",
                f"hydra/launcher={v.values[0]}",
                "hydra/hydra_logging=disabled",
                "hydra/job_logging=disabled",
                *v.values[1],
            ],
            id=v.id,
        )
        for v in VARIANTS
    ],
)
class TestIntegration(IntegrationTestSuite):
    pass


APP = """
import json, sys
import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

OmegaConf.register_new_resolver("plus_one", lambda x: int(x) + 1)  # registered at runtime, in __main__


@hydra.main(version_base=None, config_path=None, config_name=None)
def my_app(cfg):
    seen = {"x": cfg.x, "y": cfg.y, "torch": "torch" in sys.modules}
    print(f"job {cfg.x} says hello", flush=True)  # to the terminal, as Hydra's launchers leave it
    with open(HydraConfig.get().runtime.output_dir + "/job.json", "w") as fh:
        fh.write(json.dumps(seen))
    return cfg.x


if __name__ == "__main__":
    my_app()
"""


def test_another_apps_sweep_runs_as_hydra_runs_it_without_torch_records_or_claims(tmp_path):
    (tmp_path / "my_app.py").write_text(APP)
    sweep = tmp_path / "sweep"
    args = ["-m", "+x=1,2,3", "+y='${plus_one:${x}}'", "hydra/launcher=gansweep", "hydra.launcher.fuse=2"]
    from tests.conftest import cli_env

    proc = subprocess.run(
        [sys.executable, "my_app.py", *args, f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for num, x in enumerate((1, 2, 3)):
        assert json.loads((sweep / str(num) / "job.json").read_text()) == {"x": x, "y": x + 1, "torch": False}
    assert not list(sweep.rglob("metrics.json")) and not (sweep / ".gansweep").exists()
    assert not list(sweep.rglob(".gansweep.lock")) and not list(sweep.rglob("console.log"))
    assert not (sweep / "jobs.jsonl").exists() and "job 2 says hello" in proc.stdout
