"""Squared Bures distance between the normalised feature covariances of two batches (De Meulemeester et al. 2021).

Features are [*points, N, F]; every function here works on the last two dims and keeps the leading ones.
"""

from __future__ import annotations

import torch
from torch import Tensor

FORMS = ("auto", "feature", "kernel")
SQRTMS = ("newton_schulz", "eigh")
#: The authors' eps (lib/losses.py; their image scripts use 1e-14), added to every Gram matrix of either form.
EPS = 1e-13
#: The row-norm floor of TF's l2_normalize (x / sqrt(max(sum x^2, 1e-12))), which the authors use: a collapsed fake
#: batch's round-off rows stay near zero instead of being blown up to unit rows.
NORM_FLOOR = 1e-6


def normalise_features(phi: Tensor) -> Tensor:
    """Centre over the batch (dim -2) and L2-normalise each row (norm floored at NORM_FLOOR), in float64."""
    phi = phi.to(torch.float64)
    phi = phi - phi.mean(dim=-2, keepdim=True)
    return phi / phi.norm(dim=-1, keepdim=True).clamp_min(NORM_FLOOR)


def trace(a: Tensor) -> Tensor:
    """Tr of each matrix in a batch [..., n, n]."""
    return torch.diagonal(a, dim1=-2, dim2=-1).sum(dim=-1)


def sqrtm_newton_schulz(a: Tensor, iters: int = 15) -> Tensor:
    """Matrix square root by the coupled Newton-Schulz iteration on A/||A||_F, rescaled by sqrt(||A||_F)."""
    norm = torch.linalg.matrix_norm(a, keepdim=True)
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    y, z = a / norm, eye.expand_as(a)
    for _ in range(iters):
        t = 0.5 * (3.0 * eye - z @ y)
        y, z = y @ t, t @ z
    return y * norm.sqrt()


def _sqrt_psd(a: Tensor) -> Tensor:
    evals, evecs = torch.linalg.eigh(a)
    return (evecs * evals.clamp_min(0).sqrt().unsqueeze(-2)) @ evecs.mT


def trace_sqrt_product(a: Tensor, b: Tensor, sqrtm: str = "newton_schulz", iters: int = 15) -> Tensor:
    """Tr((A B)^(1/2)) for symmetric PSD A, B (eigen route: Tr((B^1/2 A B^1/2)^1/2), same spectrum).

    The eigen route roots B, the side held fixed (real features): A is then differentiated through eigenvalues
    only, which stays finite when A has repeated eigenvalues (dead units), unlike eigh's eigenvectors.
    """
    if sqrtm == "newton_schulz":
        return trace(sqrtm_newton_schulz(a @ b, iters))
    root_b = _sqrt_psd(b)
    return torch.linalg.eigvalsh(root_b @ a @ root_b).clamp_min(0).sqrt().sum(dim=-1)


def trace_sqrt_psd(a: Tensor, sqrtm: str = "newton_schulz", iters: int = 15) -> Tensor:
    """Tr(A^(1/2)) for a symmetric PSD A."""
    if sqrtm == "newton_schulz":
        return trace(sqrtm_newton_schulz(a, iters))
    return torch.linalg.eigvalsh(a).clamp_min(0).sqrt().sum(dim=-1)


def bures_distance_sq(
    phi_fake: Tensor,
    phi_real: Tensor,
    form: str = "auto",
    sqrtm: str = "newton_schulz",
    iters: int = 15,
    eps: float = EPS,
) -> Tensor:
    """B^2 = Tr C_f + Tr C_r - 2 Tr((C_f C_r)^(1/2)) with C = Phi^T Phi + eps I.

    The kernel form Tr K_ff + Tr K_rr - 2 Tr((K_fr K_fr^T)^(1/2)), K = Phi Phi^T + eps I (K_fr = Phi_f Phi_r^T
    + eps I too, as the authors add it), works with batch x batch matrices; "auto" takes it when the feature
    dimension exceeds the batch size.
    """
    f, r = normalise_features(phi_fake), normalise_features(phi_real)
    if form == "auto":
        form = "kernel" if f.shape[-1] > f.shape[-2] else "feature"
    if form == "kernel":
        n_f, n_r = f.shape[-2], r.shape[-2]
        k_fr = f @ r.mT + eps * torch.eye(n_f, n_r, dtype=f.dtype, device=f.device)  # rectangular when n_f != n_r
        cross = trace_sqrt_psd(k_fr @ k_fr.mT, sqrtm, iters)
        return (f * f).sum(dim=(-2, -1)) + (r * r).sum(dim=(-2, -1)) + eps * (n_f + n_r) - 2.0 * cross
    eye = eps * torch.eye(f.shape[-1], dtype=f.dtype, device=f.device)
    c_f, c_r = f.mT @ f + eye, r.mT @ r + eye
    return trace(c_f) + trace(c_r) - 2.0 * trace_sqrt_product(c_f, c_r, sqrtm, iters)
