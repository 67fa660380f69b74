"""An adaptive sweep's rung plot (rungs.png): the study's metric against generator iterations for every trial, as
its evaluations were reported to the study, a pruned trial's line ending with a cross where it stopped, the pruner's
rungs as vertical lines and the best trial drawn over the others. Read from the sweep's summary
(gansweep.search.summary), so no Optuna is needed; drawn as gansweep.report.plots draws its figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple

from gansweep.files import write_atomic
from gansweep.report.plots import direction

RUNGS_PNG = "rungs.png"
# how each trial's state is drawn: (colour, the marker at its last evaluation, legend text)
STYLES = {
    "complete": ("tab:blue", "o", "complete"),
    "pruned": ("tab:grey", "x", "pruned (x: where it stopped)"),
    "fail": ("tab:orange", "v", "failed or diverged"),
    "running": ("tab:green", ">", "running or interrupted"),
}
BEST_COLOUR = "tab:red"


@dataclass(frozen=True)
class TrialLine:
    number: int
    state: str  # the study's: complete | pruned | fail | running | waiting
    steps: Tuple[int, ...]  # generator iterations of its reported evaluations, in order
    values: Tuple[float, ...]
    best: bool = False

    @property
    def stopped_at(self) -> Optional[int]:
        """Where its pruner stopped a pruned trial: its last reported evaluation (None unless pruned)."""
        return self.steps[-1] if self.state == "pruned" and self.steps else None


@dataclass(frozen=True)
class RungPlot:
    study: str
    metric: str
    higher_is_better: bool
    pruner: Optional[str]  # asha | hyperband | median | none; None: not recorded
    first_eval: Optional[int]
    reduction_factor: Optional[int]
    budget: Optional[int]  # a trial's generator iterations
    rungs: Tuple[int, ...]
    lines: Tuple[TrialLine, ...]  # every trial with at least one reported evaluation, in number order

    @property
    def best(self) -> Optional[TrialLine]:
        return next((line for line in self.lines if line.best), None)


def rung_plot_data(summary: Mapping[str, Any]) -> Optional[RungPlot]:
    """What the rung plot draws, from a study summary; None when it holds no trial's evaluations (a summary of an
    older sweep, or a study in which no trial reported one)."""
    best = (summary.get("best") or {}).get("trial")
    lines = []
    for trial in summary.get("per_trial") or []:
        pairs = [(int(s), float(v)) for s, v in trial.get("intermediate") or [] if math.isfinite(float(v))]
        if pairs:
            steps, values = zip(*sorted(pairs), strict=True)
            lines.append(TrialLine(int(trial["number"]), str(trial["state"]), steps, values, trial["number"] == best))
    if not lines or not summary.get("metric"):
        return None
    pruner = summary.get("pruner") or {}
    return RungPlot(
        study=str(summary.get("study")),
        metric=str(summary["metric"]),
        higher_is_better=summary.get("direction") == "maximize",
        pruner=pruner.get("name"),
        first_eval=pruner.get("first_eval"),
        reduction_factor=pruner.get("reduction_factor"),
        budget=summary.get("budget"),
        rungs=tuple(int(r) for r in summary.get("rungs") or ()),
        lines=tuple(sorted(lines, key=lambda line: line.number)),
    )


def rung_caption(plot: RungPlot) -> str:
    """What the figure shows, the pruner's rungs said as they are."""
    pruned = [line for line in plot.lines if line.state == "pruned"]
    text = (
        f"Each line is one trial: `{plot.metric}` at each evaluation it reported to the study, against generator "
        f"iterations ({len(plot.lines)} trials reported one; {len(pruned)} pruned: their lines end with × where the "
        f"pruner stopped them)."
    )
    if plot.best is not None:
        text += f" The best trial, {plot.best.number}, in red."
    factor = plot.reduction_factor or 3
    rungs = ", ".join(f"{r:,}" for r in plot.rungs)
    if plot.pruner == "asha" and plot.rungs:
        text += (
            f" Dashed vertical lines: the successive-halving (ASHA) rungs at generator iterations {rungs} (the first "
            f"evaluation × {factor}^r), where a trial's value (at its first evaluation there or later) is compared "
            f"with those recorded at the same rung so far: it goes on only among the best 1/{factor} of them."
        )
    elif plot.pruner == "hyperband" and plot.rungs:
        text += (
            f" Dashed vertical lines: Hyperband's rungs at generator iterations {rungs} (the first evaluation × "
            f"{factor}^r); trials are split into brackets, bracket b comparing its trials from the b-th rung on, so "
            f"a trial is judged at some of these lines only."
        )
    elif plot.pruner == "median":
        text += (
            f" No rungs: the median pruner compares a trial with the others' median at every evaluation from "
            f"generator iteration {plot.first_eval or '?'} on (dotted line), once 5 trials have finished."
        )
    elif plot.pruner == "none":
        text += " No pruner: no trial was compared during training, so there are no rungs."
    elif plot.pruner in ("asha", "hyperband"):
        text += " No rung falls before the end of a trial's budget, so no trial could be pruned."
    if plot.budget:
        text += f" Solid grey line: a trial's whole budget, {plot.budget:,} generator iterations."
    return text


