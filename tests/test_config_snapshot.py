"""Every experiment and every template point composes, key for key, as it did before the paper settings became the
`protocol` group (tests/fixtures/composed_configs.json, captured by tests/snapshot_configs.py from commit 4a0b101's
configs): a removed experiment through its new spelling, a template's grid matched point by point by content."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Dict, List

import pytest

from gansweep.paths import conf_dir, templates_dir
from tests.conftest import run_cli
from tests.snapshot_configs import FIXTURE, composed, template_snapshot

SNAPSHOT: Dict[str, Any] = json.loads(FIXTURE.read_text())
ABSENT = "<absent>"

# The experiments that set no value of their own, removed, and the one line that composes each now.
NEW_SPELLING: Dict[str, List[str]] = {
    **{
        f"{old}_{dataset}": ["protocol=bolt_images", f"dataset={dataset}", f"loss={loss}"]
        for old, loss in (("wgan_gp", "wgan"), ("bolt", "bolt"))
        for dataset in ("cifar10", "celeba64", "lsun_bedroom64", "lsun_church64", "stacked_digits")
    },
    "bures_synthetic": ["protocol=bures_synthetic", "loss=bures"],
    "alt_bures_synthetic": ["protocol=bures_synthetic", "loss=alt_bures"],
}
EXPERIMENTS_NOW = sorted(path.stem for path in (conf_dir() / "experiment").glob("*.yaml"))
TEMPLATES_NOW = sorted(path.stem for path in templates_dir().glob("*.yaml"))


def spelling(old: str) -> List[str]:
    return NEW_SPELLING.get(old, [f"experiment={old}"])


def flat(node: Any, prefix: str = "") -> Dict[str, Any]:
    """{dotted.key: leaf} of a composed entry, without the one key that records the spelling itself: the checkpoint
    callback's `overrides` (${hydra:overrides.task}), which a resumed run compares with its command line."""
    if isinstance(node, dict) and node:
        out: Dict[str, Any] = {}
        for key, value in node.items():
            out.update(flat(value, f"{prefix}{key}."))
        return out
    key = prefix[:-1]
    return {} if key == "config.callbacks.checkpoint.overrides" else {key: node}


# keys added to every config since the snapshot, with the value each must have (how a resume treats a folder, not
# what a point trains)
ADDED_SINCE = {
    "config.resume.changed": "refuse",
    **{f"config.search.{key}": None for key in ("storage", "study", "trial", "metric")},  # an adaptive sweep's trial
}

# launcher settings a template changed on purpose since the snapshot (how its points run, not what they train)
LAUNCHER_SINCE: Dict[str, Dict[str, Any]] = {"quickstart": {"fuse": 2, "workers": 2}}  # seed pairs fused, 2 cores


def with_added(keys: Dict[str, Any]) -> Dict[str, Any]:
    """A snapshot's flat keys with those added since, at their required values."""
    return {**ADDED_SINCE, **keys}


def differences(before: Dict[str, Any], now: Dict[str, Any]) -> List[str]:
    """`key: before -> now` for every key whose value differs, or that only one side has (ADDED_SINCE aside)."""
    old, new = with_added(flat(before)), flat(now)
    changed = sorted(key for key in old.keys() | new.keys() if old.get(key, ABSENT) != new.get(key, ABSENT))
    return [f"{key}: {old.get(key, ABSENT)!r} -> {new.get(key, ABSENT)!r}" for key in changed]


def test_the_spelling_table_names_exactly_the_removed_experiments():
    removed = set(SNAPSHOT["experiments"]) - set(EXPERIMENTS_NOW)
    assert removed == set(NEW_SPELLING), "every removed experiment needs a new spelling here, and only those"
    assert sorted(SNAPSHOT["templates"]) == TEMPLATES_NOW


@pytest.mark.parametrize("old", sorted(SNAPSHOT["experiments"]))
def test_every_experiment_composes_as_before(old: str):
    now = composed(spelling(old))
    assert now["config"]["callbacks"]["checkpoint"]["overrides"] == spelling(old)
    changed = differences(SNAPSHOT["experiments"][old], now)
    assert not changed, f"experiment={old} as {' '.join(spelling(old))}:\n" + "\n".join(changed)


def content(entry: Dict[str, Any]) -> str:
    return json.dumps(with_added(flat({"config": entry["config"], "launcher": entry["launcher"]})), sort_keys=True)


@pytest.mark.parametrize("template", sorted(SNAPSHOT["templates"]))
def test_every_template_point_composes_as_before(template: str):
    """The same points (seed cut to the first, as captured), in any order and under any overrides."""
    since = LAUNCHER_SINCE.get(template, {})
    before = [dict(p, launcher={**p["launcher"], **since}) for p in SNAPSHOT["templates"][template]]
    now = template_snapshot(template)
    assert len(now) == len(before), f"{template}: {len(before)} points before, {len(now)} now"
    missing = Counter(map(content, before)) - Counter(map(content, now))
    report = []
    for point in (p for p in before if content(p) in missing):
        closest = min(now, key=lambda candidate, point=point: len(differences(point, candidate)))
        report.append(f"{' '.join(point['overrides'])} (closest: {' '.join(closest['overrides'])}):")
        report += [f"  {line}" for line in differences(point, closest)]
    assert not missing, f"{template}: points that compose differently now:\n" + "\n".join(report)


def test_help_lists_the_protocols(tmp_path):
    """`gansweep --help` shows the protocol group with its options (the paper settings are choices, not files)."""
    result = run_cli(["--help"], cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "protocol: bolt_images, bures_images, bures_synthetic\n" in result.stdout
