"""The console scripts: `gansweep`, a Hydra app over conf/ with multirun_templates/ as the `sweep` group,
`gansweep-resume DIR`, which runs the sweep saved in DIR again, `gansweep-report DIR`, which compares its points,
and `gansweep-prepare`, which computes a sweep's real-data statistics ahead of it."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import List

import hydra
from omegaconf import DictConfig, OmegaConf

from gansweep.config import ConfigError, register_schema
from gansweep.config_checks import check_override_key
from gansweep.paths import conf_dir
from gansweep.templates import register_templates
from gansweep.threads import prepare_environment


def _task(cfg: DictConfig) -> float:
    from gansweep.run.task import train

    return train(cfg)


def user_config_groups() -> str:
    """`--help`'s groups (conf/config.yaml hydra.help.template): the top-level groups a user chooses, with their
    options, without the internal ones (debug/*, protocol/loss/*: chosen by conf/config.yaml itself) and options
    named `_*` (dataset/_image: the keys image datasets share). Otherwise Hydra's $APP_CONFIG_GROUPS."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    lines = []
    for group in sorted(loader.list_groups("")):
        options = sorted(name for name in loader.get_group_options(group) if not name.startswith("_"))
        if group != "hydra" and options:
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines)


if not OmegaConf.has_resolver("gansweep.help_groups"):
    OmegaConf.register_new_resolver("gansweep.help_groups", user_config_groups)


def check_override_keys(argv: List[str]) -> None:
    """End the command in one line on an override of a key the schema does not have (`optim.lrr=1`, `+optim.lrr=1`),
    naming the nearest keys, before Hydra composes (Hydra's own message would suggest `+`, which would not help).
    Anything this cannot parse is left to Hydra; with HYDRA_FULL_ERROR=1 Hydra reports it as it always does."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1" or not any("." in arg and "=" in arg for arg in argv):
        return
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from gansweep.hydra_job import stop_with

    try:
        args, _ = get_args_parser().parse_known_args(argv)
        overrides = OverridesParser.create().parse_overrides(args.overrides)
    except (Exception, SystemExit):
        return
    for override in overrides:
        key = override.key_or_group
        if override.is_delete() or override.package is not None or "/" in key:
            continue
        try:
            check_override_key(key)
        except ConfigError as err:
            stop_with(str(err), err)


def main() -> None:
    prepare_environment()  # before torch loads here or in the sweep's forkserver (gansweep.threads)
    check_override_keys(sys.argv[1:])
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

    prepare_environment()
    sys.exit(prepare_main())


if __name__ == "__main__":
    main()
