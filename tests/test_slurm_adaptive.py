"""An adaptive sweep on SLURM (issue 23, part 5): `hydra/sweeper=adaptive hydra/launcher=slurm` runs array tasks as
workers that pull trials from the study (gansweep.search.workers, gansweep.launch.slurm_workers).

Unmarked: the worker loop with a fake trainer on a real SQLite study (threads as workers): every trial trained once
and told from its record, a requeued worker's own trials continued first and by no one else, a lost worker's trials
failed from what they left, a stopped sweep's trials released to the next workers, the watch that decides a worker is
over. Slow: the real one-node SLURM of tests/test_slurm.py (its `slurm` fixture): two workers finish a study (fused in
pairs); a worker cancelled mid-trial leaves that trial failed and the study goes on; a preempted one is requeued and
continues its trial from its checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import optuna
import pytest
from omegaconf import OmegaConf

from gansweep.lock import hold
from gansweep.record import read_record, write_record
from gansweep.search.budget import ITERS_ATTR, StopRule
from gansweep.search.settings import SearchSettings
from gansweep.search.space import parse_space
from gansweep.search.workers import OWNER_ATTR, WorkerPlan, claim, fail_lost, release, work
from tests.conftest import REPO, cli_env
from tests.slurm_cluster import SlurmCluster
from tests.test_slurm import RESOURCES, TINY, array_task, finish, hurry_requeued, slurm, steps, wait_for

__all__ = ["slurm"]  # the cluster fixture, module-scoped: this module starts its own
STATES = optuna.trial.TrialState


def make_plan(tmp_path: Path, n_trials: int, fuse: int = 1, sampler: str = "random") -> WorkerPlan:
    """A study in SQLite in `tmp_path` (as a sweep folder holds it) over optim.lr, and the plan its workers get."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(storage=storage, study_name="s")
    space = parse_space({"optim.lr": "interval(1e-4, 1e-3)"})
    settings = SearchSettings(sampler=sampler, pruner="none", metric="energy_distance", n_trials=n_trials, seed=0)
    return WorkerPlan(storage, "s", settings, space, StopRule(n_trials), overrides, str(tmp_path), fuse)


def overrides(trial: Any) -> List[str]:
    return [f"optim.lr={trial.params['optim.lr']}"]


class FakeTrainer:
    """Trains nothing: writes each trial's record (ok, its metric the trial's lr x 1000; or `status`) where the
    sweep's run folder is, and remembers what it was given."""

    def __init__(self, sweep_dir: Path, status: str = "ok", pause_s: float = 0.0) -> None:
        self.sweep_dir, self.status, self.pause_s = sweep_dir, status, pause_s
        self.calls: List[List[int]] = []

    def __call__(self, jobs: List[Any]) -> List[Any]:
        self.calls.append([num for num, _ in jobs])
        time.sleep(self.pause_s)
        for num, job_overrides in jobs:
            lr = float(job_overrides[0].split("=")[1])
            record = {"status": self.status, "g_iters": 8, "metrics": {"energy_distance": lr * 1000}, "overrides": []}
            (self.sweep_dir / str(num)).mkdir(exist_ok=True)
            write_record(self.sweep_dir / str(num), record)
        return [SimpleNamespace(hydra_cfg=None) for _ in jobs]  # a JobReturn without a run folder: the default one


