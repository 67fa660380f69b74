"""The console scripts: `gansweep`, a Hydra app over conf/ with multirun_templates/ as the `sweep` group,
`gansweep-resume DIR`, which runs the sweep saved in DIR again, `gansweep-report DIR`, which compares its points,
and `gansweep-prepare`, which computes a sweep's real-data statistics ahead of it."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

import hydra
from omegaconf import DictConfig

from gansweep.config import register_schema
from gansweep.paths import conf_dir
from gansweep.templates import register_templates


def _task(cfg: DictConfig) -> float:
    from gansweep.run.task import train

    return train(cfg)


def main() -> None:
    register_schema()
    register_templates()
    app = hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")(_task)
    app()


def resume() -> None:
    """gansweep-resume DIR [OVERRIDES...]: finished points are skipped, interrupted ones continue."""
    from gansweep.launch.relaunch import resume_command

    parser = argparse.ArgumentParser(
        prog="gansweep-resume",
        description="Run the sweep saved in DIR (DIR/multirun.yaml) again on the same folder: ok and diverged points "
        "are skipped, interrupted and unfinished ones continue from their checkpoint, failed ones are kept unless "
        "resume.failed=rerun (from scratch) or resume.failed=resume (from their checkpoint) is given.",
    )
    parser.add_argument("sweep_dir", metavar="DIR", help="the sweep folder (hydra.sweep.dir of `gansweep -m ...`)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="added overrides, e.g. resume.failed=rerun")
    args = parser.parse_args()
    try:
        argv, cwd = resume_command(args.sweep_dir, args.overrides)
    except FileNotFoundError as err:
        parser.error(str(err))
    if cwd is not None and cwd.is_dir():
        os.chdir(cwd)  # the sweep's relative paths (dataset.root=data/...) meant the folder it was launched from
    print(f"gansweep-resume: gansweep {shlex.join(argv)}  (in {os.getcwd()})", file=sys.stderr, flush=True)
    sys.argv = ["gansweep", *argv]
    main()


def report() -> None:
    """gansweep-report DIR [--metric NAME] [--axes KEY KEY]: the comparison of a sweep, finished or not."""
    from gansweep.report.write import main as report_main

    sys.exit(report_main())


def prepare() -> None:
    """gansweep-prepare OVERRIDES...: a run's real-data statistics into the metrics cache, ahead of a sweep."""
    from gansweep.prepare import main as prepare_main

    sys.exit(prepare_main())


if __name__ == "__main__":
    main()
