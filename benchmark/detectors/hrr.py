"""Hierarchical Retrospection Refinement, HRR (Yuan, Xie, Ye, Chen, Wang, arXiv 2502.17862, 2025) — a
RECONSTRUCTION: the paper has no public code, and only its structure is documented (abstract, summaries).

What the paper documents: a diffusion-model-based detector; Multi-scale Style Retrospection (MSR) gives
scale-aware representations with a KL-divergence regulariser; Additive Feature Refinement (AFR), built on
the correntropy-based sparse additive machine, suppresses redundant features.

What is assumed here (our choices, not the paper's):

* Retrospection = DIRE-style reconstruction residuals (Wang et al., ICCV 2023): at each scale s (average
  pooling by s, default 1, 2, 4) the image x_s is reconstructed by a generative model R and the residual
  |x_s − R(x_s)| goes through one shared encoder (ResNet-50 as in DIRE, or ``small`` on CPU), giving z_s.
* R is a small denoising autoencoder (a stride-2 bottleneck, 16 channels) standing in for the diffusion
  model. It is trained inside the detector, on the *real* images of each batch only (as a diffusion model
  is trained on real images), with Gaussian noise σ = 0.1 and an MSE loss; its reconstructions enter the
  residual without gradient, so it stays a model of real images, not a second classifier. With
  ``reconstructor="module:function"`` a real diffusion model's reconstructions are used instead (e.g. DDIM
  inversion + reconstruction as in DIRE): the function gets images in [0, 1] (B×3×h×w, on the model's
  device) and returns their reconstructions, same shape; then no autoencoder is built or trained.
* MSR regulariser: KL(softmax(z_s) ‖ softmax(z_1)) averaged over the coarser scales (z read as a
  distribution over channels).
* AFR: an additive head f(z) = b + Σ_j f_j(z_j) over the concatenated z, each f_j a linear term plus 8
  fixed random-Fourier features cos(ω z_j + φ) (ω ~ N(0, 1)); loss = mean Welsch correntropy loss
  σ²(1 − exp(−r²/σ²)) with r = ỹ − f(z), ỹ = ±1 (fake = +1), plus the group lasso λ·Σ_j ‖w_j‖₂ over each
  feature's coefficients. σ, λ and the KL weight are unknown: they are parameters, and their defaults
  (σ = 1, λ = 1e-3, KL weight 0.1) are ours, not tuned.
* The image score is sigmoid(f(z)) (logits (0, f)).
"""

from __future__ import annotations

import functools
import importlib
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import fake_logit
from . import register
from .backbones import build_backbone
from .base import Detector
from .heads import attach, auxiliary, two_logits

DENOISING_NOISE = 0.1
FOURIER_FEATURES = 8


def welsch_loss(residual: torch.Tensor, sigma: float) -> torch.Tensor:
    """The correntropy-induced (Welsch) loss σ²(1 − exp(−r²/σ²)): ≈ r² for small r, bounded by σ², so
    outliers (mislabelled or atypical images) cannot dominate."""
    return -sigma ** 2 * torch.expm1(-residual.pow(2) / sigma ** 2)  # expm1: exact for small r


def scale_consistency(per_scale: list[torch.Tensor]) -> torch.Tensor:
    """Mean over coarser scales s of KL(softmax(z_s) ‖ softmax(z_1)), batch-averaged; 0 when all agree."""
    if len(per_scale) < 2:
        return per_scale[0].sum() * 0.0
    finest = F.log_softmax(per_scale[0], dim=1)
    return torch.stack([F.kl_div(finest, F.log_softmax(z, dim=1), log_target=True, reduction="batchmean")
                        for z in per_scale[1:]]).mean()


class AdditiveHead(nn.Module):
    """f(z) = b + Σ_j w_j · [z_j, cos(ω_j z_j + φ_j)]: one coefficient group per input feature, so the
    group lasso can switch whole features off (sparse additive machine)."""

    def __init__(self, inputs: int, fourier_features: int = FOURIER_FEATURES):
        super().__init__()
        self.register_buffer("frequencies", torch.randn(inputs, fourier_features))
        self.register_buffer("phases", 2 * math.pi * torch.rand(inputs, fourier_features))
        bound = 1 / math.sqrt(inputs * (fourier_features + 1))
        self.weight = nn.Parameter(torch.empty(inputs, fourier_features + 1).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(1))

    def fake_logit(self, z: torch.Tensor) -> torch.Tensor:
        basis = torch.cat([z[..., None], torch.cos(z[..., None] * self.frequencies + self.phases)], dim=-1)
        return (basis * self.weight).sum(dim=(1, 2)) + self.bias

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return two_logits(self.fake_logit(z))

    def group_norms(self) -> torch.Tensor:
        return torch.linalg.vector_norm(self.weight, dim=1)


