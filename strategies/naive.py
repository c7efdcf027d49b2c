"""Naive fine-tuning: the lower bound of continual learning."""

from avalanche.training.supervised import Naive

from . import register


@register("naive")
def naive(model, setup):
    """Fine-tuning on each task in turn, with nothing against forgetting (the lower bound)."""
    return Naive(**setup.template_kwargs(model))
