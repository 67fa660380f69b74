"""Image datasets: FID-style metrics on a feature extractor, every `every` G iterations and at the end.

The extractor is loaded when the callback is built, before any training (missing weights fail there); the real
features are read from the cache (or computed and cached) when fitting starts; each evaluation generates
`num_samples` images from fixed noise, quantises them to uint8 like the real ones, and scores their features.
Metric keys carry the extractor's name (fid_inception, fid_digits), so numbers of different extractors never mix.
The evaluations of a fused group share one extractor and one set of real features (gansweep.metrics.shared).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Dict, Optional

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from gansweep.callbacks.evaluation import Evaluation, datamodule_of
from gansweep.metrics.features import VERSION as FEATURES_VERSION
from gansweep.metrics.features import extract, full_precision, real_features, real_subset, to_uint8
from gansweep.metrics.fid import KID_SUBSETS, frechet_distance, kernel_distance, kid_subset_size
from gansweep.metrics.precision_recall import K, precision_recall
from gansweep.metrics.shared import (
    Extractor,
    RealFeatures,
    extractor_on,
    file_key,
    shared_extractor,
    shared_real_features,
)
from gansweep.model.view import RunView

if TYPE_CHECKING:
    from gansweep.metrics.digit_classifier import StackedDigitsExtractor

log = logging.getLogger("gansweep")

EVAL_SEED = 0  # fixed evaluation noise (the papers' "fixed noise"), drawn apart from the training random state


class FeatureEvaluation(Evaluation):
    """Generated-vs-real metrics on the features of `self.extractor` (set by subclasses in __init__)."""

    loaded: Extractor[Any]  # what the process shares (held here, so the group's other points find it)
    extractor: nn.Module  # loaded.network
    extractor_info: Dict[str, Any]  # this evaluation's own copy of loaded.info

    def __init__(
        self,
        num_samples: int = 10000,
        every: Optional[int] = None,
        batch_size: int = 250,
        num_real: Optional[int] = 50000,
        cache_dir: Optional[str] = None,
    ) -> None:
        super().__init__(num_samples, every)
        if batch_size < 1:
            raise ValueError(f"metrics.batch_size must be >= 1, got {batch_size}")
        if num_real is not None and num_real < 2:
            raise ValueError(f"metrics.num_real must be >= 2 (or null: every training image), got {num_real}")
        self.batch_size, self.num_real, self.cache_dir = batch_size, num_real, cache_dir
        self.real: Optional[Tensor] = None
        self.real_set: Optional[RealFeatures] = None  # what `real` comes from, shared with the group's points
        self.real_protocol: Dict[str, Any] = {}

    # -- what an extractor adds ------------------------------------------------------------------------
    def check_data(self, data: Any) -> None:
        """Refuse a dataset this extractor cannot score (before training)."""

    def score(self, real: Tensor, fake: Tensor, images: Tensor) -> Dict[str, float]:
        """The metrics from real and generated features (and the generated uint8 images)."""
        raise NotImplementedError

    # -- Lightning -------------------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, module: Any) -> None:
        """Real features before the first training step: a cache or extractor problem shows at once."""
        self.prepare(datamodule_of(trainer), module.device)

    def prepare(self, data: Any, device: torch.device) -> None:
        """Load (or compute and cache) the real features of `data`'s images on `device` (also gansweep-prepare)."""
        self.check_data(data)
        if data.images is None:
            data.setup("fit")
        self.loaded = extractor_on(self.loaded, device)
        self.extractor = self.loaded.network
        idx = real_subset(len(data.images), self.num_real)
        key = {
            "dataset": data.name,
            "split": getattr(data, "split", None),
            "shape": list(data.data_shape),
            "extractor": self.extractor_info["extractor"],
            "weights_sha256": self.extractor_info["weights_sha256"],
        }

        def compute() -> RealFeatures:
            images = data.images[idx.to(data.images.device)]
            saved = real_features(images, self.extractor, key, self.batch_size, device, self.cache_dir)
            return RealFeatures(saved["features"].to(device), saved["path"])

        source = data.shared_key() if hasattr(data, "shared_key") else None
        full_key = {**key, "n": len(idx), "version": FEATURES_VERSION}
        self.real_set = shared_real_features(source, full_key, device, self.cache_dir, compute)
        self.real = self.real_set.features
        self.real_protocol = {
            "dataset": data.name,
            "real_split": getattr(data, "split", None) or "training images",
            "real_samples": len(idx),
            "real_of": len(data.images),
            "real_cache": self.real_set.path,
        }

    def compute(self, trainer: pl.Trainer, module: RunView) -> Dict[str, float]:
        assert self.real is not None, "on_fit_start computes the real features"
        log.info(
            "metrics=%s: scoring %d generated images at generator iteration %d",
            self.name,
            self.num_samples,
            module.g_iters,
        )
        devices = [module.device] if module.device.type == "cuda" else []
        batches = []
        with torch.random.fork_rng(devices=devices):  # training's random state is left as it was
            torch.manual_seed(EVAL_SEED)
            for i in range(0, self.num_samples, self.batch_size):
                batch = module.sample(min(self.batch_size, self.num_samples - i), batch_size=self.batch_size)
                if not torch.isfinite(batch).all():
                    return {}  # a generator that emits NaN has no score; the run's status says why
                batches.append(to_uint8(batch))
        images = torch.cat(batches)
        fake = extract(self.extractor, images, self.batch_size, module.device)
        with full_precision():  # KID's kernels are float32 matmuls
            return self.score(self.real, fake, images)

    def describe(self) -> Dict[str, Any]:
        info = {k: v for k, v in self.extractor_info.items() if k != "extractor"}
        return {
            "extractor": self.extractor_info["extractor"],
            **info,
            **self.real_protocol,
            "quantised": "uint8",
            "precision": "fp32 (TF32 off)",
        }

    def teardown(self, trainer: pl.Trainer, module: Any, stage: str) -> None:
        self.real = self.real_set = None  # the features stay in the cache file, not in memory after the run


