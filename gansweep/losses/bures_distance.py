"""Squared Bures distance between the normalised feature covariances of two batches (De Meulemeester et al. 2021)."""

from __future__ import annotations

import torch
from torch import Tensor

FORMS = ("auto", "feature", "kernel")
SQRTMS = ("newton_schulz", "eigh")


def normalise_features(phi: Tensor) -> Tensor:
    """Flatten, centre over the batch and L2-normalise each row, in float64."""
    phi = phi.flatten(1).to(torch.float64)
    phi = phi - phi.mean(dim=0, keepdim=True)
    return phi / phi.norm(dim=1, keepdim=True).clamp_min(1e-12)


def sqrtm_newton_schulz(a: Tensor, iters: int = 15) -> Tensor:
    """Matrix square root by the coupled Newton-Schulz iteration on A/||A||_F, rescaled by sqrt(||A||_F)."""
    norm = a.norm()
    eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    y, z = a / norm, eye
    for _ in range(iters):
        t = 0.5 * (3.0 * eye - z @ y)
        y, z = y @ t, t @ z
    return y * norm.sqrt()


def _sqrt_psd(a: Tensor) -> Tensor:
    evals, evecs = torch.linalg.eigh(a)
    return (evecs * evals.clamp_min(0).sqrt()) @ evecs.T


def trace_sqrt_product(a: Tensor, b: Tensor, sqrtm: str = "newton_schulz", iters: int = 15) -> Tensor:
    """Tr((A B)^(1/2)) for symmetric PSD A, B (eigen route: Tr((A^1/2 B A^1/2)^1/2), same spectrum)."""
    if sqrtm == "newton_schulz":
        return torch.trace(sqrtm_newton_schulz(a @ b, iters))
    root_a = _sqrt_psd(a)
    return torch.linalg.eigvalsh(root_a @ b @ root_a).clamp_min(0).sqrt().sum()


def trace_sqrt_psd(a: Tensor, sqrtm: str = "newton_schulz", iters: int = 15) -> Tensor:
    """Tr(A^(1/2)) for a symmetric PSD A."""
    if sqrtm == "newton_schulz":
        return torch.trace(sqrtm_newton_schulz(a, iters))
    return torch.linalg.eigvalsh(a).clamp_min(0).sqrt().sum()


def bures_distance_sq(
    phi_fake: Tensor,
    phi_real: Tensor,
    form: str = "auto",
    sqrtm: str = "newton_schulz",
    iters: int = 15,
    eps: float = 1e-8,
) -> Tensor:
    """B^2 = Tr C_f + Tr C_r - 2 Tr((C_f C_r)^(1/2)) with C = Phi^T Phi (+ eps I, feature form only).

    The kernel form Tr K_ff + Tr K_rr - 2 Tr((K_fr K_fr^T)^(1/2)), K_fr = Phi_f Phi_r^T, works with
    batch x batch matrices; "auto" takes it when the feature dimension exceeds the batch size.
    """
    f, r = normalise_features(phi_fake), normalise_features(phi_real)
    if form == "auto":
        form = "kernel" if f.shape[1] > f.shape[0] else "feature"
    if form == "kernel":
        k_fr = f @ r.T
        cross = trace_sqrt_psd(k_fr @ k_fr.T, sqrtm, iters)
        return (f * f).sum() + (r * r).sum() - 2.0 * cross
    eye = eps * torch.eye(f.shape[1], dtype=f.dtype, device=f.device)
    c_f, c_r = f.T @ f + eye, r.T @ r + eye
    return torch.trace(c_f) + torch.trace(c_r) - 2.0 * trace_sqrt_product(c_f, c_r, sqrtm, iters)
