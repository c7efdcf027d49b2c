"""Joint training: the upper bound of continual learning."""

from avalanche.training.supervised import Cumulative

from . import register


@register("joint")
def joint(model, setup):
    """Cumulative training on the union of every task seen so far (the upper bound); Avalanche's
    ``Cumulative``, continuing from the previous task's model."""
    return Cumulative(**setup.template_kwargs(model))
