"""Scoring a model on every task's test set, giving one row of the T×T matrices."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import metrics
from .detectors.base import fake_probability


@torch.inference_mode()
def predict(model: torch.nn.Module, dataset: Dataset, device: torch.device, batch_size: int,
            num_workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fake-class probabilities (float32) and labels (int8) for a whole dataset, in dataset order.

    The loader gets its own generator: a DataLoader otherwise draws its base seed from the global RNG, and
    scoring would shift every later training batch, so two strategies would no longer see the same batches.
    """
    was_training = model.training
    model.eval()
    scores, labels = [], []
    try:
        for images, targets in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                          generator=torch.Generator()):
            scores.append(fake_probability(model(images.to(device))).cpu())
            labels.append(torch.as_tensor(targets))
    finally:
        model.train(was_training)
    return torch.cat(scores).numpy().astype(np.float32), torch.cat(labels).numpy().astype(np.int8)


def evaluate_row(model: torch.nn.Module, test_sets: list[Dataset], device: torch.device, batch_size: int,
                 num_workers: int = 0, desc: str = "evaluate"
                 ) -> tuple[dict[str, list[float]], list[np.ndarray], list[np.ndarray]]:
    """Every metric on every test set: ``{metric: [value per task]}``, plus the raw scores and labels."""
    row: dict[str, list[float]] = {name: [] for name in metrics.SCORE_METRICS}
    all_scores, all_labels = [], []
    for dataset in tqdm(test_sets, desc=desc, leave=False, disable=None, unit="task"):
        scores, labels = predict(model, dataset, device, batch_size, num_workers)
        for name, value in metrics.score(labels, scores).items():
            row[name].append(value)
        all_scores.append(scores)
        all_labels.append(labels)
    return row, all_scores, all_labels
