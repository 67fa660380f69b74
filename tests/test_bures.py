"""Bures distance (feature and kernel forms, Newton-Schulz and eigen square roots) against scipy's sqrtm."""

import numpy as np
import pytest
import scipy.linalg
import torch

from gansweep.losses.base import CriticOutput
from gansweep.losses.bures import AltBuresLoss, BuresLoss
from gansweep.losses.bures_distance import bures_distance_sq, sqrtm_newton_schulz


def normalise(phi: np.ndarray) -> np.ndarray:
    phi = phi - phi.mean(axis=0, keepdims=True)
    return phi / np.linalg.norm(phi, axis=1, keepdims=True)


def scipy_bures_feature(phi_f, phi_r, eps):
    f, r = normalise(phi_f), normalise(phi_r)
    c_f = f.T @ f + eps * np.eye(f.shape[1])
    c_r = r.T @ r + eps * np.eye(r.shape[1])
    return np.trace(c_f) + np.trace(c_r) - 2 * np.trace(scipy.linalg.sqrtm(c_f @ c_r)).real


def scipy_bures_kernel(phi_f, phi_r):
    f, r = normalise(phi_f), normalise(phi_r)
    k_fr = f @ r.T
    return np.trace(f @ f.T) + np.trace(r @ r.T) - 2 * np.trace(scipy.linalg.sqrtm(k_fr @ k_fr.T)).real


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("sqrtm, rtol", [("eigh", 1e-8), ("newton_schulz", 1e-4)])
def test_feature_form_matches_scipy(rng, sqrtm, rtol):
    phi_f, phi_r = rng.normal(size=(64, 8)), rng.normal(size=(64, 8)) * 2 + 1
    got = bures_distance_sq(torch.from_numpy(phi_f), torch.from_numpy(phi_r), "feature", sqrtm, eps=1e-3).item()
    assert got == pytest.approx(scipy_bures_feature(phi_f, phi_r, 1e-3), rel=rtol)


@pytest.mark.parametrize("sqrtm, rtol", [("eigh", 1e-6), ("newton_schulz", 2e-3)])
def test_kernel_form_matches_scipy(rng, sqrtm, rtol):
    phi_f, phi_r = rng.normal(size=(12, 40)), rng.normal(size=(12, 40))
    got = bures_distance_sq(torch.from_numpy(phi_f), torch.from_numpy(phi_r), "kernel", sqrtm).item()
    assert got == pytest.approx(scipy_bures_kernel(phi_f, phi_r), rel=rtol)


def test_both_forms_agree_and_auto_picks_kernel_when_features_exceed_batch(rng):
    phi_f, phi_r = torch.from_numpy(rng.normal(size=(10, 30))), torch.from_numpy(rng.normal(size=(10, 30)))
    kernel = bures_distance_sq(phi_f, phi_r, "kernel", "eigh").item()
    feature = bures_distance_sq(phi_f, phi_r, "feature", "eigh", eps=0.0).item()
    assert feature == pytest.approx(kernel, rel=1e-6)
    assert bures_distance_sq(phi_f, phi_r, "auto", "eigh").item() == pytest.approx(kernel, rel=1e-12)


def test_identical_batches_are_at_distance_zero(rng):
    phi = torch.from_numpy(rng.normal(size=(32, 6)))
    assert abs(bures_distance_sq(phi, phi.clone(), "feature", "eigh", eps=0.0).item()) < 1e-9


def test_newton_schulz_square_root(rng):
    a = rng.normal(size=(6, 6))
    spd = a @ a.T + np.eye(6)
    root = sqrtm_newton_schulz(torch.from_numpy(spd), iters=30).numpy()
    np.testing.assert_allclose(root, scipy.linalg.sqrtm(spd).real, rtol=1e-6, atol=1e-8)


def test_bures_loss_is_half_nsgan_plus_weighted_distance(rng):
    feats_f = torch.from_numpy(rng.normal(size=(16, 4))).requires_grad_(True)
    feats_r = torch.from_numpy(rng.normal(size=(16, 4)))
    fake = CriticOutput(torch.zeros(16, dtype=torch.float64), feats_f)
    real = CriticOutput(torch.ones(16, dtype=torch.float64), feats_r)
    b2 = scipy_bures_feature(feats_f.detach().numpy(), feats_r.numpy(), 1e-8)
    loss = BuresLoss(weight=2.0, sqrtm="eigh", form="feature").generator_loss(fake, real)
    assert loss.item() == pytest.approx(0.5 * (np.log(2.0) + 2.0 * b2), rel=1e-6)
    loss.backward()
    assert feats_f.grad is not None and torch.isfinite(feats_f.grad).all()
    alt = AltBuresLoss(sqrtm="eigh", form="feature")
    assert alt.alternating_generator_loss(fake, real).item() == pytest.approx(b2, rel=1e-6)
    assert alt.generator_loss(fake).item() == pytest.approx(np.log(2.0))
    assert alt.extra_real_batches == 1


def test_bures_needs_features():
    with pytest.raises(ValueError, match="hidden features"):
        BuresLoss().generator_loss(CriticOutput(torch.zeros(4)), CriticOutput(torch.zeros(4)))


@pytest.mark.parametrize("form", ["feature", "kernel"])
@pytest.mark.parametrize("sqrtm", ["eigh", "newton_schulz"])
def test_gradient_is_finite_with_dead_units(rng, form, sqrtm):
    """Dead ReLU units (zero feature columns) repeat eigenvalues; eigh's eigenvector gradient would be NaN."""
    phi_f, phi_r = rng.normal(size=(8, 16)), rng.normal(size=(8, 16))
    phi_f[:, :6] = 0.0
    phi_r[:, 3:5] = 0.0
    fake = torch.from_numpy(phi_f).requires_grad_(True)
    value = bures_distance_sq(fake, torch.from_numpy(phi_r), form, sqrtm)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(fake.grad).all()
    exact = bures_distance_sq(torch.from_numpy(phi_f), torch.from_numpy(phi_r), form, "eigh").item()
    assert value.item() == pytest.approx(exact, rel=1e-3)