class InceptionEvaluation(FeatureEvaluation):
    """fid_inception, kid_inception (mean, and its std over subsets), precision_inception, recall_inception."""

    name = "inception"

    @classmethod
    def headline(cls, config: Any) -> str:
        return "fid_inception"

    def __init__(
        self,
        inception_weights: Optional[str] = None,
        inception_sha256: Optional[str] = None,
        download: bool = True,
        pr_k: int = K,
        **base: Any,
    ) -> None:
        from gansweep.metrics.inception import load_inception, resolve_weights

        super().__init__(**base)
        weights = resolve_weights(inception_weights, download)  # pre-flight: fails before training
        self.loaded = shared_extractor(("inception", *file_key(weights)), lambda: load_inception(str(weights)))
        self.extractor, info = self.loaded.network, dict(self.loaded.info)
        expected = (inception_sha256 or "").lower() or None
        info["weights_standard"] = None if expected is None else info["weights_sha256"] == expected
        if info["weights_standard"] is False:
            info["extractor"] += " (non-standard weights)"
        self.extractor_info, self.pr_k = info, pr_k

    @classmethod
    def preflight(cls, settings: Any) -> None:
        """The weights file exists (or is downloaded now, once, on the machine that starts the sweep)."""
        from gansweep.metrics.inception import resolve_weights

        resolve_weights(settings.get("inception_weights"), bool(settings.get("download", True)))

    def score(self, real: Tensor, fake: Tensor, images: Tensor) -> Dict[str, float]:
        kid, kid_std = kernel_distance(real, fake)
        pr_real = real[: len(fake)]  # equal set sizes, as in Kynkaanniemi et al.
        pr = precision_recall(pr_real, fake, k=self.pr_k)
        return {
            "fid_inception": frechet_distance(real, fake),
            "kid_inception": kid,
            "kid_inception_std": kid_std,
            "precision_inception": pr["precision"],
            "recall_inception": pr["recall"],
        }

    def describe(self) -> Dict[str, Any]:
        n_real = self.real_protocol.get("real_samples", 0)
        return {
            **super().describe(),
            "kid_subsets": KID_SUBSETS,
            "kid_subset_size": kid_subset_size(n_real, self.num_samples),
            "pr_k": self.pr_k,
            "pr_real_samples": min(n_real, self.num_samples),
        }


class DigitsEvaluation(FeatureEvaluation):
    """Stacked digits (Bures GAN's Stacked MNIST protocol): modes of 1,000 and KL(generated || data) of the label
    histograms (each channel classified by the digit CNN), and fid_digits on the CNN's penultimate features."""

    name = "digits"

    @classmethod
    def headline(cls, config: Any) -> str:
        return "fid_digits"

    loaded: Extractor[StackedDigitsExtractor]
    extractor: StackedDigitsExtractor

    def __init__(self, classifier_seed: int = 0, **base: Any) -> None:
        from gansweep.metrics.digit_classifier import classifier_key, load_digits_extractor

        super().__init__(**base)
        self.loaded = shared_extractor(
            classifier_key(self.cache_dir, classifier_seed),
            lambda: load_digits_extractor(self.cache_dir, classifier_seed),
        )
        self.extractor, info = self.loaded.network, self.loaded.info
        self.extractor_info = {
            "extractor": "digits-cnn",
            "weights": info["path"],
            "weights_sha256": info["sha256"],
            "classifier_accuracy": info["accuracy"],
            "classifier_seed": info["seed"],
            "resize": "none (32x32, the classifier's input)",
        }
        self.data_labels: Optional[Tensor] = None

    def check_data(self, data: Any) -> None:
        if getattr(data, "name", None) != "stacked_digits":
            raise ValueError(
                f"metrics=digits scores stacked digits (modes of 1,000 need the three-digit labels); the dataset is "
                f"{getattr(data, 'name', type(data).__name__)}: use metrics=inception or metrics=none"
            )

    def prepare(self, data: Any, device: torch.device) -> None:
        super().prepare(data, device)
        self.data_labels = data.labels.cpu()

    def score(self, real: Tensor, fake: Tensor, images: Tensor) -> Dict[str, float]:
        from gansweep.metrics.digit_modes import digit_metrics

        assert self.data_labels is not None
        labels = torch.cat([self.extractor.labels(b) for b in images.split(self.batch_size)]).cpu()
        return {**digit_metrics(labels, self.data_labels), "fid_digits": frechet_distance(real, fake)}
