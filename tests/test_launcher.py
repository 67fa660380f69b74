"""gansweep's local launcher: its pure parts (plan, leases, GPU discovery)."""

import pytest

from gansweep.sweep.gpus import parse_nvidia_smi, parse_visible_devices, visible_gpus
from gansweep.sweep.leases import Leases
from gansweep.sweep.plan import plan_launch

SETTINGS = {"workers": 1, "jobs_per_gpu": 1, "gpus": None, "preload": ["torch"]}


def test_concurrency_is_gpus_times_jobs_per_gpu_or_workers_without_gpus():
    plan = plan_launch(dict(SETTINGS, jobs_per_gpu=2), ["0", "3"])
    assert (plan.devices, plan.concurrency, plan.simulated) == (["0", "3"], 4, False)
    plan = plan_launch(dict(SETTINGS, workers=3), [])
    assert (plan.devices, plan.concurrency) == ([None], 3)  # CUDA_VISIBLE_DEVICES left as it is
    assert plan_launch(dict(SETTINGS, gpus=0, workers=2), ["0"]).devices == [""]  # GPUs hidden from the points
    assert plan_launch(dict(SETTINGS, gpus=1), ["2", "5"]).devices == ["2"]
    simulated = plan_launch(dict(SETTINGS, gpus=4), [])
    assert (simulated.devices, simulated.simulated) == (["0", "1", "2", "3"], True)


@pytest.mark.parametrize(
    "change, key",
    [({"workers": 0}, "hydra.launcher.workers"), ({"jobs_per_gpu": "2"}, "hydra.launcher.jobs_per_gpu"),
     ({"gpus": -1}, "hydra.launcher.gpus"), ({"gpus": 3}, "hydra.launcher.gpus")],
)  # fmt: skip
def test_a_wrong_setting_names_the_key_to_change(change, key):
    with pytest.raises(ValueError, match=key):
        plan_launch(dict(SETTINGS, **change), ["0", "1"])


def test_leases_go_to_the_least_busy_gpu_and_free_at_once():
    leases = Leases(["0", "1"], per_device=2)
    assert [leases.acquire() for _ in range(3)] == ["0", "1", "0"]
    assert leases.free == 1
    leases.release("0")
    leases.release("0")  # GPU 0 free at once, while GPU 1 still runs a point
    assert [leases.acquire() for _ in range(3)] == ["0", "0", "1"] and leases.free == 0
    with pytest.raises(RuntimeError, match="no free lease"):
        leases.acquire()
    with pytest.raises(RuntimeError, match="not held"):
        Leases(["0"], 1).release("0")


def test_visible_gpus_read_as_cuda_reads_them():
    assert parse_visible_devices("0, 2") == ["0", "2"]
    assert parse_visible_devices("") == [] and parse_visible_devices("-1") == []
    assert parse_visible_devices("1,-1,2") == ["1"]  # CUDA stops at the first invalid entry
    assert parse_visible_devices("GPU-8f6c,MIG-2b1e/1/0") == ["GPU-8f6c", "MIG-2b1e/1/0"]
    listing = (
        "GPU 0: NVIDIA H100 (UUID: GPU-a)\n  MIG 1g.10gb Device 0: (UUID: MIG-b)\nGPU 1: NVIDIA H100 (UUID: GPU-c)\n"
    )
    assert parse_nvidia_smi(listing) == ["0", "1"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "3"}) == ["3"]  # an existing setting wins over nvidia-smi
