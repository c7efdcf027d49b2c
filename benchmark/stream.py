"""The one place scenarios meet Avalanche: task datasets become a domain-incremental training stream."""

from __future__ import annotations

from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from avalanche.benchmarks.scenarios.task_aware import with_task_labels
from avalanche.benchmarks.utils import _make_taskaware_classification_dataset

from scenarios import Scenario


def training_stream(scenario: Scenario):
    """One experience per task, every sample with task label 0 (domain-incremental: no task identity).

    Avalanche 0.6.0's public ``as_classification_dataset`` sets no task labels, which LwF and other
    task-aware plugins require (methods.md, "Avalanche pitfalls"); this exported constructor does.
    """
    datasets = [_make_taskaware_classification_dataset(task.train, targets=list(task.train.targets), task_labels=0)
                for task in scenario.tasks]
    return with_task_labels(benchmark_from_datasets(train=datasets)).streams["train"]