def plot_rungs(path: Path, plot: RungPlot, title: str = "") -> Path:
    """Draw the rung plot to `path` (PNG, written atomically)."""
    import matplotlib.pyplot as plt

    fig = rung_figure(plot, title)
    try:
        return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def rung_figure(plot: RungPlot, title: str = "") -> Any:
    """The rung plot as a matplotlib figure (one axes: the rungs' vertical lines first, then each trial's line and
    the marker at its end, the best trial last); the caller closes it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.lines
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=100)
    rung_style = dict(color="black", linestyle="--", linewidth=0.8, alpha=0.6)
    for rung in plot.rungs:
        ax.axvline(rung, **rung_style)  # type: ignore[arg-type]
    if plot.pruner == "median" and plot.first_eval:
        ax.axvline(plot.first_eval, color="black", linestyle=":", linewidth=0.8, alpha=0.6)
    if plot.budget:
        ax.axvline(plot.budget, color="tab:grey", linewidth=1.0, alpha=0.5)
    for line in sorted(plot.lines, key=lambda line: line.best):  # the best drawn last, over the others
        colour, marker, _ = STYLES.get(line.state, ("tab:purple", "s", line.state))
        colour = BEST_COLOUR if line.best else colour
        width, alpha, zorder = (2.4, 1.0, 3) if line.best else (1.0, 0.75, 2)
        ax.plot(line.steps, line.values, color=colour, linewidth=width, alpha=alpha, zorder=zorder, marker=".",
                markersize=4 if not line.best else 6)  # fmt: skip
        ax.plot(line.steps[-1:], line.values[-1:], linestyle="none", marker=marker, color=colour, zorder=zorder + 1,
                markersize=9 if marker == "x" else 6, markeredgewidth=2 if marker == "x" else 1)  # fmt: skip
    values = [v for line in plot.lines for v in line.values]
    if min(values) > 0 and max(values) / min(values) >= 30:  # e.g. FID falling from hundreds: the end stays readable
        ax.set_yscale("log")
    states = sorted({line.state for line in plot.lines}, key=lambda s: list(STYLES).index(s) if s in STYLES else 9)
    handles = [
        matplotlib.lines.Line2D([], [], color=STYLES[s][0], marker=STYLES[s][1], label=STYLES[s][2])
        for s in states
        if s in STYLES
    ]
    if plot.best is not None:
        label = f"best: trial {plot.best.number}"
        handles.append(matplotlib.lines.Line2D([], [], color=BEST_COLOUR, linewidth=2.4, label=label))
    if plot.rungs:
        handles.append(matplotlib.lines.Line2D([], [], label="rungs", **rung_style))  # type: ignore[arg-type]
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.set_xlabel("generator iterations")
    ax.set_ylabel(f"{plot.metric} {direction(plot.higher_is_better)}")
    pruner = {"asha": "ASHA", "hyperband": "Hyperband", "median": "median pruner", "none": "no pruner"}
    ax.set_title(f"{title or plot.study}: {plot.metric} per trial ({pruner.get(plot.pruner or '', 'pruner unknown')})",
                 fontsize=9)  # fmt: skip
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