class DenoisingAutoencoder(nn.Module):
    """The stand-in for the pretrained diffusion model: encode at half resolution, decode back. The decoder
    upsamples bilinearly, not by transposed convolution, whose checkerboard (Odena et al., Distill 2016)
    would put a GAN fingerprint into every residual."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.encode = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(inplace=True),
                                    nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(inplace=True))
        self.decode = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(width, 3, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.decode(self.encode(x))
        return out if out.shape == x.shape else F.interpolate(out, size=x.shape[-2:], mode="bilinear")


@functools.cache
def load_reconstructor(spec: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The user's reconstruction function from ``"module:function"`` (imported once per process, never
    stored on the model, so copies of the detector do not copy a diffusion model)."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ConfigError(f"reconstructor: expected 'module:function', got {spec!r}")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"reconstructor: cannot load {spec!r} ({error}); put the module on PYTHONPATH") from None
    if not callable(function):
        raise ConfigError(f"reconstructor: {spec!r} is not callable")
    return function


class HRRDetector(Detector):
    """Multi-scale reconstruction residuals → shared encoder → additive head (see the module docstring)."""

    loss_reads_forward_outputs = True  # the KL across scales and the group lasso read the same pass

    def __init__(self, encoder: str, weights: str | None, scales: tuple[int, ...], reconstructor: str | None,
                 sigma: float, group_lasso: float, kl_weight: float):
        super().__init__()
        self.encoder = build_backbone(encoder, weights=weights)
        self.scales, self.reconstructor = scales, reconstructor
        self.autoencoder = DenoisingAutoencoder() if reconstructor is None else None
        if reconstructor is not None:
            load_reconstructor(reconstructor)  # a bad spec fails now, not in the first batch
        self.feature_dim = self.encoder.dim * len(scales)
        self.classifier = AdditiveHead(self.feature_dim)
        self.loss_params = (sigma, group_lasso, kl_weight)

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x if s == 1 else F.avg_pool2d(x, s) for s in self.scales]

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        if self.autoencoder is not None:
            return self.autoencoder(x)
        result = load_reconstructor(self.reconstructor)(x)
        if not isinstance(result, torch.Tensor) or result.shape != x.shape:
            raise ConfigError(f"reconstructor {self.reconstructor!r} must return a tensor shaped like its input "
                              f"{tuple(x.shape)}, got {getattr(result, 'shape', type(result).__name__)}")
        return result.to(x)  # the device and dtype of the images

    def per_scale_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.encoder((image - self.reconstruct(image)).abs()) for image in self.pyramid(x)]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.per_scale_features(x), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_scale = self.per_scale_features(x)
        features = torch.cat(per_scale, dim=1)
        logits = self.classifier(features)
        denoising = None
        if self.training and self.autoencoder is not None:
            denoising = [(self.autoencoder(image + DENOISING_NOISE * torch.randn_like(image)), image)
                         for image in self.pyramid(x)]
        return attach(logits, features=features, per_scale=per_scale, group_norms=self.classifier.group_norms(), denoising=denoising)

    def criterion(self) -> nn.Module:
        return HRRLoss(*self.loss_params)


class HRRLoss(nn.Module):
    """Welsch correntropy loss on f(z) + λ·group lasso + KL scale consistency (+ the stand-in
    autoencoder's denoising loss on the real images of the batch)."""

    def __init__(self, sigma: float, group_lasso: float, kl_weight: float):
        super().__init__()
        self.sigma, self.group_lasso, self.kl_weight = sigma, group_lasso, kl_weight

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        outputs = auxiliary(logits, "hrr")
        signed = 2.0 * labels.float() - 1.0  # fake = +1, real = −1
        loss = welsch_loss(signed - fake_logit(logits), self.sigma).mean()
        loss = loss + self.group_lasso * outputs["group_norms"].sum()
        loss = loss + self.kl_weight * scale_consistency(outputs["per_scale"])
        real = labels == 0
        if outputs["denoising"] is not None and real.any():
            loss = loss + torch.stack([F.mse_loss(denoised[real], clean[real])
                                       for denoised, clean in outputs["denoising"]]).mean()
        return loss


@register("hrr", small={"encoder": "small"})
def hrr(*, encoder: str = "resnet50", weights: str | None = None, scales: list[int] = (1, 2, 4),
        reconstructor: str | None = None, sigma: float = 1.0, group_lasso: float = 1e-3,
        kl_weight: float = 0.1) -> HRRDetector:
    """Hierarchical Retrospection Refinement (Yuan et al., arXiv 2502.17862), a reconstruction (no public code).

    Multi-scale reconstruction residuals with a KL consistency regulariser, and an additive head trained with
    a correntropy loss and group sparsity (assumptions in ``benchmark/detectors/hrr.py``).

    ``encoder`` = the residual encoder (``resnet50`` as DIRE, ``small`` for CPU, or any backbone) with
    local ImageNet ``weights``; ``scales`` = pooling factors; ``reconstructor`` = ``"module:function"``
    giving a real diffusion model's reconstructions (default: a denoising autoencoder stand-in);
    ``sigma`` = correntropy width, ``group_lasso`` = λ, ``kl_weight`` = weight of the scale KL.
    """
    try:
        scales = tuple(int(s) for s in scales)
    except (TypeError, ValueError):
        raise ConfigError(f"hrr: scales must be a list of positive integers, got {scales!r}") from None
    if not scales or min(scales) < 1 or len(set(scales)) != len(scales):
        raise ConfigError(f"hrr: scales must be distinct positive integers (e.g. [1, 2, 4]), got {list(scales)}")
    if float(sigma) <= 0 or float(group_lasso) < 0 or float(kl_weight) < 0:
        raise ConfigError(f"hrr: sigma must be > 0 and group_lasso, kl_weight ≥ 0, got sigma={sigma}, "
                          f"group_lasso={group_lasso}, kl_weight={kl_weight}")
    return HRRDetector(str(encoder), weights, scales, reconstructor, float(sigma), float(group_lasso),
                       float(kl_weight))
