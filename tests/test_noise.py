"""Per-point noise streams (gansweep.noise): row k of a fused draw is what point k draws alone, item i of a stream
depends only on (seed, i), and chunked pools give the same numbers however the draws are split."""

import pytest
import torch

from gansweep.noise import EVALUATION, PointNoise

CPU = torch.device("cpu")


def draws(noise: PointNoise, index: int, shapes, normal: int = 0, uniform: int = 0):
    noise.begin(index, CPU, torch.float64, normal=normal, uniform=uniform)
    return [
        noise.randn(shape, torch.float64) if kind == "n" else noise.rand(shape, torch.float64) for kind, shape in shapes
    ]


def test_row_k_of_a_fused_draw_is_point_k_alone():
    seeds = [3, 0, 7]
    fused = draws(PointNoise(seeds, fused=True), 5, [("n", (3, 4, 2)), ("u", (3, 4, 1)), ("n", (3, 6, 2))], 20, 4)
    for k, seed in enumerate(seeds):
        alone = draws(PointNoise([seed], fused=False), 5, [("n", (4, 2)), ("u", (4, 1)), ("n", (6, 2))], 20, 4)
        for a, f in zip(alone, fused, strict=True):
            assert torch.equal(f[k], a)
    assert not torch.equal(fused[0][0], fused[0][1])  # the points' streams differ


def test_an_item_depends_only_on_seed_and_index_and_streams_are_apart():
    one = draws(PointNoise([1], fused=False), 9, [("n", (5,))], 5)[0]
    assert torch.equal(one, draws(PointNoise([1], fused=False), 9, [("n", (5,))], 5)[0])  # a resumed run's
    assert not torch.equal(one, draws(PointNoise([1], fused=False), 10, [("n", (5,))], 5)[0])
    assert not torch.equal(one, draws(PointNoise([1], fused=False, tag=EVALUATION), 9, [("n", (5,))], 5)[0])
    assert not torch.equal(one, draws(PointNoise([2], fused=False), 9, [("n", (5,))], 5)[0])


def test_draws_beyond_the_announced_count_come_from_further_chunks():
    noise = PointNoise([0], fused=False)
    first, second = draws(noise, 0, [("n", (4,)), ("n", (4,))], normal=4)
    whole = torch.randn(4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # not the same stream
    assert first.shape == second.shape == (4,) and not torch.equal(first, second) and not torch.equal(first, whole)
    again = draws(PointNoise([0], fused=False), 0, [("n", (4,)), ("n", (4,))], normal=4)
    assert all(torch.equal(a, b) for a, b in zip(again, [first, second], strict=True))


def test_drawing_before_begin_or_with_the_wrong_point_count_says_so():
    with pytest.raises(RuntimeError, match="begin"):
        PointNoise([0], fused=False).randn((2,), torch.float32)
    noise = PointNoise([0, 1], fused=True)
    noise.begin(0, CPU, torch.float32)
    with pytest.raises(ValueError, match="2 points"):
        noise.randn((3, 2), torch.float32)
    with pytest.raises(ValueError, match="one seed"):
        PointNoise([0, 1], fused=False)
