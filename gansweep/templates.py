"""Registers every YAML in multirun_templates/ as an option of the `sweep` config group (+sweep=NAME)."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from gansweep.paths import templates_dir


def register_templates() -> list[str]:
    """Each template is a global overlay (grid in hydra.sweeper.params, launcher settings, overrides)."""
    names = []
    for path in sorted(templates_dir().glob("*.yaml")):
        ConfigStore.instance().store(group="sweep", name=path.stem, node=OmegaConf.load(path), package="_global_")
        names.append(path.stem)
    return names
