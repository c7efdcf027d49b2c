"""Multi-channel cross-modal detector with the Cross Modal Focal Loss (Ibsen, Rathgeb, Marcel, Busch,
"Multi-Channel Cross Modal Detection of Synthetic Face Images", IWBF 2024, arXiv 2311.16773; official code
dasec/Multi-Channel-Cross-Modal-Detection-of-Synthetic-Face-Images).

Two encoders of the same kind (DenseNet-161 truncated after its second transition, ImageNet weights
loaded into both), one on the RGB image and one on its frequency image; each pooled feature passes a
sigmoid; an RGB head, a frequency head and a joint head on their concatenation each output one logit.
The joint head scores images. Loss: β·CMFL(rgb, frequency) + (1 − β)·BCE(joint), β = 0.5, α = 1, γ = 3.
The paper trains with Adam, lr 1e-4, weight decay 1e-5 (``--train lr=1e-4 --train weight_decay=1e-5``).

Labels: the paper's code uses 1 = real (bona fide); dfcl-bench uses 1 = fake. Every head here outputs the
*fake* logit z, and the loss converts to the paper's convention (real logit −z, real target 1 − y)
before applying its formulas, so they read as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..losses import fake_logit
from . import register
from .backbones import build_backbone
from .base import Detector
from .heads import SingleLogit, attach, auxiliary

PERCENTILES = (0.05, 0.95)


@torch.no_grad()
def frequency_image(images: torch.Tensor) -> torch.Tensor:
    """Per colour channel: log(|FFT2(x)| + 1e-3), mapped from its 5th–95th percentile range to [−1, 1],
    clipped, and shifted so that the zero frequency is at the centre (the paper's ``helpers/util.py``,
    which computes it on images scaled to [0, 1], as ours are)."""
    spectrum = torch.log(torch.fft.fft2(images.float()).abs() + 1e-3)
    flat = spectrum.flatten(2)
    low, high = torch.quantile(flat, torch.tensor(PERCENTILES, device=flat.device), dim=2, keepdim=True)
    scaled = (flat - low) / (high - low).clamp_min(1e-6)  # a flat image has one spectral value
    normalised = ((scaled - 0.5) * 2).clamp(-1, 1).view_as(spectrum)
    return torch.fft.fftshift(normalised, dim=(-2, -1))


def to_paper_convention(fake_logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(real logit, real target) = (−z, 1 − y): the paper's code models P(real) with 1 = real."""
    return -fake_logits, 1.0 - labels.float()


def cross_modal_weights(p_a: torch.Tensor, p_b: torch.Tensor, multiplier: float = 2.0, eps: float = 1e-9
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """w_a = (p_b + ε)·m·p_a·p_b / (p_a + p_b + ε), and w_b symmetrically, where p is each branch's
    probability of the true class: a branch's focal term is relaxed when the *other* branch is confident."""
    harmonic = multiplier * p_a * p_b / (p_a + p_b + eps)
    return (p_b + eps) * harmonic, (p_a + eps) * harmonic


def cross_modal_focal_loss(real_logit_a: torch.Tensor, real_logit_b: torch.Tensor, real_target: torch.Tensor,
                           alpha: float = 1.0, gamma: float = 3.0) -> torch.Tensor:
    """CMFL (George & Marcel, 2021, as in the paper's ``loss/cmfl_loss.py``):
    ½·mean(α(1 − w_a)^γ·BCE_a) + ½·mean(α(1 − w_b)^γ·BCE_b), with p = exp(−BCE)."""
    bce_a = F.binary_cross_entropy_with_logits(real_logit_a, real_target, reduction="none")
    bce_b = F.binary_cross_entropy_with_logits(real_logit_b, real_target, reduction="none")
    w_a, w_b = cross_modal_weights(torch.exp(-bce_a), torch.exp(-bce_b))
    return 0.5 * (alpha * (1 - w_a) ** gamma * bce_a).mean() + 0.5 * (alpha * (1 - w_b) ** gamma * bce_b).mean()


class CMFLLoss(nn.Module):
    """β·CMFL(RGB head, frequency head) + (1 − β)·BCE(joint head), from the heads of one forward pass."""

    def __init__(self, beta: float, alpha: float, gamma: float):
        super().__init__()
        self.beta, self.alpha, self.gamma = beta, alpha, gamma

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        heads = auxiliary(logits, "cmfl")
        joint, target = to_paper_convention(fake_logit(logits), labels)
        rgb, _ = to_paper_convention(heads["rgb"], labels)
        frequency, _ = to_paper_convention(heads["frequency"], labels)
        cmfl = cross_modal_focal_loss(rgb, frequency, target, self.alpha, self.gamma)
        return self.beta * cmfl + (1 - self.beta) * F.binary_cross_entropy_with_logits(joint, target)


class CMFLDetector(Detector):
    """RGB and frequency encoders, three single-logit heads; ``features`` = both sigmoid-pooled features."""

    loss_reads_forward_outputs = True  # the CMFL term needs the RGB and frequency heads of the same pass

    def __init__(self, encoder: str, weights: str | None, beta: float, alpha: float, gamma: float):
        super().__init__()
        self.rgb_encoder = build_backbone(encoder, weights=weights)
        self.frequency_encoder = build_backbone(encoder, weights=weights)
        self.width = self.rgb_encoder.dim
        self.rgb_head = nn.Linear(self.width, 1)
        self.frequency_head = nn.Linear(self.width, 1)
        self.classifier = SingleLogit(nn.Linear(2 * self.width, 1))
        self.feature_dim = 2 * self.width
        self.loss_params = (beta, alpha, gamma)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        rgb = torch.sigmoid(self.rgb_encoder(x))
        frequency = torch.sigmoid(self.frequency_encoder.embed(frequency_image(x)))  # already in [−1, 1]
        return torch.cat([rgb, frequency], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        rgb, frequency = features.split(self.width, dim=1)
        return attach(self.classifier(features), features=features, rgb=self.rgb_head(rgb).squeeze(1),
                      frequency=self.frequency_head(frequency).squeeze(1))

    def criterion(self) -> nn.Module:
        return CMFLLoss(*self.loss_params)


@register("cmfl", small={"encoder": "small"})
def cmfl(*, encoder: str = "densenet161_block2", weights: str | None = None, beta: float = 0.5,
         alpha: float = 1.0, gamma: float = 3.0) -> CMFLDetector:
    """Multi-channel RGB + frequency detector trained with the Cross Modal Focal Loss (Ibsen et al., IWBF
    2024).

    ``encoder`` = the paper's truncated DenseNet-161 (``densenet161_block2``), ``small`` (smallcnn's
    stack, for CPU) or any other backbone; ``weights`` = local ImageNet weights for both encoders;
    loss weight ``beta`` and CMFL ``alpha``, ``gamma`` as in the paper.
    """
    if not 0 <= float(beta) <= 1 or float(alpha) <= 0 or float(gamma) < 0:
        raise ConfigError(f"cmfl: beta must lie in [0, 1], alpha be > 0 and gamma ≥ 0, got beta={beta}, "
                          f"alpha={alpha}, gamma={gamma}")
    return CMFLDetector(str(encoder), weights, float(beta), float(alpha), float(gamma))
