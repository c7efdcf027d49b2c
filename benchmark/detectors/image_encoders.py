"""Frozen image encoders for detectors that classify pretrained embeddings (``clip-mlp``): CLIP's image
tower read from a local weights file with open_clip, or a tiny randomly initialised tower for tests and
offline smoke runs. Nothing here downloads anything."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ..errors import ConfigError
from .weights import existing_weights_file

#: CLIP's image normalisation (Radford et al., ICML 2021), used whenever a tower does not state its own.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TINY_RANDOM = "tiny-random"


class FrozenImageEncoder(nn.Module):
    """CLIP's preprocessing (bicubic resize of the shorter side, centre crop, normalisation) then an image
    tower, frozen: no parameter trains and ``train()`` leaves it in eval mode, so its output for an image
    never changes and can be cached (``benchmark.feature_cache``)."""

    def __init__(self, tower: nn.Module, image_size: int, output_dim: int,
                 mean: tuple[float, ...] = CLIP_MEAN, std: tuple[float, ...] = CLIP_STD):
        super().__init__()
        self.tower = tower.requires_grad_(False).eval()
        self.image_size, self.output_dim = image_size, output_dim
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "FrozenImageEncoder":
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.image_size, self.image_size):
            images = TF.resize(images, self.image_size, interpolation=InterpolationMode.BICUBIC, antialias=True)
            images = TF.center_crop(images, self.image_size).clamp(0, 1)
        return self.tower((images - self.mean) / self.std).float()


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


def open_clip_encoder(model_name: str, weights: str | Path) -> FrozenImageEncoder:
    """The image tower of open_clip's ``model_name`` with weights from a local file (an open_clip or
    safetensors state dict, e.g. ``open_clip_pytorch_model.bin``). open_clip builds the model without any
    pretrained tag, so it never downloads; the file is checked before open_clip is even imported."""
    path = existing_weights_file(weights, f"use --detector-param encoder={TINY_RANDOM} for a tiny random encoder")
    try:
        import open_clip
    except ImportError:
        raise ConfigError(f"encoder {model_name!r} is read with open_clip, which is not installed: install the "
                          f"'clip' extra (pip install -e '.[clip]')") from None
    if model_name not in open_clip.list_models():
        raise ConfigError(f"unknown open_clip model {model_name!r} (--detector-param encoder=…); known: e.g. "
                          f"ViT-L-14-quickgelu (OpenAI's ViT-L/14), ViT-L-14, ViT-B-32; or {TINY_RANDOM}")
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
    if name == TINY_RANDOM:
        if weights is not None:
            raise ConfigError(f"encoder={TINY_RANDOM} is randomly initialised and takes no weights file; "
                              f"drop --detector-param weights=… or name the CLIP model the file is for")
        return tiny_random_encoder()
    if weights is None:
        raise ConfigError(f"encoder {name!r} needs its pretrained weights from a local file: --detector-param "
                          f"weights=/path/to/file (nothing is downloaded), or encoder={TINY_RANDOM}")
    return open_clip_encoder(name, weights)
