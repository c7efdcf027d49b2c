"""The training loader every task goes through (``training.SeededTrainLoader``): the batches Avalanche's
own loader would give for the same random stream, bit for bit, without its per-sample cost.

Avalanche serves a sample through its dataset wrappers (transform groups, data attributes, task labels)
and then collates: about 40 µs a sample, 7 % of a smallcnn epoch on CPU (cProfile of 3 tasks × 3 epochs).
Where the Avalanche dataset is a plain view of our own datasets (what ``stream.training_stream`` builds),
a batch is fetched from them directly: in-memory arrays by one indexing, folder images by their own
view, in the same order, so the random draws are the same. Anything else (a memory, a concatenation
with transforms) keeps Avalanche's path.

On a GPU, a batch of decoded folder images of one size crosses to the device as uint8 and is cropped and
flipped there (``data_cache.RandomCropFlip.batch``), from the run's own stream, so the loader only copies
bytes. Workers, pinned memory and persistent workers are chosen for the device (``LoaderSettings``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from scenarios.scenario import ViewedDataset

from .data_cache import RandomCropFlip


@dataclass(frozen=True)
class LoaderSettings:
    """How batches reach the device. Pinned memory and persistent workers never change a batch (the shuffle
    of every epoch is the one without persistent workers); ``augment_on_device`` draws the training crops
    from the run's own stream on the device instead of per image in the loader: other crops, drawn alike."""

    pin_memory: bool = False
    persistent_workers: bool = False
    augment_on_device: bool = False

    @classmethod
    def for_device(cls, device: torch.device, *, pin_memory: bool | None = None,
                   persistent_workers: bool | None = None, augment_on_device: bool | None = None) -> "LoaderSettings":
        """Pinned memory, persistent workers and on-device augmentation on CUDA, none on CPU, unless given."""
        cuda = device.type == "cuda"
        pick = lambda value: cuda if value is None else bool(value)  # noqa: E731
        return cls(pick(pin_memory), pick(persistent_workers), pick(augment_on_device))

    def describe(self, workers: int) -> dict[str, Any]:
        return {"workers": workers, "pin_memory": self.pin_memory,
                "persistent_workers": self.persistent_workers and workers > 0,
                "augment_on_device": self.augment_on_device}


#: Loader processes on CUDA when the user sets none. A constant, not a share of the machine's cores: the
#: count is part of a run's configuration (per-image crops are drawn in the workers), so a default that
#: followed the cores would give one run two configuration hashes on two machines, and a retry on another
#: node could not resume.
CUDA_WORKERS = 4


def default_workers(device: torch.device) -> int:
    """Loader processes when the user sets none: 0 on CPU (the model needs the cores), ``CUDA_WORKERS`` on CUDA."""
    return CUDA_WORKERS if device.type == "cuda" else 0


@dataclass
class _Source:
    """One dataset below an Avalanche dataset and the view its current transform group applies."""

    leaf: Dataset
    view: Any  # a callable on the decoded image, or None (served as it is)


def plain_sources(dataset) -> list[_Source] | None:
    """The datasets an Avalanche dataset serves with nothing of Avalanche's own in between (no subset index,
    no frozen transforms, no data attribute besides the task label), or None where it does more."""
    try:
        flat = dataset._flat_data
        attributes = dataset._data_attributes
        if set(attributes) != {"targets", "targets_task_labels"} or attributes["targets"].use_in_getitem:
            return None
        group = flat._transform_groups.current_group
        if flat._indices is not None or flat._frozen_transform_groups[group] is not None:
            return None
        transform = flat._transform_groups[group]
        sources = []
        for leaf in map(lambda inner: _unwrapped(inner, group), flat._datasets):
            if isinstance(leaf, ViewedDataset) and leaf.view is None and transform is not None \
                    and list(transform.transforms) == [leaf.views.get(group)]:
                sources.append(_Source(leaf, leaf.views[group]))
            elif transform is None and not isinstance(leaf, ViewedDataset) \
                    and not type(leaf).__module__.startswith("avalanche"):
                sources.append(_Source(leaf, None))
            else:
                return None
        if len(sources) > 1 and any(source.view is not None for source in sources):
            return None  # per-image random views must be drawn in batch order: Avalanche's path does that
        return sources
    except (AttributeError, KeyError, TypeError):
        return None


def _unwrapped(dataset, group: str):
    """Below the Avalanche wrappers that only pass items through (Avalanche wraps a dataset given transform
    groups once more); a wrapper that does something is returned as it is, and refused by the caller."""
    while type(dataset).__module__.startswith("avalanche") and hasattr(dataset, "_datasets") \
            and len(dataset._datasets) == 1 and dataset._indices is None \
            and dataset._transform_groups[group] is None and dataset._frozen_transform_groups[group] is None:
        dataset = dataset._datasets[0]
    return dataset


