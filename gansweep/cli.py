"""The `gansweep` console script: a Hydra app over conf/, with multirun_templates/ as the `sweep` group."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from gansweep.config import register_schema
from gansweep.paths import conf_dir
from gansweep.sweep.templates import register_templates


def _task(cfg: DictConfig) -> float:
    from gansweep.train import train

    return train(cfg)


def main() -> None:
    register_schema()
    register_templates()
    app = hydra.main(config_path=str(conf_dir()), config_name="config", version_base="1.3")(_task)
    app()


if __name__ == "__main__":
    main()
