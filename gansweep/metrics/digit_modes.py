"""Mode metrics of stacked digits (Bures GAN's Stacked MNIST protocol, after VEEGAN and PacGAN): how many of the
1,000 labels 100*c1 + 10*c2 + c3 the generator produces, and the KL divergence of its label histogram from the
data's."""

from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor

N_MODES = 1000
EPS = 1e-7  # Keras' epsilon: the protocol clips both histograms' probabilities to >= 1e-7 before the KL


def mode_count(labels: Tensor) -> int:
    """Distinct labels among the samples (modes hit, of 1,000)."""
    return int(torch.unique(labels).numel())


def histogram(labels: Tensor, n_modes: int = N_MODES) -> Tensor:
    """Label frequencies (counts / total) over 0..n_modes-1, float64."""
    labels = labels.detach().flatten().long().cpu()
    if labels.numel() == 0 or labels.min() < 0 or labels.max() >= n_modes:
        raise ValueError(f"mode labels must be a non-empty set of integers in [0, {n_modes})")
    return torch.bincount(labels, minlength=n_modes).double() / labels.numel()


def label_kl(generated: Tensor, data: Tensor, n_modes: int = N_MODES, eps: float = EPS) -> float:
    """KL(P_gen || P_data) = sum_i p_i log(p_i / q_i) over the label histograms, as the Bures GAN code computes it
    (lib/evaluate.py, sample_KL_divergence): each histogram clipped to [eps, 1], so that a mode one side never
    produces contributes finitely, then tfp's Categorical KL, which renormalises each to sum 1."""
    p = histogram(generated, n_modes).clamp(eps, 1.0)
    q = histogram(data, n_modes).clamp(eps, 1.0)
    p, q = p / p.sum(), q / q.sum()
    return float((p * (p / q).log()).sum())


def digit_metrics(generated_labels: Tensor, data_labels: Tensor) -> Dict[str, float]:
    """{"modes": modes hit of 1,000, "kl": KL(generated || data)}."""
    return {"modes": mode_count(generated_labels), "kl": label_kl(generated_labels, data_labels)}
