"""Seconds per evaluation with cached real statistics: gansweep's metrics callback (generate, quantise, extract,
FID + KID + precision/recall, or modes + KL + FID for digits) vs a plain-PyTorch FID loop with the same generator
and extractor, in this process. The real features (and the digit classifier) are computed once into the metrics
cache before anything is timed, as gansweep-prepare would.

    python benchmarks/eval_step.py --metrics inception --weights PATH/inception-2015-12-05.pt [--samples 10000]
    python benchmarks/eval_step.py --metrics digits [--samples 26000]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from timing import InMemory, random_images  # benchmarks/timing.py, beside this script
from torch import Tensor

from gansweep.constraints.gradient_penalty import GradientPenalty
from gansweep.losses.wgan import WGANLoss
from gansweep.metrics.features import to_uint8
from gansweep.model.module import GANModule
from gansweep.model.points import GANPoint
from gansweep.model.view import PointView
from gansweep.models.dcgan import build_dcgan

SHAPE = (3, 32, 32)


class StackedInMemory(InMemory):
    """Random images with random stacked-digit labels: metrics=digits scores only stacked digits; this times it."""

    name = "stacked_digits"

    def __init__(self, images: Tensor, **kwargs: Any) -> None:
        super().__init__(images, **kwargs)
        self.labels = torch.randint(1000, (len(images),), generator=torch.Generator().manual_seed(1))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_fid(module: PointView, extractor: Any, real: Tensor, samples: int, batch: int) -> float:
    """FID written directly: generate, quantise, extract, Frechet distance against the real mean and covariance."""
    from torchmetrics.image.fid import _compute_fid

    mu_r, sigma_r = real.double().mean(0), torch.cov(real.double().T)
    features = []
    with torch.no_grad():
        for i in range(0, samples, batch):
            z = torch.randn(min(batch, samples - i), module.z_dim, device=module.device)
            features.append(extractor(to_uint8(module.generator(z))).double())
    fake = torch.cat(features)
    return float(_compute_fid(mu_r, sigma_r, fake.mean(0), torch.cov(fake.T)))


def time_evaluation(
    metrics: str,
    weights: Optional[str],
    samples: Optional[int],
    real: int,
    batch: Optional[int],
    dim: Optional[int],
    device: torch.device,
    cache: Optional[str] = None,
) -> Dict[str, Any]:
    """Seconds of one evaluation on `samples` generated images against `real` cached real ones (`prepare_s`: the
    real features, computed once before anything is timed; `plain_s`: a plain FID; `gansweep_s`: gansweep's callback),
    with the metric names and the extractor's protocol entry. `cache` (default: the user's) holds the real features."""
    from gansweep.callbacks.image_evaluation import DigitsEvaluation, InceptionEvaluation

    samples = samples or (10_000 if metrics == "inception" else 26_000)
    batch = batch or (250 if metrics == "inception" else 1000)
    cache = cache or str(Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "gansweep" / "metrics")
    common = dict(num_samples=samples, batch_size=batch, num_real=real, cache_dir=cache)
    if metrics == "inception":
        evaluation: Any = InceptionEvaluation(inception_weights=weights, download=False, **common)
    else:
        evaluation = DigitsEvaluation(**common)
    data = StackedInMemory(random_images(real))
    data.configure_batches(min(64, real), 1, 1)
    data.setup()
    start = time.perf_counter()
    evaluation.prepare(data, device)  # computes and caches the real features: not part of an evaluation
    prepare_s = time.perf_counter() - start
    point = GANPoint(build_dcgan(SHAPE, dim=dim), [GradientPenalty(10.0)], (partial(torch.optim.Adam),) * 2)
    view = PointView(GANModule(point, WGANLoss()).to(device), 0)  # what an evaluation callback sees: the point's view
    assert evaluation.real is not None
    plain_fid(view, evaluation.extractor, evaluation.real, min(batch, samples), batch)  # warm-up
    import torchmetrics.image.kid  # noqa: F401  (imported by the first evaluation otherwise: not an evaluation cost)

    sync(device)
    start = time.perf_counter()
    plain_fid(view, evaluation.extractor, evaluation.real, samples, batch)
    sync(device)
    plain_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = evaluation.compute(None, view)  # type: ignore[arg-type]
    sync(device)
    ours_s = time.perf_counter() - start
    return {
        "samples": samples,
        "batch": batch,
        "prepare_s": prepare_s,
        "plain_s": plain_s,
        "gansweep_s": ours_s,
        "metrics": list(scores),
        "extractor": evaluation.extractor_info,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", choices=("inception", "digits"), default="inception")
    parser.add_argument("--weights", default=None, help="inception-2015-12-05.pt (default: torch's cache)")
    parser.add_argument("--samples", type=int, default=None, help="generated images (default: the protocol's)")
    parser.add_argument("--real", type=int, default=10_000, help="real images in the cached statistics")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--dim", type=int, default=None, help="DCGAN width (default: the paper's, 128)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    args_ = (args.metrics, args.weights, args.samples, args.real, args.batch, args.dim, torch.device(args.device))
    t = time_evaluation(*args_)
    print(f"metrics={args.metrics} device={args.device} generated={t['samples']} real={args.real} batch={t['batch']}")
    print(f"real features (or the cache of a former run): {t['prepare_s']:8.2f} s")
    print(f"plain PyTorch FID only                  : {t['plain_s']:8.2f} s")
    print(f"gansweep evaluation ({', '.join(t['metrics'])}): {t['gansweep_s']:8.2f} s")
    print(f"ratio gansweep / plain: {t['gansweep_s'] / t['plain_s']:.3f}")


if __name__ == "__main__":
    main()
