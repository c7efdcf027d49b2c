"""The scenario contract: an ordered list of tasks, each with train / val / test datasets that yield
``(image, label)`` with image a float tensor C×H×W in [0, 1] and label 1 = fake, 0 = real."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")


class ArrayDataset(Dataset):
    """Images held in memory as uint8 N×C×H×W, served as floats in [0, 1]."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(labels):
            raise ValueError("ArrayDataset needs uint8 images N×C×H×W and N labels")
        self.images, self.labels = images, labels.long()
        self.targets = self.labels.tolist()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float().div_(255), self.targets[index]


@dataclass
class Task:
    """One generator family: its name and its three splits."""

    name: str
    train: Dataset
    val: Dataset
    test: Dataset

    def sizes(self) -> dict[str, int]:
        return {split: len(getattr(self, split)) for split in SPLITS}


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
