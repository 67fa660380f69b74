"""Stacked-digits metrics: modes and KL on constructed label sets against hand-computed values, and the digit
classifier (held-out accuracy, determinism, the cache, the channel order of its features and labels)."""

import math

import pytest
import scipy.stats
import torch

from gansweep.metrics import digit_classifier
from gansweep.metrics.digit_classifier import FEATURES, _split, load_digits_extractor, train_digit_classifier
from gansweep.metrics.digit_modes import digit_metrics, label_kl, mode_count

UNIFORM = torch.arange(1000).repeat(3)  # every mode three times


def test_all_modes_uniform_hits_1000_with_zero_kl():
    assert digit_metrics(UNIFORM[torch.randperm(3000)], UNIFORM) == {"modes": 1000, "kl": pytest.approx(0.0, abs=1e-12)}


def clipped(counts):
    """The protocol's histogram: frequencies over 1,000 labels, clipped to [1e-7, 1] (scipy renormalises)."""
    total = sum(counts.values())
    return [max(counts.get(i, 0) / total, 1e-7) for i in range(1000)]


def test_one_mode():
    # p: 1 on one label, 1e-7 on the 999 others, renormalised by s = 1 + 999e-7; q: 1/1000 everywhere
    s = 1 + 999e-7
    expected = (1 / s) * math.log((1 / s) / 1e-3) + 999 * (1e-7 / s) * math.log((1e-7 / s) / 1e-3)
    generated = torch.full((500,), 123)
    assert mode_count(generated) == 1
    assert label_kl(generated, UNIFORM) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(6.906045, abs=1e-6)
    assert label_kl(generated, UNIFORM) == pytest.approx(scipy.stats.entropy(clipped({123: 500}), [1e-3] * 1000))


def test_skewed_histogram():
    # generated: labels 0..9, label i (i + 1) times; data: labels 0..9 uniformly. The 990 labels neither side has
    # are 1e-7 on both sides (log 1 = 0), but count in the renormalisation: every weight is divided by s.
    generated = torch.cat([torch.full((i + 1,), i) for i in range(10)])
    data = torch.arange(10).repeat(7)
    s = 1 + 990e-7
    by_hand = sum((i + 1) / 55 * math.log(((i + 1) / 55) / 0.1) for i in range(10)) / s
    assert label_kl(generated, data) == pytest.approx(by_hand, rel=1e-12)
    gen_counts, data_counts = {i: i + 1 for i in range(10)}, {i: 7 for i in range(10)}
    expected = scipy.stats.entropy(clipped(gen_counts), clipped(data_counts))
    assert label_kl(generated, data) == pytest.approx(expected, rel=1e-12)
    assert mode_count(generated) == 10


def test_a_mode_the_data_lacks_counts_through_the_clipping():
    generated, data = torch.tensor([0, 1]), torch.tensor([0, 0])
    expected = scipy.stats.entropy(clipped({0: 1, 1: 1}), clipped({0: 2}))
    assert label_kl(generated, data) == pytest.approx(expected, rel=1e-12)
    assert expected > 0.5 * math.log(0.5 / 1e-7) - 1  # the missing mode dominates: about log(0.5 / 1e-7) / 2


def test_labels_outside_the_modes_are_refused():
    with pytest.raises(ValueError, match="integers in \\[0, 1000\\)"):
        label_kl(torch.tensor([1000]), UNIFORM)


@pytest.fixture(scope="module")
def trained():
    return train_digit_classifier(seed=0)


def test_held_out_accuracy_is_at_least_97_percent(trained):
    _, held_out = trained
    assert held_out >= 0.97


def test_training_is_deterministic_and_leaves_the_global_random_state(trained):
    state = torch.get_rng_state()
    again, accuracy = train_digit_classifier(seed=0)
    assert torch.equal(torch.get_rng_state(), state)
    assert accuracy == trained[1]
    for (name, a), b in zip(trained[0].state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_the_cache_trains_once_per_seed(tmp_path, monkeypatch, trained):
    calls = []

    def counted(seed=0):
        calls.append(seed)
        return trained  # the same weights: only what the cache does is under test

    monkeypatch.setattr(digit_classifier, "train_digit_classifier", counted)
    first, info = load_digits_extractor(tmp_path)
    second, again = load_digits_extractor(tmp_path)
    assert calls == [0] and info == again and info["accuracy"] == trained[1] and len(info["sha256"]) == 64
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(first(images), second(images))
    _, other = load_digits_extractor(tmp_path, seed=1)
    assert calls == [0, 1] and other["path"] != info["path"] and other["sha256"] != info["sha256"]


def test_labels_read_each_channel_and_features_keep_channel_order(trained):
    """200 RGB images stacked from random held-out digits, as StackedDigitsDataModule stacks them."""
    _, _, x_held, y_held = _split()
    gray = x_held.add(1.0).mul(127.5).round().to(torch.uint8)[:, 0]  # back to the dataset's uint8
    picks = torch.randint(len(gray), (200, 3), generator=torch.Generator().manual_seed(0))
    images, truth = gray[picks], (y_held[picks] * torch.tensor([100, 10, 1])).sum(dim=1)
    extractor = digit_classifier.StackedDigitsExtractor(trained[0])
    # >= 0.85 of the triplets (random labels: 0.001); the trained CNN's float rounding, so its accuracy, varies with
    # the number of CPU threads (0.895 with one, above 0.9 with two)
    assert (extractor.labels(images) == truth).double().mean() >= 0.85
    features = extractor(images)
    assert features.shape == (200, 3 * FEATURES)
    swapped = extractor(images[:, [2, 1, 0]])
    assert torch.allclose(swapped.view(200, 3, FEATURES), features.view(200, 3, FEATURES)[:, [2, 1, 0]])
