"""Encoding every image once with a detector's frozen input encoder, so that training and evaluation run
over the cached encodings instead of re-encoding each image every epoch (a frozen CLIP tower costs far
more than the head trained on it)."""

from __future__ import annotations

import dataclasses
import logging
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from scenarios import Scenario, Task
from scenarios.scenario import SPLITS

log = logging.getLogger("dfcl")

#: Train-time augmentation (folder scenarios' random crop and flip) is drawn once, from this seed.
VIEW_SEED = 0


class EncodedDataset(Dataset):
    """Encoder outputs N×D with the labels of the images they came from, served as ``(encoding, label)``."""

    def __init__(self, encodings: torch.Tensor, targets: list[int]):
        if len(encodings) != len(targets):
            raise ValueError(f"{len(encodings)} encodings but {len(targets)} labels")
        self.encodings, self.targets = encodings, list(targets)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.encodings[index], self.targets[index]


@torch.inference_mode()
def encode(encoder: nn.Module, dataset: Dataset, device: torch.device, batch_size: int, num_workers: int = 0
           ) -> EncodedDataset:
    """Every image of ``dataset`` through ``encoder``, in dataset order, kept on the CPU."""
    encoder.eval()
    encodings, targets = [], []
    # Its own generator leaves the global RNG, and so the training batches that follow, untouched.
    for images, labels in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                     generator=torch.Generator()):
        encodings.append(encoder(images.to(device)).float().cpu())
        targets += torch.as_tensor(labels).tolist()
    return EncodedDataset(torch.cat(encodings), targets)


def encoded_scenario(scenario: Scenario, encoder: nn.Module, device: torch.device, batch_size: int,
                     num_workers: int = 0) -> Scenario:
    """The scenario with every split of every task replaced by its encodings.

    A dataset with random train-time augmentation is encoded once, so training sees one fixed random view
    per image (drawn from ``VIEW_SEED``, the same in every run) instead of a new view every epoch.
    """
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(VIEW_SEED)
        tasks = [Task(task.name, *(encode(encoder, getattr(task, split), device, batch_size, num_workers)
                                   for split in SPLITS)) for task in scenario.tasks]
    images = sum(len(getattr(task, split)) for task in tasks for split in SPLITS)
    log.info("encoded %d images once with the detector's frozen encoder (%.1f s)", images,
             time.perf_counter() - start)
    note = (f"inputs encoded once by the detector's frozen encoder; train-time augmentation, if any, is one "
            f"fixed view per image (seed {VIEW_SEED})")
    return dataclasses.replace(scenario, tasks=tasks, notes=[*scenario.notes, note])
