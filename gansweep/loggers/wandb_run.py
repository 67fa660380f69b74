"""One W&B run per grid point: Lightning's WandbLogger with generator iterations as the x-axis, the point's outcome
(status, error, final metrics) in the run summary, and W&B failures that never fail the training run.

Mode `auto` logs online when W&B has credentials and offline otherwise; a run that cannot start online (no key, no
network, quota) falls back to offline and says so once; WANDB_MODE, when set, wins (`disabled` writes nothing).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment

log = logging.getLogger("gansweep")

STEP = "g_iters"  # every curve's x-axis: generator iterations (Lightning's global_step counts every optimizer step)
MODES = ("auto", "online", "offline", "disabled")
RUN_ID_FILE = "gansweep-run-id"  # in <save_dir>/wandb/: a resumed point continues the same W&B run
MAX_TAG = 64  # W&B refuses longer tags
STATUS_TAG = "status="  # a trial's final status as a tag: status=ok | pruned | diverged | failed | interrupted


def resolve_mode(mode: str) -> str:
    """online | offline | disabled from logger.wandb.mode; WANDB_MODE wins when set (W&B's own switch)."""
    if mode not in MODES:
        raise ValueError(f"logger.wandb.mode is one of {', '.join(MODES)}; got {mode!r}")
    env = os.environ.get("WANDB_MODE")
    if env:
        return "offline" if env == "dryrun" else env
    if mode != "auto":
        return mode
    return "online" if logged_in() else "offline"


def logged_in() -> bool:
    """Whether W&B has credentials (WANDB_API_KEY, a settings file or .netrc), without prompting or network."""
    import wandb

    try:
        return bool(wandb.login(prompt=False, verify=False))
    except TypeError:  # a wandb without login(prompt=...): the environment variable is the one check left
        return bool(os.environ.get("WANDB_API_KEY"))
    except Exception:  # malformed credentials: W&B would fail online anyway
        return False


def start_run(init: Dict[str, Any], init_timeout: float = 90.0, alongside: bool = False) -> Any:
    """wandb.init(**init) in init["mode"]; when online fails, offline (said once); when that fails too, a disabled
    run that accepts every call, so training goes on. An offline run prints one line telling how to sync it.
    `alongside`: other runs of this process stay open (the points of a fused group each have their own run)."""
    import wandb

    if alongside:
        init = {**init, "reinit": "create_new"}
    elif wandb.run is not None:  # a run left open by an earlier job in this process must not receive this data
        wandb.finish()
    mode = init.get("mode", "offline")
    if mode == "online" and not logged_in():  # wandb.init would prompt for a key on a terminal: a sweep would hang
        log.warning("W&B has no credentials (`wandb login` or WANDB_API_KEY): this run logs offline instead")
        mode = "offline"
    attempts = [mode] if mode != "online" else ["online", "offline"]
    for attempt in attempts:
        quiet = attempt != "online"  # online, W&B's own lines carry the run's URL
        settings = wandb.Settings(init_timeout=init_timeout, silent=quiet)
        try:
            run = wandb.init(**{**init, "mode": attempt}, settings=settings)
        except Exception as err:  # no key, no network, quota, a bad entity: never a reason to lose the training run
            reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            if attempt == "online":
                log.warning("W&B could not start online (%s): this run logs offline instead", reason)
                continue
            log.warning("W&B could not start (%s): this run is not logged to W&B; its own files are complete", reason)
            return wandb.init(mode="disabled")
        if attempt == "offline":
            log.info("W&B offline: `wandb sync %s` uploads this run later", Path(run.dir).parent)
        return run
    return wandb.init(mode="disabled")  # pragma: no cover - the loop returns


class WandbRunLogger(WandbLogger):
    """Lightning's WandbLogger for one grid point. What the config leaves null (group, name, job type, tags, config)
    comes from `identify`; every call into W&B is guarded: a failure is logged once and training goes on."""

    def __init__(
        self,
        save_dir: str,
        project: str = "gansweep",
        entity: Optional[str] = None,
        group: Optional[str] = None,
        job_type: Optional[str] = None,
        name: Optional[str] = None,
        tags: Sequence[str] = (),
        notes: Optional[str] = None,
        mode: str = "auto",
        init_timeout: float = 90.0,
        log_samples: bool = True,
    ) -> None:
        self.mode = resolve_mode(mode)  # a wrong mode fails here, before training
        super().__init__(name=name, save_dir=save_dir, project=project, entity=entity, group=group)
        self._wandb_init.update(job_type=job_type, tags=clean_tags(tags), notes=notes, mode=self.mode)
        self._wandb_init.pop("anonymous", None)  # deprecated in W&B: passing it at all prints a warning
        self.init_timeout, self.log_samples = init_timeout, log_samples
        self._warned = False
        self.alongside = False  # True for a point of a fused group: its run coexists with the others' in this process
        self.status_tag = False  # tag the run with the point's final status as it closes (a trial of an adaptive sweep)

    def identify(
        self,
        config: Mapping[str, Any],
        group: Optional[str] = None,
        job_type: Optional[str] = None,
        name: Optional[str] = None,
        tags: Sequence[str] = (),
        status_tag: bool = False,
    ) -> None:
        """The point's resolved config, and its group, job type, name and tags where the config left them null;
        `status_tag`: the point's final status becomes a tag too (`status=pruned`), as its run closes."""
        self.status_tag = status_tag
        init = self._wandb_init
        init["config"] = dict(config)
        for key, value in (("group", group), ("job_type", job_type), ("name", name)):
            if init.get(key) is None:
                init[key] = value
        init["tags"] = clean_tags([*(init.get("tags") or []), *tags])
        self._name = init["name"]

    def resume_from(self, step: int) -> None:
        """A resumed point continues the W&B run its first attempt started (its id is kept in the run folder)."""
        path = self._id_file()
        if path.is_file():
            self._wandb_init["id"] = self._id = path.read_text().strip()

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._experiment is None:
            self._experiment = start_run(self._wandb_init, self.init_timeout, self.alongside)
            self._guard(self._after_start)
        return self._experiment

    def _after_start(self) -> None:
        run: Any = self._experiment
        run.define_metric(STEP)
        run.define_metric("*", step_metric=STEP)
        if getattr(run, "id", None) and self.mode != "disabled":
            self._id_file().parent.mkdir(parents=True, exist_ok=True)
            self._id_file().write_text(run.id)

    def log_metrics(self, metrics: Mapping[str, Any], step: Optional[int] = None) -> None:
        """Every value against generator iterations (the module and the evaluations pass step = g_iters)."""
        row = dict(metrics) if step is None else {**metrics, STEP: step}
        self._guard(lambda: self.experiment.log(row))

    def log_image(self, key: str, images: list[Any], step: Optional[int] = None, **kwargs: Any) -> None:
        if self.log_samples:
            self._guard(lambda: WandbLogger.log_image(self, key, images, step, **kwargs))

    def close_point(self, record: Mapping[str, Any]) -> None:
        """The point's outcome into the run summary (also for a failed or diverged point), with `status_tag` its status
        as a tag (`status=ok`, replacing one an earlier attempt left), then wandb.finish(): exit code 0 for ok,
        interrupted and pruned points (a pruned trial is the study's decision, not a failure), 1 for failed and
        diverged ones."""
        summary = {k: record.get(k) for k in ("status", "error", "g_iters", "diverged_at", "wall_time_s", "pruned_at")}
        summary.update(record.get("metrics") or {})
        self._guard(lambda: self.experiment.summary.update(summary))
        if self.status_tag and record.get("status"):
            self._guard(lambda: self._retag(f"{STATUS_TAG}{record['status']}"))
        code = 0 if record.get("status") in ("ok", "interrupted", "pruned") else 1
        self._guard(lambda: self.experiment.finish(exit_code=code))
        self._experiment = None

    def _retag(self, tag: str) -> None:
        """Add `tag` to the open run's tags, dropping any status tag it had (W&B records the new tags as it closes)."""
        run: Any = self.experiment
        kept = [t for t in run.tags or () if not str(t).startswith(STATUS_TAG)]
        run.tags = tuple(clean_tags([*kept, tag]))

    def _guard(self, call: Callable[[], Any]) -> None:
        """Run a W&B call; a failure is logged once per run and never reaches training."""
        try:
            call()
        except Exception as err:
            if not self._warned:
                self._warned = True
                log.warning(
                    "W&B call failed (%s: %s); training goes on and the run folder keeps every result",
                    type(err).__name__,
                    err,
                )

    def _id_file(self) -> Path:
        return Path(self._save_dir or ".") / "wandb" / RUN_ID_FILE


def clean_tags(tags: Sequence[str]) -> list[str]:
    """Unique tags of at most MAX_TAG characters (W&B refuses longer ones), in order."""
    return list(dict.fromkeys(str(t)[:MAX_TAG] for t in tags if str(t)))
