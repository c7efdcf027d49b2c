"""torchvision ResNets with a two-logit head; ImageNet weights come from a local file only."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from . import register
from .base import Detector
from .weights import load_local_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ResNetDetector(Detector):
    """A torchvision ResNet trunk (He et al., CVPR 2016) with its classifier replaced by two logits,
    the standard deepfake-detection baseline of CNNDetection (Wang et al., CVPR 2020)."""

    def __init__(self, arch: str, weights: str | None):
        super().__init__()
        trunk = getattr(torchvision.models, arch)(weights=None)
        if weights is not None:
            load_local_weights(trunk, weights, skip_prefixes=("fc.",))
        self.feature_dim = trunk.fc.in_features
        trunk.fc = nn.Identity()
        self.trunk = trunk
        self.classifier = nn.Linear(self.feature_dim, 2)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk((x - self.mean) / self.std)


@register("resnet18")
def resnet18(*, weights: str | None = None) -> ResNetDetector:
    """ResNet-18; ``weights`` = local path to torchvision ImageNet weights (None: random init)."""
    return ResNetDetector("resnet18", weights)


@register("resnet50")
def resnet50(*, weights: str | None = None) -> ResNetDetector:
    """ResNet-50; ``weights`` = local path to torchvision ImageNet weights (None: random init)."""
    return ResNetDetector("resnet50", weights)
