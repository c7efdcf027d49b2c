"""Averaged Gradient Episodic Memory (Chaudhry et al., "Efficient Lifelong Learning with A-GEM",
ICLR 2019)."""

import torch
from avalanche.training.plugins import AGEMPlugin
from avalanche.training.supervised import Naive

from benchmark.errors import ConfigError

from . import register


class SeededAGEM(AGEMPlugin):
    """Avalanche's A-GEM projection (``AGEMPlugin``) with a memory chosen, and sampled, by the run's own random
    streams: Avalanche draws the memory with Python's global ``random`` and samples it through a loader on
    the global torch generator, which shifted every later training batch of the run.

    The memory of task t is ``patterns_per_experience`` random images of it; each reference batch takes
    ``sample_size // tasks`` random images of every past task (without replacement within a batch), as
    Avalanche's task-balanced loader does."""

    def __init__(self, patterns_per_experience: int, sample_size: int, setup):
        super().__init__(patterns_per_experience, sample_size)
        self.setup, self.kept, self.sampler = setup, [], None
        self.datasets: list = []

    def before_training_exp(self, strategy, **kwargs):
        self.sampler = self.setup.generator("agem-sample", len(self.kept))

    @torch.no_grad()
    def update_memory(self, dataset, num_workers=0, **kwargs):
        order = torch.randperm(len(dataset), generator=self.setup.generator("agem-memory", len(self.kept)))
        self.kept.append(order[:self.patterns_per_experience])
        self.datasets.append(dataset)
        self._rebuild()

    def _rebuild(self):
        self.buffers = [dataset.subset(kept.tolist()) for dataset, kept in zip(self.datasets, self.kept)]

    def sample_from_memory(self):
        per_task = max(1, self.sample_size // len(self.buffers))
        items = [buffer[int(i)] for buffer in self.buffers
                 for i in torch.randperm(len(buffer), generator=self.sampler)[:per_task]]
        return self.buffers[0].collate_fn(items)

    def checkpoint_state(self) -> dict:
        return {"kept": [k.clone() for k in self.kept]}

    def restore_state(self, state: dict, context) -> None:
        self.kept = [k.clone() for k in state["kept"]]
        self.datasets = [experience.dataset for experience in context.experiences[:len(self.kept)]]
        self._rebuild()


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
    plugin = SeededAGEM(int(patterns_per_experience), int(sample_size), setup)
    # AGEMPlugin flattens gradients with ``view``, which fails on channels-last weights (smallcnn's).
    model = model.to(memory_format=torch.contiguous_format)
    return Naive(**setup.template_kwargs(model, plugins=[plugin]))
