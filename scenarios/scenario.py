"""The scenario contract: an ordered list of tasks, each with train / val / test datasets that yield
``(image, label)`` with image a float tensor C×H×W in [0, 1] and label 1 = fake, 0 = real.

A dataset may have two *views* of each image (``ViewedDataset``): the training view (augmented: random
crop, flip) and the evaluation view (deterministic: centre crop). A task's train split serves the training
view and its val / test splits the evaluation view. A pass over training images that must not see
augmentation (FReTAL's prototypes, DER's stored logits, EWC's Fisher, a probe's features) asks for
``task.eval_view("train")`` or, inside Avalanche, calls ``experience.dataset.eval()``: the training stream
hands Avalanche the views as its ``train`` / ``eval`` transform groups (``benchmark/stream.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")
VIEWS = ("train", "eval")


class ArrayDataset(Dataset):
    """Images held in memory as uint8 N×C×H×W, served as floats in [0, 1]. One view: no augmentation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(labels):
            raise ValueError("ArrayDataset needs uint8 images N×C×H×W and N labels")
        self.images, self.labels = images, labels.long()
        self.targets = self.labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float().div_(255), self.targets[index]

    def batch(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Many samples at once (a training batch): the values ``self[i]`` gives, stacked."""
        index = torch.as_tensor(indices)
        return self.images[index].float().div_(255), self.labels[index]


class ViewedDataset(Dataset):
    """Decoded images served through one of two views.

    ``views`` maps ``"train"`` and ``"eval"`` to a transform of the decoded image; ``view`` names the one
    served, or is None to serve the decoded image itself (what the training stream gives Avalanche, with
    ``views`` as its transform groups). Subclasses say how an image is decoded, in ``decoded``, and
    nothing else, so a faster decoder (a cache) replaces that one method.
    """

    targets: list[int]
    views: dict[str, Callable[[Any], torch.Tensor]]
    view: str | None

    def decoded(self, index: int) -> Any:
        raise NotImplementedError

    def as_view(self, view: str | None) -> "ViewedDataset":
        if view is not None and view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; known: {VIEWS} (or None for the decoded image)")
        shown = copy.copy(self)
        shown.view = view
        return shown

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = self.decoded(index)
        return (self.views[self.view](image) if self.view else image), self.targets[index]


@dataclass
class Task:
    """One generator family: its name and its three splits."""

    name: str
    train: Dataset
    val: Dataset
    test: Dataset

    def sizes(self) -> dict[str, int]:
        return {split: len(getattr(self, split)) for split in SPLITS}

    def eval_view(self, split: str) -> Dataset:
        """``split`` as evaluation sees it: the centre crop, no flip. For a dataset without views (the
        synthetic arrays, cached encodings) that is the dataset itself."""
        dataset = getattr(self, split)
        return dataset.as_view("eval") if isinstance(dataset, ViewedDataset) else dataset


@dataclass
class Scenario:
    """An ordered sequence of tasks plus what identifies the data it was built from."""

    name: str
    version: str
    source: str
    tasks: list[Task]
    fingerprint: str
    params: dict[str, Any] = field(default_factory=dict)  # the source's resolved parameters
    train_defaults: dict[str, Any] = field(default_factory=dict)  # recommended training settings
    description: str = ""
    citation: str = ""
    notes: list[str] = field(default_factory=list)  # e.g. skipped unreadable images, fingerprint drift

    @property
    def task_names(self) -> list[str]:
        return [task.name for task in self.tasks]

    def scored_on(self, split: str) -> "Scenario":
        """This scenario with each task's ``split`` where its test set was: the runner then scores that split,
        which is how settings are chosen on validation data without ever touching the test data. Its params
        say so (``scored_split``), which enters every result's configuration and hash, so such a result is never
        skipped as, pooled with, or verified as a test-scored one."""
        if split == "test":
            return self
        return replace(self, tasks=[replace(task, test=getattr(task, split)) for task in self.tasks],
                       params={**self.params, "scored_split": split})
