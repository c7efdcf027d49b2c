"""The detector contract shared by every strategy and the evaluator."""

from __future__ import annotations

import torch
from torch import nn

from .heads import attach


class Detector(nn.Module):
    """Images (B×3×H×W, floats in [0, 1]) → logits B×2 over (real, fake); label 1 = fake everywhere.

    Two logits rather than one keep Avalanche's plugins (LwF, DER, A-GEM) and softmax distillation
    working; a detector with a single fake logit ``z`` returns ``[0, z]``, whose softmax is
    ``sigmoid(z)``. Subclasses set ``classifier`` and implement ``features`` (the representation that
    distillation strategies such as FReTAL compare), and may override ``criterion`` when the
    detector's paper trains it with its own loss, ``training_plugins`` when it also trains with its own
    optimisation procedure (SAM), and ``input_encoder`` when its first stage is a frozen encoder.
    ``forward`` attaches the features it computed to the logits it returns (``heads.attach``), so
    strategies read the representation of the very pass they train on; a subclass overriding ``forward``
    attaches them too.
    """

    classifier: nn.Module
    #: True when ``criterion()`` reads other outputs attached by ``forward`` (CMFL's extra heads, HRR's
    #: scales): a strategy that trains logits other than ``model(x)`` with the detector's loss must refuse it.
    loss_reads_forward_outputs: bool = False

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Representations B×D taken just before the classifier."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        return attach(self.classifier(features), features=features)

    def criterion(self) -> nn.Module:
        """The training loss on (logits, labels); cross-entropy unless the detector's paper says otherwise."""
        return nn.CrossEntropyLoss()

    def training_plugins(self) -> list:
        """Avalanche plugins the detector's paper trains with (e.g. sharpness-aware minimisation); every
        strategy adds them after its own plugins (``TrainSetup.template_kwargs``)."""
        return []

    def input_encoder(self) -> nn.Module | None:
        """A frozen module mapping images to inputs that ``forward`` and ``features`` also accept, or None.

        Frozen means its output for an image never changes, so the runner computes it once per image
        before training (``benchmark.feature_cache``) and the strategy and evaluator only see the cached
        encodings. It must not depend on the run's seed: it stands for pretrained weights.
        """
        return None


def fake_probability(logits: torch.Tensor) -> torch.Tensor:
    """The score every metric is computed from: P(fake) under the detector's two logits."""
    return logits.float().softmax(dim=1)[:, 1]