def test_workers_train_every_trial_once_and_the_study_agrees_with_each_record(tmp_path):
    plan = make_plan(tmp_path, n_trials=7)
    trainers = {f"5_{i}": FakeTrainer(tmp_path, pause_s=0.02) for i in range(2)}

    def worker(index: int, name: str) -> None:
        work(plan.open_study(index), plan, name, trainers[name])

    threads = [threading.Thread(target=worker, args=(i, name)) for i, name in enumerate(trainers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    trained = {name: [n for call in t.calls for n in call] for name, t in trainers.items()}
    assert sorted(trained["5_0"] + trained["5_1"]) == list(range(7))  # each trial once, no more than n_trials
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(study.trials) == 7
    for trial in study.trials:
        record = read_record(tmp_path / str(trial.number))
        assert trial.state == STATES.COMPLETE and trial.value == record["metrics"]["energy_distance"]
        assert trial.user_attrs[ITERS_ATTR] == 8 and trial.number in trained[trial.user_attrs[OWNER_ATTR]]
    assert len({t.params["optim.lr"] for t in study.trials}) == 7  # one seed per worker: no worker repeats another


def test_a_requeued_worker_continues_its_own_trials_first_and_no_other_worker_takes_them(tmp_path):
    plan = make_plan(tmp_path, n_trials=6, fuse=2)
    first = plan.open_study(0)
    held = claim(first, plan, "7_0", 2)  # a fused group's worth, then the task is preempted before telling them
    assert [t.number for t in held] == [0, 1]
    other = FakeTrainer(tmp_path)
    work(plan.open_study(1), plan, "7_1", other)
    assert other.calls == [[2, 3], [4, 5]]  # pairs, none of the preempted worker's
    requeued = FakeTrainer(tmp_path)
    assert work(plan.open_study(0), plan, "7_0", requeued)  # the same SLURM job id after a requeue
    assert requeued.calls == [[0, 1]]  # its own trials, continued; the study is full
    assert {t.state for t in plan.open_study(0).trials} == {STATES.COMPLETE}


def test_a_trial_recorded_interrupted_ends_its_worker_and_stays_its_own(tmp_path):
    plan = make_plan(tmp_path, n_trials=4)
    trainer = FakeTrainer(tmp_path, status="interrupted")
    work(plan.open_study(0), plan, "7_0", trainer)
    assert trainer.calls == [[0]]  # a stop signal: the worker takes nothing more
    (trial,) = plan.open_study(0).trials
    assert trial.state == STATES.RUNNING and trial.user_attrs[OWNER_ATTR] == "7_0" and trial.user_attrs[ITERS_ATTR] == 8


def owned(study: Any, plan: WorkerPlan, owner: str) -> Any:
    """A new trial of the study, claimed by `owner`."""
    from gansweep.search.distributions import distributions

    trial = study.ask(distributions(plan.space))
    trial.set_user_attr(OWNER_ATTR, owner)
    return trial


def test_a_lost_workers_trials_are_failed_from_what_they_left(tmp_path):
    """Trial 0 left nothing; 1 was interrupted at iteration 4 (checkpoint kept); 2 finished but was not told; 3's
    folder is held by a live process (its run goes on); 4 belongs to a worker that is not over."""
    plan = make_plan(tmp_path, n_trials=5)
    study = plan.open_study(0)
    trials = [owned(study, plan, owner) for owner in ("7_1",) * 4 + ("7_2",)]
    for n in (1, 2):
        (tmp_path / str(n)).mkdir()
    write_record(tmp_path / "1", {"status": "interrupted", "g_iters": 4, "metrics": {"energy_distance": 2.0}})
    write_record(tmp_path / "2", {"status": "ok", "g_iters": 8, "metrics": {"energy_distance": 1.5}})
    lock = hold(tmp_path / "3", "a run still going")
    try:
        told = fail_lost(study, plan, {"7_1": "/logs/7_1_0_log.out"})
    finally:
        lock.release()
    assert told == [0, 1, 2]
    stored = {t.number: t for t in optuna.load_study(study_name="s", storage=plan.storage).trials}
    assert [stored[n].state for n in range(5)] == [STATES.FAIL, STATES.FAIL, STATES.COMPLETE] + [STATES.RUNNING] * 2
    assert stored[2].value == 1.5 and stored[1].user_attrs[ITERS_ATTR] == 4
    lost, interrupted = read_record(tmp_path / "0"), read_record(tmp_path / "1")
    for record in (lost, interrupted):
        assert record["status"] == "failed" and record["log"] == "/logs/7_1_0_log.out"
        assert "its worker, SLURM job 7_1, ended without finishing it" in record["error"]
    assert lost["overrides"] == overrides(trials[0])
    assert interrupted["g_iters"] == 4 and interrupted["metrics"] == {"energy_distance": 2.0}
    assert "its checkpoint at generator iteration 4 is kept" in interrupted["error"]
    assert fail_lost(study, plan, {"7_1": "/logs/7_1_0_log.out"}) == [3]  # once its process let go of the folder


def test_a_stopped_sweeps_trials_are_released_to_the_next_workers_unless_their_worker_still_runs(tmp_path):
    plan = make_plan(tmp_path, n_trials=5)
    study = plan.open_study(0)
    for owner in ("3_0", "3_1"):
        claim(study, plan, owner, 1)
    study.ask()  # a trial a stopped local sweep left running: nobody's
    assert release(study, plan, lambda workers: None) == []  # SLURM cannot say: nothing is taken from anyone
    asked: List[set] = []
    assert release(study, plan, lambda workers: asked.append(workers) or {"3_0"}) == [1]
    assert asked == [{"3_0", "3_1"}]
    assert [t.number for t in claim(plan.open_study(1), plan, "9_0", 3)] == [1, 2, 3]  # released first, then new
    assert plan.open_study(0).trials[0].user_attrs[OWNER_ATTR] == "3_0"


def test_a_worker_is_over_once_its_result_is_written_or_it_has_left_the_queue_for_a_while(tmp_path):
    from gansweep.launch.slurm_workers import ArrayWatch

    result = tmp_path / "result.pkl"
    queue: Dict[str, Optional[Dict[str, str]]] = {"now": {"1_0": "RUNNING", "1_1": "RUNNING", "1_2": "PENDING"}}
    clock = [0.0]
    watch = ArrayWatch(
        {"1_0": result, "1_1": tmp_path / "x", "1_2": tmp_path / "y"}, lambda: queue["now"], 10, lambda: clock[0]
    )
    assert watch.over() == set()
    result.touch()
    queue["now"] = {"1_0": "COMPLETED", "1_1": "CANCELLED", "1_2": "COMPLETING"}
    assert watch.over() == {"1_0"}  # its result: over at once
    clock[0] = 6.0
    queue["now"] = {"1_0": "COMPLETED", "1_2": "PENDING"}  # 1_1 purged from the queue; 1_2 requeued
    assert watch.over() == {"1_0"}
    clock[0] = 11.0
    queue["now"] = None  # squeue did not answer: nothing is decided from it
    assert watch.over() == {"1_0"}
    clock[0] = 12.0
    queue["now"] = {}
    assert watch.over() == {"1_0", "1_1"}  # out of the queue for 12 s, without a result: lost
    clock[0] = 21.0
    assert watch.over() == {"1_0", "1_1"}  # 1_2 left the queue at 12 s only
    clock[0] = 22.0
    assert watch.over() == {"1_0", "1_1", "1_2"}


@pytest.mark.parametrize(
    "parallelism, max_batch, fuse, n_trials, finished, expected",
    [
        (256, None, 1, 8, 0, 8),
        (2, None, 1, 8, 3, 2),
        (8, None, 2, 5, 1, 2),
        (8, 3, 1, None, 0, 3),
        (4, None, 1, 3, 3, 0),
    ],
)
def test_a_sweep_starts_as_many_workers_as_its_trials_left_can_use(
    parallelism, max_batch, fuse, n_trials, finished, expected
):
    from gansweep.search.sweeper import AdaptiveSweeper

    study = optuna.create_study()
    for _ in range(finished):
        study.tell(study.ask(), 1.0)
    study.ask()  # running (a stopped sweep's): still to do
    sweeper = AdaptiveSweeper(max_batch_size=max_batch)
    sweeper.config = OmegaConf.create({"hydra": {"launcher": {"array_parallelism": parallelism, "fuse": fuse}}})
    assert sweeper._workers(study, StopRule(n_trials), fuse) == expected


# -- on the real one-node SLURM ----------------------------------------------------------------------------------------
STUDY = [
    "hydra/sweeper=adaptive",
    "hydra/launcher=slurm",
    "hydra.sweeper.pruner=none",
    "hydra.sweeper.metric=energy_distance",
    "hydra.launcher.array_parallelism=2",
    "optim.lr=1e-4,2e-4",
    "seed=0,1",
    "train.iters=8",
    "train.log_every=2",
    *RESOURCES,
    *TINY,
]


def start_sweep(slurm: SlurmCluster, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(slurm.env, **{k: v for k, v in cli_env().items() if k != "SLURM_CONF"})
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    gansweep = str(Path(sys.executable).with_name("gansweep"))
    command = [gansweep, "-m", *STUDY, *args, f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def ended(proc: subprocess.Popen, slurm: SlurmCluster, timeout_s: float) -> str:
    """The sweep's output once it exits (failing with the cluster's state after `timeout_s`)."""
    try:
        output = proc.communicate(timeout=timeout_s)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        output = proc.communicate()[0]
        raise AssertionError(
            f"the sweep did not end in {timeout_s:.0f} s\n{output[-3000:]}\n{slurm.diagnostics()}"
        ) from None
    assert proc.returncode == 0, output[-4000:]
    return output


def study_and_records(sweep: Path) -> tuple:
    study = optuna.load_study(study_name="sweep", storage=f"sqlite:///{sweep / 'optuna.db'}")
    records = {t.number: json.loads((sweep / str(t.number) / "metrics.json").read_text()) for t in study.trials}
    return study, records


def worker_logs(sweep: Path) -> str:
    return "".join(path.read_text() for path in sorted((sweep / ".submitit").rglob("*_log.*")))


@pytest.mark.slow
def test_two_slurm_workers_run_a_study_to_its_end_each_trial_once_fused_in_pairs(slurm, tmp_path):
    sweep = tmp_path / "sweep"
    proc = start_sweep(slurm, tmp_path, "hydra.launcher.fuse=2")
    try:
        output = ended(proc, slurm, timeout_s=300)
    finally:
        subprocess.run(["scancel", "--user=root"], env=slurm.env, timeout=30)
    study, records = study_and_records(sweep)
    assert len(study.trials) == 4  # the grid, each point once
    grid = {(lr, seed) for lr in (1e-4, 2e-4) for seed in (0, 1)}
    assert {(t.params["optim.lr"], t.params["seed"]) for t in study.trials} == grid
    for trial in study.trials:  # each trial's record and the study agree
        record = records[trial.number]
        assert trial.state == STATES.COMPLETE and record["status"] == "ok"
        assert trial.value == record["metrics"]["energy_distance"] and record["resumed_from"] is None
        assert steps(sweep / str(trial.number)) == [2, 4, 6, 8]  # trained once: each curve row once
    owners: Dict[str, List[int]] = {}
    for trial in study.trials:
        owners.setdefault(trial.user_attrs[OWNER_ATTR], []).append(trial.number)
    assert sorted(len(numbers) for numbers in owners.values()) == [2, 2]  # two workers, a fused pair each
    logs = worker_logs(sweep)
    for numbers in owners.values():
        assert f"fused: #{numbers[0]}, #{numbers[1]} train as one model" in logs
    summary = json.loads((sweep / ".gansweep" / "study.json").read_text())
    assert summary["trials"]["complete"] == 4 and summary["trials"]["running"] == 0
    assert "2 workers pull the study's trials" in output


@pytest.mark.slow
def test_a_slurm_workers_fused_group_refills_its_freed_slots_with_the_studys_next_trials(slurm, tmp_path):
    """One worker, groups of two: trials 0 and 1 end at iteration 8, a rung boundary (metrics.every=4), and their
    slots take the next two trials at once, under the worker's name, in the same group; each trial trains once."""
    sweep = tmp_path / "sweep"
    args = ["hydra.launcher.fuse=2", "hydra.launcher.array_parallelism=1", "metrics.every=4"]
    proc = start_sweep(slurm, tmp_path, *args)
    try:
        ended(proc, slurm, timeout_s=300)
    finally:
        subprocess.run(["scancel", "--user=root"], env=slurm.env, timeout=30)
    study, records = study_and_records(sweep)
    assert len(study.trials) == 4 and len({t.user_attrs[OWNER_ATTR] for t in study.trials}) == 1
    for trial in study.trials:
        record = records[trial.number]
        assert trial.state == STATES.COMPLETE and record["status"] == "ok"
        assert trial.value == record["metrics"]["energy_distance"]
        assert steps(sweep / str(trial.number)) == [2, 4, 6, 8]  # its own count, each row once
    joined = sorted(t.number for t in study.trials if records[t.number].get("joined_at") == 8)
    assert len(joined) == 2, records
    logs = worker_logs(sweep)
    assert logs.count("train as one model") == 1  # one group, refilled
    assert all(f"trial #{n} joins a running fused group" in logs for n in joined)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["cancelled", "preempted"])
def test_a_slurm_worker_stopped_mid_trial_and_the_study_goes_on(slurm, tmp_path, how):
    """cancelled (scancel): its trial ends failed, its checkpoint kept, and the other worker runs the rest of the study;
    preempted (USR2, what SLURM sends before a time limit): submitit requeues the worker, which continues its trial from
    the checkpoint."""
    sweep, marker = tmp_path / "sweep", tmp_path / "held"
    hold_first = [
        "+callbacks.hold._target_=tests.helpers.HoldAt",
        "+callbacks.hold.at=4",
        f"+callbacks.hold.marker={marker}",
        "+callbacks.hold.point=${search.trial}",
        "+callbacks.hold.only_point=0",
    ]
    proc = start_sweep(slurm, tmp_path, *hold_first)
    try:
        wait_for(marker, proc, timeout_s=240)  # trial 0 is mid-way, inside its worker
        held = json.loads(marker.read_text())
        job_id = array_task(slurm, held["slurm_job_id"])
        if how == "cancelled":
            slurm.run("scancel", job_id)
            output = ended(proc, slurm, timeout_s=300)
        else:
            slurm.run("scancel", "--signal=USR2", job_id)
            hurry_requeued(slurm, job_id, held["pid"])
            output = finish(proc, slurm, job_id, timeout_s=300)
            assert proc.returncode == 0, output[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["scancel", "--user=root"], env=slurm.env, timeout=30)
    study, records = study_and_records(sweep)
    assert len(study.trials) == 4 and {t.state for t in study.trials[1:]} == {STATES.COMPLETE}
    lost, record = study.trials[0], records[0]
    assert lost.user_attrs[OWNER_ATTR] == job_id
    if how == "cancelled":
        assert lost.state == STATES.FAIL and record["status"] == "failed"
        assert f"its worker, SLURM job {job_id}, ended without finishing it" in record["error"]
        assert (sweep / "0" / "checkpoints" / "last.ckpt").is_file()
        assert {t.user_attrs[OWNER_ATTR] for t in study.trials[1:]} != {job_id}  # the other worker went on
    else:
        assert lost.state == STATES.COMPLETE and record["status"] == "ok" and record["resumed_from"] == 4
        assert steps(sweep / "0") == [2, 4, 6, 8]
    for trial in study.trials[1:]:
        assert (
            records[trial.number]["status"] == "ok"
            and trial.value == records[trial.number]["metrics"]["energy_distance"]
        )
    assert output.rstrip().splitlines()[-1].startswith("gansweep: 4 points")
