"""Feature extractors shared by the detectors: images in [0, 1] → B×D pooled features.

Each family is the library's network (torchvision, or timm where torchvision lacks it) with its ImageNet
classifier removed; pretrained weights come from a local file only (``weights.load_local_weights``: a
missing file is an error, nothing is downloaded). ``tiny=True`` gives a network of the same family small
enough for registry-wide tests (its own random weights; a pretrained file never fits it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torchvision
from torch import nn

from ..errors import ConfigError
from .base import Detector
from .smallcnn import conv_stack
from .weights import load_local_weights, existing_weights_file

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
SMALL_WIDTHS = (16, 32, 64, 64)  # smallcnn's stack: fast enough for 3-seed CPU runs on `synthetic`


class Backbone(nn.Module):
    """``body`` on images normalised as its pretraining expects; ``dim`` = the feature size."""

    def __init__(self, body: nn.Module, dim: int, normalisation: tuple[tuple[float, ...], tuple[float, ...]]):
        super().__init__()
        self.body, self.dim = body.to(memory_format=torch.channels_last), dim
        mean, std = normalisation
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed((x - self.mean) / self.std)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Features of an input that is already normalised (e.g. CMFL's frequency image in [−1, 1])."""
        return self.body(x.contiguous(memory_format=torch.channels_last))


Built = tuple[nn.Module, int]  # a network mapping normalised images to B×D features, and D


@dataclass(frozen=True)
class Family:
    """One backbone: the full network (optionally with weights from a file), its tiny test variant, and the
    normalisation its pretraining used."""

    build: Callable[[str | None], Built]
    tiny: Callable[[], Built]
    normalisation: tuple[tuple[float, ...], tuple[float, ...]]
    pretrainable: bool = True


def imagenet(make: Callable[[], nn.Module], head: str, cut: Callable[[nn.Module], Built] | None = None
             ) -> Callable[[str | None], Built]:
    """Build with ``make``, load local weights (all but the classifier ``head``), then drop the classifier,
    or keep only the part ``cut`` returns."""
    def build(weights: str | None) -> Built:
        model = make()
        if weights is not None:
            load_local_weights(model, weights, skip_prefixes=(f"{head}.",))
        if cut is not None:
            return cut(model)
        dim = [m for m in getattr(model, head).modules() if isinstance(m, nn.Linear)][-1].in_features
        setattr(model, head, nn.Identity())
        return model, dim
    return build


def timm_model(name: str, **kwargs) -> nn.Module:
    import timm  # imported on use: it adds about a second to every command line's start

    return timm.create_model(name, pretrained=False, **kwargs)


def timm_test_model(name: str) -> Callable[[], Built]:
    """timm's own test-sized network of a family (``test_resnet``, ``test_efficientnet``)."""
    def build() -> Built:
        model = timm_model(name, num_classes=0)
        return model, model.num_features
    return build


def densenet_to_block2(model: nn.Module) -> Built:
    """CMFL's encoder (Ibsen et al., IWBF 2024): DenseNet ``features[0:8]``, through the second transition
    layer (384 channels for DenseNet-161), then global average pooling."""
    trunk = model.features[:8]
    return nn.Sequential(trunk, nn.AdaptiveAvgPool2d(1), nn.Flatten()), trunk[-1].conv.out_channels


def tiny_xception() -> Built:
    """The entry flow of Chollet's Xception at a fraction of its width, from timm's own blocks."""
    from timm.models.xception import Block as XceptionBlock

    stem = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)]
    blocks = [XceptionBlock(16, 32, 2, 2, start_with_relu=False), XceptionBlock(32, 64, 2, 2)]
    return nn.Sequential(*stem, *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten()), 64


def tiny_densenet() -> Built:
    return densenet_to_block2(torchvision.models.DenseNet(growth_rate=8, block_config=(1, 1, 1, 1),
                                                          num_init_features=16))


def small() -> Built:
    return conv_stack(SMALL_WIDTHS), SMALL_WIDTHS[-1]


FAMILIES: dict[str, Family] = {
    # FReTAL's backbone (Kim et al., CVPR-W 2021): Chollet's original Xception, timm's `legacy_xception`.
    "xception": Family(imagenet(lambda: timm_model("legacy_xception"), "fc"),
                       tiny_xception, HALF),
    "efficientnet_b0": Family(imagenet(torchvision.models.efficientnet_b0, "classifier"),
                              timm_test_model("test_efficientnet"), IMAGENET),
    "resnet18": Family(imagenet(torchvision.models.resnet18, "fc"), timm_test_model("test_resnet"), IMAGENET),
    "resnet50": Family(imagenet(torchvision.models.resnet50, "fc"), timm_test_model("test_resnet"), IMAGENET),
    "densenet161_block2": Family(imagenet(torchvision.models.densenet161, "classifier", densenet_to_block2),
                                 tiny_densenet, IMAGENET),
    "small": Family(lambda weights: small(), small, HALF, pretrainable=False),
}


def build_backbone(name: str, *, weights: str | None = None, tiny: bool = False, field: str = "encoder"
                   ) -> Backbone:
    """The backbone ``name`` (a key of ``FAMILIES``) with ImageNet weights from the local file ``weights``
    (None: random initialisation); ``field`` is the parameter that chose it, for error messages."""
    if name not in FAMILIES:
        raise ConfigError(f"{field}: unknown backbone {name!r}; choose one of {', '.join(FAMILIES)}")
    family = FAMILIES[name]
    if weights is not None and (tiny or not family.pretrainable):
        what = "the tiny test variant" if tiny else f"backbone {name!r}"
        raise ConfigError(f"weights: {what} has no pretrained weights; pass weights=null")
    if weights is not None:
        existing_weights_file(weights)
    body, dim = family.tiny() if tiny else family.build(weights)
    return Backbone(body, dim, family.normalisation)


class BackboneDetector(Detector):
    """A backbone with a two-logit linear classifier: the standard deepfake-detection baseline
    (CNNDetection, Wang et al., CVPR 2020; FReTAL's and CoReD's Xception / EfficientNet-B0)."""

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Linear(backbone.dim, 2)
        self.feature_dim = backbone.dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)
