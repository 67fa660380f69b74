"""Counter-based real-data streams: a stream started at item k gives exactly the items k, k+1, ... of the full one."""

import torch

from gansweep.data.images import DeviceBatches, StreamSampler
from gansweep.data.stream import permutation_batches, stream_seed
from gansweep.data.toy import ToyDataModule


def test_a_stream_started_at_item_k_continues_the_full_one():
    cpu = torch.device("cpu")
    full = list(permutation_batches(10, 4, 0, 8, seed=3, device=cpu))  # take 4 of 10: items straddle epochs
    tail = list(permutation_batches(10, 4, 3, 5, seed=3, device=cpu))
    assert all(torch.equal(a, b) for a, b in zip(full[3:], tail, strict=True))
    drawn = torch.cat(full).tolist()
    assert sorted(drawn[:10]) == list(range(10)) and sorted(drawn[10:20]) == list(range(10))  # epochs of permutations
    assert drawn[:10] != drawn[10:20]  # each epoch its own permutation


def test_item_seeds_differ_between_items_and_streams():
    seeds = {stream_seed(seed, index) for seed in range(4) for index in range(1000)}
    assert len(seeds) == 4000 and all(0 <= s < 2**64 for s in seeds)


def test_device_batches_and_the_dataloader_sampler_draw_the_same_indices():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    device = [b.flatten().tolist() for b in DeviceBatches(images, batch_size=3, per_step=2, steps=4, seed=5, start=2)]
    sampled = list(StreamSampler(10, take=6, start=2, steps=4, seed=5))
    assert [i for batch in device for i in batch] == sampled


def test_toy_batches_resume_mid_stream():
    dm = ToyDataModule("bures_ring", n_points=100, seed=1)
    dm.setup()
    dm.configure_batches(batch_size=8, per_step=2, steps=6)
    full = list(dm.train_dataloader())
    dm.configure_batches(batch_size=8, per_step=2, steps=2, start=4)
    assert all(torch.equal(a, b) for a, b in zip(full[4:], dm.train_dataloader(), strict=True))
    assert not torch.equal(full[0], full[1])
