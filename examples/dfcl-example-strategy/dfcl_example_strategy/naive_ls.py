"""Naive fine-tuning with label smoothing (Szegedy et al., "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016): the example of a strategy kept in its own package (CONTRIBUTING.md)."""

from avalanche.training.supervised import Naive
from torch import nn

from benchmark.detectors.base import Detector
from benchmark.errors import ConfigError
from strategies import register


@register("naive-ls")
def naive_ls(model, setup, *, smoothing: float = 0.1):
    """Fine-tuning on each task in turn with label-smoothed cross-entropy: the target puts 1 − ε on the true
    class and ε/2 on each class (Szegedy et al., CVPR 2016), ε = 0.1 as in the paper.

    It replaces the loss, so it refuses a detector that trains with a loss of its own rather than train it
    with the wrong one.
    """
    if not 0 <= float(smoothing) < 1:
        raise ConfigError(f"naive-ls: smoothing must lie in [0, 1), got {smoothing}")
    if type(model).criterion is not Detector.criterion:
        raise ConfigError(f"strategy 'naive-ls' trains with label-smoothed cross-entropy, which would replace "
                          f"detector {type(model).__name__}'s own loss; choose another strategy or detector")
    kwargs = setup.template_kwargs(model)
    kwargs["criterion"] = nn.CrossEntropyLoss(label_smoothing=float(smoothing))
    return Naive(**kwargs)
