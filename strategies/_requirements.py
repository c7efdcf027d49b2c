"""What a strategy may ask of a detector beyond logits, refused by name when it is missing."""

from __future__ import annotations

from torch import nn

from benchmark.detectors.base import Detector
from benchmark.errors import ConfigError


def overrides(model: nn.Module, method: str) -> bool:
    """Whether the detector's class implements ``method`` itself rather than inheriting ``Detector``'s."""
    implementation = getattr(type(model), method, None)
    return callable(implementation) and implementation is not getattr(Detector, method)


def require_features(model: nn.Module, strategy: str) -> None:
    """Strategies that work on representations (FReTAL's prototypes, X-Transfer's crossed routes) split the
    detector into ``features(x)`` (B×D) and a ``classifier`` module mapping them to the two logits."""
    missing = [part for part, present in (
        ("features(x)", overrides(model, "features")),
        ("a classifier module", isinstance(getattr(model, "classifier", None), nn.Module))) if not present]
    if missing:
        raise ConfigError(f"strategy {strategy!r} needs a detector that exposes features(x) and a classifier; "
                          f"detector {type(model).__name__} lacks {' and '.join(missing)}. Implement them "
                          f"(see benchmark/detectors/base.py) or choose another strategy or detector.")


def require_loss_on_any_logits(model: nn.Module, strategy: str) -> None:
    """Strategies that train logits other than ``model(x)`` (X-Transfer's crossed routes) with the detector's
    loss cannot serve a detector whose loss reads other outputs of its own forward pass."""
    if getattr(model, "loss_reads_forward_outputs", False):
        raise ConfigError(f"strategy {strategy!r} trains logits built outside the detector's forward pass, but "
                          f"detector {type(model).__name__}'s loss also needs its other outputs of that pass "
                          f"(extra heads or scales). Choose another strategy or detector.")


def require_cross_entropy_loss(model: nn.Module, strategy: str) -> None:
    """Strategies whose loss is written out as plain cross-entropy (Avalanche's DER) would silently replace
    a detector's own training loss (CMFL's focal loss, HRR's multi-scale loss, the CLIP detector's CVaR+AUC),
    so they refuse detectors that override ``criterion()``."""
    if overrides(model, "criterion"):
        raise ConfigError(f"strategy {strategy!r} trains with plain cross-entropy, which would replace detector "
                          f"{type(model).__name__}'s own loss (it overrides criterion()). Choose another strategy "
                          f"or detector.")
