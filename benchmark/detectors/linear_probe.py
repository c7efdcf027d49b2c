"""A linear probe on a frozen pretrained encoder: the recipe of UnivFD (Ojha, Li & Lee, "Towards Universal
Fake Image Detectors that Generalize Across Generative Models", CVPR 2023; code
WisconsinAIVision/UniversalFakeDetect), which found that a real/fake decision learned as one linear layer
over a frozen representation not trained for the task generalises across generators better than a fine-tuned
network.

UnivFD's encoder is CLIP ViT-L/14. Offline no CLIP weights exist, so the default encoder here is
EfficientNet-Lite0 with its packaged ImageNet-1k weights: the same recipe on a much smaller, supervised
ImageNet representation, *not* UnivFD's numbers. With a local CLIP file (``encoder=ViT-L-14-quickgelu
weights=PATH``) it is UnivFD's model.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register
from .base import Detector
from .heads import SingleLogit
from .image_encoders import EFFICIENTNET_LITE0, FrozenImageEncoder, encoder_source, image_encoder

#: UnivFD's initialisation of its linear layer (``networks/trainer.py``: normal, std = init_gain 0.02).
INIT_STD = 0.02


class LinearProbe(Detector):
    """Frozen encoder → Linear(D, 1), the fake logit z, returned as the two logits [0, z]: cross-entropy on
    them is UnivFD's binary cross-entropy. ``forward`` and ``features`` take images or the encoder's cached
    embeddings (``input_encoder``); ``features`` are those embeddings, so a distillation strategy's feature
    term is constant here: only the head learns."""

    def __init__(self, encoder: FrozenImageEncoder):
        super().__init__()
        self.encoder = encoder
        self.feature_dim = encoder.output_dim
        linear = nn.Linear(encoder.output_dim, 1)
        nn.init.normal_(linear.weight, 0.0, INIT_STD)
        self.classifier = SingleLogit(linear)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.encodings(x, "linear-probe")

    def input_encoder(self) -> FrozenImageEncoder:
        return self.encoder


@register("linear-probe", small={"encoder": "tiny-random"}, weights=encoder_source)
def linear_probe(*, encoder: str = EFFICIENTNET_LITE0, weights: str | None = None) -> LinearProbe:
    """Linear probe on frozen pretrained features, UnivFD's recipe (Ojha et al., CVPR 2023), by default on
    EfficientNet-Lite0's ImageNet-1k features, not the paper's CLIP ViT-L/14.

    ``encoder`` = ``efficientnet_lite0`` (1280-d pooled features at the scenario's resolution, packaged
    weights), an open_clip model with ``weights`` = its local file (``ViT-L-14-quickgelu``: UnivFD's own
    encoder), or ``tiny-random`` (registry-wide tests; ``tests/test_pretrained.py`` runs the real encoder).
    UnivFD trains with AdamW, lr 1e-4, batch 256, no weight decay:
    ``--train optimizer=adamw lr=0.0001 batch_size=256``.
    """
    return LinearProbe(image_encoder(str(encoder), weights))
