"""The episodic memory that replay and DER++ share: which training images of past tasks are kept, as
indices into each task's dataset, balanced over the tasks seen and within each task over its classes.

Keeping indices rather than Avalanche's nested dataset objects makes the memory a few small tensors to
checkpoint, and rebuilding it on resume is a subset of the same training datasets. The images are chosen
with the memory's own random stream (``TrainSetup.generator``), never the global one, so filling it does not
move the batches every other strategy sees (``benchmark/rng.py``). When a new task arrives, older tasks keep
the first of their randomly ordered images: shrinking never changes what a task keeps except its length.
"""

from __future__ import annotations

from typing import Sequence

import torch
from avalanche.benchmarks.utils import concat_datasets

from benchmark.errors import ConfigError

CLASSES = 2  # real and fake
#: The random stream that picks the kept images: one for replay and DER++, so of one seed they keep the same
#: images and differ only by DER++'s logit terms.
MEMORY_STREAM = "task-class-memory"


def equal_shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` integers differing by at most one, the larger ones first."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


class TaskClassMemory:
    """Up to ``size`` images, an equal share per task seen and, within a task, per class."""

    def __init__(self, size: int, owner: str):
        if size < CLASSES:
            raise ConfigError(f"{owner}: mem_size must be ≥ {CLASSES} (one image per class), got {size}")
        self.size, self.owner = size, owner
        self.kept: list[list[torch.Tensor]] = []  # per task, per class: dataset indices in random order

    def add_task(self, targets: Sequence[int], generator: torch.Generator) -> None:
        """Take a new task whose training labels are ``targets``, then shrink every task to its share."""
        shares = equal_shares(self.size, len(self.kept) + 1)
        if shares[-1] < CLASSES:
            raise ConfigError(f"{self.owner}: mem_size={self.size} leaves task {len(self.kept) + 1} {shares[-1]} "
                              f"slot(s), fewer than its {CLASSES} classes; set mem_size ≥ {CLASSES * (len(self.kept) + 1)}")
        labels = torch.as_tensor(list(targets))
        by_class = [torch.nonzero(labels == c).flatten() for c in range(CLASSES)]
        self.kept.append([indices[torch.randperm(len(indices), generator=generator)] for indices in by_class])
        for task, share in enumerate(shares):
            self.kept[task] = [indices[:n] for indices, n in zip(self.kept[task], equal_shares(share, CLASSES))]

    def indices(self, task: int) -> torch.Tensor:
        """The kept indices of one task, class by class."""
        return torch.cat(self.kept[task])

    def dataset(self, datasets: Sequence) -> object:
        """The kept images as one Avalanche dataset, task after task (``datasets[t]`` = task t's training set)."""
        return concat_datasets([datasets[t].subset(self.indices(t).tolist()) for t in range(len(self.kept))])

    def __len__(self) -> int:
        return sum(len(i) for task in self.kept for i in task)

    def state(self) -> dict[str, list[list[torch.Tensor]]]:
        return {"kept": [[i.clone() for i in task] for task in self.kept]}

    def load(self, state: dict[str, list[list[torch.Tensor]]]) -> None:
        self.kept = [[i.clone() for i in task] for task in state["kept"]]
