"""Bures distance (feature and kernel forms, Newton-Schulz and eigen square roots) against scipy's sqrtm."""

import numpy as np
import pytest
import scipy.linalg
import torch

from gansweep.losses.base import CriticOutput
from gansweep.losses.bures import AltBuresLoss, BuresLoss
from gansweep.losses.bures_distance import EPS, bures_distance_sq, normalise_features, sqrtm_newton_schulz


def normalise(phi: np.ndarray) -> np.ndarray:
    phi = phi - phi.mean(axis=0, keepdims=True)
    return phi / np.linalg.norm(phi, axis=1, keepdims=True)


def scipy_bures_feature(phi_f, phi_r, eps):
    f, r = normalise(phi_f), normalise(phi_r)
    c_f = f.T @ f + eps * np.eye(f.shape[1])
    c_r = r.T @ r + eps * np.eye(r.shape[1])
    return np.trace(c_f) + np.trace(c_r) - 2 * np.trace(scipy.linalg.sqrtm(c_f @ c_r)).real


def scipy_bures_kernel(phi_f, phi_r, eps):
    """The authors' kernel form: eps I added to K_ff, K_rr and the cross matrix K_fr."""
    f, r = normalise(phi_f), normalise(phi_r)
    k_ff, k_rr = f @ f.T + eps * np.eye(len(f)), r @ r.T + eps * np.eye(len(r))
    k_fr = f @ r.T + eps * np.eye(len(f), len(r))
    return np.trace(k_ff) + np.trace(k_rr) - 2 * np.trace(scipy.linalg.sqrtm(k_fr @ k_fr.T)).real


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("sqrtm, rtol", [("eigh", 1e-8), ("newton_schulz", 1e-4)])
def test_feature_form_matches_scipy(rng, sqrtm, rtol):
    phi_f, phi_r = rng.normal(size=(64, 8)), rng.normal(size=(64, 8)) * 2 + 1
    got = bures_distance_sq(torch.from_numpy(phi_f), torch.from_numpy(phi_r), "feature", sqrtm, eps=1e-3).item()
    assert got == pytest.approx(scipy_bures_feature(phi_f, phi_r, 1e-3), rel=rtol)


@pytest.mark.parametrize("sqrtm, rtol", [("eigh", 1e-6), ("newton_schulz", 2e-3)])
@pytest.mark.parametrize("eps", [EPS, 1e-2])
def test_kernel_form_matches_scipy(rng, sqrtm, rtol, eps):
    phi_f, phi_r = rng.normal(size=(12, 40)), rng.normal(size=(12, 40))
    got = bures_distance_sq(torch.from_numpy(phi_f), torch.from_numpy(phi_r), "kernel", sqrtm, eps=eps).item()
    assert got == pytest.approx(scipy_bures_kernel(phi_f, phi_r, eps), rel=rtol)


def test_kernel_form_adds_eps_to_the_cross_matrix_too():
    """By hand: two rows each, centred rows +-u and +-v (unit, u.v = 0.6), so K_ff = K_rr = [[1, -1], [-1, 1]] and
    K_fr = 0.6 [[1, -1], [-1, 1]] + eps I, eigenvalues 1.2 + eps and eps: B^2 = (2 + 2 eps) * 2 - 2 (1.2 + 2 eps)."""
    phi_f = torch.tensor([[2.0, 1.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)  # centred: +-(1, 0, 0)
    phi_r = torch.tensor([[1.6, 1.8, 1.0], [0.4, 0.2, 1.0]], dtype=torch.float64)  # centred: +-(0.6, 0.8, 0)
    for eps, expected in [(0.1, 1.6), (0.0, 1.6)]:  # 4.4 - 2 * 1.4 = 1.6; 4 - 2 * 1.2 = 1.6
        assert bures_distance_sq(phi_f, phi_r, "kernel", "eigh", eps=eps).item() == pytest.approx(expected)
    # eps on the diagonals only (gansweep before) would give 4.4 - 2 * 1.2 = 2.0
    assert bures_distance_sq(phi_f, phi_r, "kernel", "eigh", eps=0.1).item() != pytest.approx(2.0)
    # the generator batch may differ from the real one: eps on K_fr's leading diagonal (rectangular identity)
    three = torch.tensor([[2.0, 1.0, 1.0], [0.0, 1.0, 1.0], [1.0, 3.0, 1.0]], dtype=torch.float64)
    got = bures_distance_sq(three, phi_r, "kernel", "eigh", eps=0.1).item()
    assert got == pytest.approx(scipy_bures_kernel(three.numpy(), phi_r.numpy(), 0.1), rel=1e-7)


def test_rows_are_normalised_with_tf_l2_normalize_floor():
    """TF's l2_normalize (the authors'): x / max(||x||, 1e-6). A collapsed batch's round-off rows (norm 1e-9) stay
    at norm 1e-3 instead of being blown up to unit rows; ordinary rows are unit."""
    collapsed = torch.tensor([[1.0, 1.0], [1.0, 1.0 + 2e-9]], dtype=torch.float64)  # centred: (0, -+1e-9)
    rows = normalise_features(collapsed)
    torch.testing.assert_close(rows, torch.tensor([[0.0, -1e-3], [0.0, 1e-3]], dtype=torch.float64), atol=1e-9, rtol=0)
    ordinary = normalise_features(torch.tensor([[3.0, 4.0], [-3.0, -4.0]], dtype=torch.float64))
    torch.testing.assert_close(ordinary, torch.tensor([[0.6, 0.8], [-0.6, -0.8]], dtype=torch.float64))


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
