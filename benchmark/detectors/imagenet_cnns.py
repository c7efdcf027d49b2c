"""ImageNet CNNs with a two-logit head, the baselines of the deepfake-detection papers: ResNet
(CNNDetection, Wang et al., CVPR 2020), Xception (FaceForensics++; FReTAL, Kim et al., CVPR-W 2021) and
EfficientNet-B0 (CoReD, Kim et al., ACM MM 2021). ImageNet weights come from a local file only."""

from __future__ import annotations

from . import register
from .backbones import BackboneDetector, build_backbone

SMALL = {"tiny": True}


def _detector(family: str, weights: str | None, tiny: bool) -> BackboneDetector:
    return BackboneDetector(build_backbone(family, weights=weights, tiny=bool(tiny)))


@register("resnet18", small=SMALL)
def resnet18(*, weights: str | None = None, tiny: bool = False) -> BackboneDetector:
    """ResNet-18 (He et al., CVPR 2016; torchvision).

    ``weights`` = local torchvision ImageNet weights (None: random init); ``tiny`` = timm's ``test_resnet``.
    """
    return _detector("resnet18", weights, tiny)


@register("resnet50", small=SMALL)
def resnet50(*, weights: str | None = None, tiny: bool = False) -> BackboneDetector:
    """ResNet-50 (He et al., CVPR 2016; torchvision), DIRE's detector.

    ``weights`` = local torchvision ImageNet weights (None: random init); ``tiny`` = timm's ``test_resnet``.
    """
    return _detector("resnet50", weights, tiny)


@register("xception", small=SMALL)
def xception(*, weights: str | None = None, tiny: bool = False) -> BackboneDetector:
    """Xception (Chollet, CVPR 2017; timm ``legacy_xception``), FReTAL's backbone.

    ``weights`` = local ``legacy_xception`` state dict (None: random init); ``tiny`` = its entry flow at 1/4
    width, from timm's Xception blocks.
    """
    return _detector("xception", weights, tiny)


@register("efficientnet_b0", small=SMALL)
def efficientnet_b0(*, weights: str | None = None, tiny: bool = False) -> BackboneDetector:
    """EfficientNet-B0 (Tan & Le, ICML 2019; torchvision), CoReD's second backbone.

    ``weights`` = local torchvision ImageNet weights (None: random init); ``tiny`` = timm's
    ``test_efficientnet``.
    """
    return _detector("efficientnet_b0", weights, tiny)
