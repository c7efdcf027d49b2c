"""The one place scenarios meet Avalanche: task datasets become a domain-incremental training stream."""

from __future__ import annotations

from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from avalanche.benchmarks.scenarios.task_aware import with_task_labels
from avalanche.benchmarks.utils import _make_taskaware_classification_dataset
from torch.utils.data import Dataset

from scenarios import Scenario
from scenarios.scenario import ViewedDataset


def experience_dataset(dataset: Dataset):
    """An Avalanche dataset with task label 0 for every sample.

    A dataset with views gives Avalanche its decoded images and the views as the ``train`` / ``eval``
    transform groups, so that ``.eval()`` (FReTAL's prototypes, DER's logits, our EWC's Fisher) sees the
    evaluation view while training sees the augmented one.
    """
    targets = list(dataset.targets)
    if isinstance(dataset, ViewedDataset):
        return _make_taskaware_classification_dataset(dataset.as_view(None), targets=targets, task_labels=0,
                                                      transform_groups=dataset.views,
                                                      initial_transform_group=dataset.view)
    return _make_taskaware_classification_dataset(dataset, targets=targets, task_labels=0)


def training_stream(scenario: Scenario):
    """One experience per task, every sample with task label 0 (domain-incremental: no task identity).

    Avalanche 0.6.0's public ``as_classification_dataset`` sets no task labels, which LwF and other
    task-aware plugins require (methods.md, "Avalanche pitfalls"); this exported constructor does.
    """
    datasets = [experience_dataset(task.train) for task in scenario.tasks]
    return with_task_labels(benchmark_from_datasets(train=datasets)).streams["train"]
