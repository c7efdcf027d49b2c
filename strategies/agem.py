"""Averaged Gradient Episodic Memory (Chaudhry et al., "Efficient Lifelong Learning with A-GEM",
ICLR 2019)."""

import torch
from avalanche.training.plugins import AGEMPlugin
from avalanche.training.supervised import Naive

from benchmark.errors import ConfigError

from . import register


@register("agem", small={"patterns_per_experience": 8, "sample_size": 8})
def agem(model, setup, *, patterns_per_experience: int = 100, sample_size: int = 64):
    """A-GEM: when the mini-batch gradient would increase the loss on an episodic memory of past tasks
    (negative dot product with the memory's gradient), it is projected onto the plane where it does not
    (Chaudhry et al., ICLR 2019; Avalanche ``AGEMPlugin``).

    The memory holds ``patterns_per_experience`` random images of each task: 100, so that five tasks use
    the 500-image budget of ``replay`` and ``der``. The reference gradient comes from ``sample_size``
    memory images, 64 = the training batch, as in Buzzega et al.'s A-GEM runs (NeurIPS 2020).
    """
    if int(patterns_per_experience) < 2 or int(sample_size) < 1:
        raise ConfigError(f"agem: patterns_per_experience must be ≥ 2 (one image per class) and "
                          f"sample_size ≥ 1, got {patterns_per_experience} and {sample_size}")
    plugin = AGEMPlugin(int(patterns_per_experience), int(sample_size))
    # AGEMPlugin flattens gradients with ``view``, which fails on channels-last weights (smallcnn's).
    model = model.to(memory_format=torch.contiguous_format)
    return Naive(**setup.template_kwargs(model, plugins=[plugin]))
