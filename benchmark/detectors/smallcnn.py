"""A small CNN sized for CPU runs of the offline scenario."""

from __future__ import annotations

import torch
from torch import nn

from . import register
from .base import Detector


def conv_stack(widths: tuple[int, ...]) -> nn.Sequential:
    """3×3 conv-BN-ReLU blocks (the first at stride 1, the rest at stride 2), then global average pooling:
    images → B×widths[-1]. Also the CPU-sized encoder of the papers' detectors (``backbones.py``)."""
    blocks, channels = [], 3
    for index, width in enumerate(widths):
        blocks += [nn.Conv2d(channels, width, 3, stride=1 if index == 0 else 2, padding=1, bias=False),
                   nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        channels = width
    return nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())


class SmallCNN(Detector):
    """Four 3×3 conv-BN-ReLU blocks, the first at full resolution so that pixel-level generator
    fingerprints survive, then global average pooling and a linear classifier."""

    def __init__(self, widths: tuple[int, ...]):
        super().__init__()
        self.body = conv_stack(widths)
        self.classifier = nn.Linear(widths[-1], 2)
        self.feature_dim = widths[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(((x - 0.5) / 0.5).contiguous(memory_format=torch.channels_last))


@register("smallcnn")
def smallcnn(*, widths: list[int] = (16, 32, 64, 64)) -> SmallCNN:
    """Small 4-layer CNN (61 k parameters by default) for CPU runs."""
    if not widths or any(int(w) < 1 for w in widths):
        raise ValueError(f"smallcnn widths must be positive integers, got {widths}")
    return SmallCNN(tuple(int(w) for w in widths)).to(memory_format=torch.channels_last)
