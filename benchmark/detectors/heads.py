"""What detectors with their own multi-output loss share: single-logit heads, and auxiliary outputs carried
by the logits tensor itself so that the loss reads the ones of *that* forward pass.

Every strategy calls ``criterion(logits, labels)`` with the model's output; a loss such as CMFL also
needs the other heads of the same pass. Attaching them to the output tensor (rather than keeping "the last
forward" on the module) stays right when a strategy runs a frozen teacher copy, a second network, or an
evaluation between the forward and the loss, and deep copies of the model carry no stale tensors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import DfclError

_AUXILIARY = "dfcl_auxiliary"


def two_logits(fake_logit: torch.Tensor) -> torch.Tensor:
    """A single fake logit z (B or B×1) as the contract's two logits (0, z): softmax gives sigmoid(z)."""
    z = fake_logit.reshape(-1, 1)
    return torch.cat([torch.zeros_like(z), z], dim=1)


class SingleLogit(nn.Module):
    """Wraps a head that outputs one fake logit per image so that it outputs the contract's two logits."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return two_logits(self.head(features))


def attach(logits: torch.Tensor, **outputs: Any) -> torch.Tensor:
    """Return ``logits`` carrying the forward pass's other outputs, for the detector's loss."""
    setattr(logits, _AUXILIARY, outputs)
    return logits


def forward_features(logits: torch.Tensor, detector: str) -> torch.Tensor:
    """The features B×D computed by the forward pass that produced ``logits`` (every detector attaches
    them), so a strategy that distils representations needs no second pass through the network."""
    features = auxiliary(logits, detector).get("features")
    if features is None:
        raise DfclError(f"the {detector} detector's forward() does not attach its features to its logits; "
                        f"return attach(logits, features=...) from forward() (see benchmark/detectors/base.py)")
    return features


def auxiliary(logits: torch.Tensor, detector: str) -> dict[str, Any]:
    """The outputs attached by ``attach``; an error when the loss was handed other logits."""
    outputs = getattr(logits, _AUXILIARY, None)
    if outputs is None:
        raise DfclError(
            f"the {detector} detector's loss was given logits that are not the direct output of its forward "
            f"pass (sliced, concatenated or computed elsewhere), so its auxiliary heads are unknown. A strategy "
            f"must call the detector's criterion() on model(x) itself; use another strategy or detector.")
    return outputs
