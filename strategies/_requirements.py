"""What a strategy may ask of a detector beyond logits, refused by name when it is missing."""

from __future__ import annotations

from torch import nn

from benchmark.detectors.base import Detector
from benchmark.errors import ConfigError


def require_features(model: nn.Module, strategy: str) -> None:
    """Strategies that work on representations (FReTAL's prototypes, X-Transfer's crossed routes) split the
    detector into ``features(x)`` (B×D) and a ``classifier`` module mapping them to the two logits."""
    features = getattr(type(model), "features", None)
    missing = [part for part, present in (
        ("features(x)", callable(features) and features is not Detector.features),
        ("a classifier module", isinstance(getattr(model, "classifier", None), nn.Module))) if not present]
    if missing:
        raise ConfigError(f"strategy {strategy!r} needs a detector that exposes features(x) and a classifier; "
                          f"detector {type(model).__name__} lacks {' and '.join(missing)}. Implement them "
                          f"(see benchmark/detectors/base.py) or choose another strategy or detector.")
