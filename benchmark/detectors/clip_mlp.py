"""The robust CLIP-feature detector for diffusion-generated images (Santosh, Lin, Amerini, Wang, Hu, 2024;
code Purdue-M2/Robust_DM_Generated_Image_Detection): a 3-layer MLP on frozen CLIP image embeddings, trained
with γ·CVaR + (1 − γ)·AUC loss under sharpness-aware minimisation."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from ..losses import cvar_loss, fake_logit, pairwise_auc_loss
from ..sam import SharpnessAwareMinimisation
from . import register
from .base import Detector
from .image_encoders import FrozenImageEncoder, encoder_source, image_encoder


def mlp_blocks(width: int, depth: int = 3, dropout: float = 0.335) -> nn.Sequential:
    """The paper's classifier body: ``depth`` × [Linear(w, w), BatchNorm1d, LeakyReLU(0.01), Dropout(0.335)]."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.01), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class FakeLogitHead(nn.Module):
    """Linear(w, 1) giving the fake logit z, returned as the two logits [0, z] of the detector contract."""

    def __init__(self, width: int):
        super().__init__()
        self.linear = nn.Linear(width, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = self.linear(features)
        return torch.cat([torch.zeros_like(z), z], dim=1)


class RobustLoss(nn.Module):
    """γ·CVaR_α(per-sample BCE) + (1 − γ)·AUC loss(η, p) (the paper's ``train.py``: α = 0.8, η = 0.6, p = 2).

    The per-sample BCE on the fake logit z is the cross-entropy of the two logits [0, z]."""

    def __init__(self, gamma: float, alpha: float, margin: float, power: float):
        super().__init__()
        self.gamma, self.alpha, self.margin, self.power = gamma, alpha, margin, power

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cvar = cvar_loss(F.cross_entropy(logits, labels, reduction="none"), self.alpha)
        auc = pairwise_auc_loss(fake_logit(logits), labels, self.margin, self.power)
        return self.gamma * cvar + (1 - self.gamma) * auc


class CLIPMLP(Detector):
    """Frozen image encoder → 3 × [Linear, BatchNorm1d, LeakyReLU, Dropout] → Linear(·, 1), Kaiming-uniform
    weights (the paper's ``DFAD_model_base.py``; its hidden width equals its input width).

    ``forward`` and ``features`` take images (B×3×H×W, encoded on the fly) or the encoder's embeddings
    (B×D, as the runner caches them: ``input_encoder``). The paper's input is the 768-d CLIP ViT-L/14 image
    embedding concatenated with the 768-d embedding of the generating prompt; no scenario here has prompts,
    so the input is the image embedding alone. ``features`` are the MLP's last hidden activations (what
    distillation strategies compare).
    """

    def __init__(self, encoder: FrozenImageEncoder, loss: RobustLoss, sam_rho: float):
        super().__init__()
        self.encoder, self.loss, self.sam_rho = encoder, loss, sam_rho
        width = encoder.output_dim
        self.body = mlp_blocks(width)
        self.classifier = FakeLogitHead(width)
        for module in [*self.body.modules(), *self.classifier.modules()]:
            if isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, mode="fan_in", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.encoder.encodings(x, "clip-mlp"))

    def input_encoder(self) -> FrozenImageEncoder:
        return self.encoder

    def criterion(self) -> nn.Module:
        return self.loss

    def training_plugins(self) -> list:
        return [SharpnessAwareMinimisation(self.sam_rho)]


@register("clip-mlp", small={"encoder": "tiny-random"}, weights=encoder_source)
def clip_mlp(*, encoder: str = "ViT-L-14-quickgelu", weights: str | None = None, gamma: float = 0.5,
             cvar_alpha: float = 0.8, auc_margin: float = 0.6, auc_power: float = 2.0, sam_rho: float = 0.05
             ) -> CLIPMLP:
    """Robust CLIP detector (Santosh et al., 2024): MLP on frozen CLIP image embeddings, γ·CVaR + (1−γ)·AUC
    loss, SAM; ``encoder`` = open_clip model and ``weights`` = its local file, or ``efficientnet_lite0`` or
    ``tiny-random``.

    The paper used OpenAI's ViT-L/14 (open_clip ``ViT-L-14-quickgelu``). Offline, where no CLIP weights
    exist, two encoders stand in: ``efficientnet_lite0`` is EfficientNet-Lite0 with real ImageNet-1k weights
    from the ``pretrained`` extra (1280-d pooled features at the scenario's resolution: pretrained, but *not*
    CLIP, and the run's label says ``encoder=efficientnet_lite0``); ``tiny-random`` is a randomly initialised
    2-layer ViT (``image_encoders.tiny_random_encoder``), the same in every run, whose embeddings carry no
    pretraining. γ = 0.5 is the paper code's default (its README also shows 0.1); the paper trains with AdamW
    (lr 1e-3, weight decay 0.01): ``--train optimizer=adamw lr=0.001 weight_decay=0.01``.
    """
    if not 0 <= float(gamma) <= 1:
        raise ConfigError(f"clip-mlp gamma (the CVaR weight) must be in [0, 1], got {gamma}")
    if not 0 < float(cvar_alpha) <= 1:
        raise ConfigError(f"clip-mlp cvar_alpha must be in (0, 1], got {cvar_alpha}")
    if float(auc_margin) <= 0 or float(auc_power) <= 1:
        raise ConfigError(f"clip-mlp needs auc_margin > 0 and auc_power > 1, got {auc_margin} and {auc_power}")
    if not float(sam_rho) > 0:
        raise ConfigError(f"clip-mlp sam_rho (SAM's neighbourhood radius) must be > 0, got {sam_rho}")
    loss = RobustLoss(float(gamma), float(cvar_alpha), float(auc_margin), float(auc_power))
    return CLIPMLP(image_encoder(str(encoder), weights), loss, float(sam_rho))