class BatchFetch(Dataset):
    """``fetch[indices]`` = the collated batch ``[images, labels, task labels]`` of ``dataset`` at ``indices``,
    as ``default_collate([dataset[i] for i in indices])`` gives it. With ``uint8_crops``, a one-source
    folder training set serves its decoded uint8 images instead, for ``device_view`` to crop on the device."""

    def __init__(self, dataset, uint8_crops: bool = False):
        self.dataset, self.sources = dataset, plain_sources(dataset)
        self.task_labels = dataset.targets_task_labels if self.sources is not None else None
        self.device_view = None
        if uint8_crops and self.sources is not None and len(self.sources) == 1:
            source = self.sources[0]
            if isinstance(source.view, RandomCropFlip) and getattr(source.leaf, "common_shape", None) is not None:
                self.device_view = source.view

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices: list[int]) -> list[torch.Tensor]:
        if self.sources is None:
            return self.dataset.collate_fn([self.dataset[i] for i in indices])
        tasks = torch.tensor([int(self.task_labels[i]) for i in indices], dtype=torch.int64)
        if len(self.sources) == 1:
            images, labels = self._from(self.sources[0], indices)
            return [images, labels, tasks]
        # a concatenation (joint training): each source's part at once, then back in batch order
        located = [self.dataset._flat_data._get_idx(i) for i in indices]
        parts, positions = [], []
        for k, source in enumerate(self.sources):
            mine = [(position, local) for position, (owner, local) in enumerate(located) if owner == k]
            if mine:
                parts.append(self._from(source, [local for _, local in mine]))
                positions += [position for position, _ in mine]
        order = torch.argsort(torch.tensor(positions))
        return [torch.cat([x for x, _ in parts])[order], torch.cat([y for _, y in parts])[order], tasks]

    def _from(self, source: _Source, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        leaf = source.leaf
        if source.view is None and hasattr(leaf, "batch"):
            return leaf.batch(indices)
        labels = torch.tensor([int(leaf.targets[i]) for i in indices], dtype=torch.int64)
        if self.device_view is not None:
            return torch.stack([leaf.decoded(i) for i in indices]), labels
        if source.view is not None:  # per image, in batch order: the random draws Avalanche's path makes
            return torch.stack([source.view(leaf.decoded(i)) for i in indices]), labels
        return torch.stack([leaf[i][0] for i in indices]), labels


class DeviceCrops:
    """Batches of uint8 images moved to ``device`` and given the training view there."""

    def __init__(self, loader: DataLoader, view: RandomCropFlip, generator: torch.Generator, device: torch.device):
        self.loader, self.view, self.generator, self.device = loader, view, generator, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[list[torch.Tensor]]:
        for images, labels, tasks in self.loader:
            images = images.to(self.device, non_blocking=True)
            yield [self.view.batch(images, self.generator), labels.to(self.device, non_blocking=True),
                   tasks.to(self.device, non_blocking=True)]


class _EpochShuffle(RandomSampler):
    """``RandomSampler`` that, when the loader keeps its workers, also draws the base seed a fresh loader
    iterator draws each epoch, so every epoch's permutation is the one a loader without them gives."""

    def __init__(self, data, generator: torch.Generator, persistent: bool):
        super().__init__(data, generator=generator)
        self.persistent, self.epochs = persistent, 0

    def __iter__(self) -> Iterator[int]:
        if self.persistent and self.epochs:
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        self.epochs += 1
        yield from super().__iter__()


def training_loader(dataset, batch_size: int, generator: torch.Generator, workers: int, settings: LoaderSettings,
                    device: torch.device, crop_generator: torch.Generator, drop_last: bool = False):
    """A task's shuffled training batches, in the order ``DataLoader(dataset, batch_size, shuffle=True,
    drop_last=drop_last, generator=generator)`` draws them (the same base-seed and permutation draws)."""
    fetch = BatchFetch(dataset, uint8_crops=settings.augment_on_device)
    persistent = settings.persistent_workers and workers > 0
    shuffle = _EpochShuffle(fetch, generator, persistent)
    loader = DataLoader(fetch, batch_size=None, sampler=BatchSampler(shuffle, batch_size, drop_last=drop_last),
                        num_workers=workers, generator=generator,
                        pin_memory=settings.pin_memory and device.type == "cuda", persistent_workers=persistent)
    if fetch.device_view is None:
        return loader
    return DeviceCrops(loader, fetch.device_view, crop_generator, device)
