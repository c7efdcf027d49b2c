"""Scoring a model on every task's test set, giving one row of the T×T matrices."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import metrics
from .detectors.base import fake_probability
from .detectors.heads import forward_features


@torch.inference_mode()
def predict(model: torch.nn.Module, dataset: Dataset, device: torch.device, batch_size: int,
            num_workers: int = 0, *, features: bool = False) -> tuple[np.ndarray, ...]:
    """Fake-class probabilities (float32) and labels (int8) for a whole dataset, in dataset order; with
    ``features``, also the features N×D (float32) that the same forward pass attached to its logits
    (``heads.attach``), so a linear probe on the test set costs no second pass (``benchmark.probe``).

    The loader gets its own generator: a DataLoader otherwise draws its base seed from the global RNG, and
    scoring would shift every later training batch, so two strategies would no longer see the same batches.
    """
    was_training = model.training
    model.eval()
    scores, labels, kept = [], [], []
    try:
        for images, targets in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                          generator=torch.Generator()):
            logits = model(images.to(device))
            scores.append(fake_probability(logits).cpu())
            labels.append(torch.as_tensor(targets))
            if features:
                kept.append(forward_features(logits, type(model).__name__).float().cpu())
    finally:
        model.train(was_training)
    scored = torch.cat(scores).numpy().astype(np.float32), torch.cat(labels).numpy().astype(np.int8)
    return (*scored, torch.cat(kept).numpy()) if features else scored


def evaluate_row(model: torch.nn.Module, test_sets: list[Dataset], device: torch.device, batch_size: int,
                 num_workers: int = 0, desc: str = "evaluate", *, features: bool = False
                 ) -> tuple[dict[str, list[float]], list[np.ndarray], list[np.ndarray], list[np.ndarray] | None]:
    """Every metric on every test set: ``{metric: [value per task]}``, the raw scores and labels, and (with
    ``features``) each test set's features from the same pass, else None."""
    row: dict[str, list[float]] = {name: [] for name in metrics.SCORE_METRICS}
    all_scores, all_labels, all_features = [], [], []
    for dataset in tqdm(test_sets, desc=desc, leave=False, disable=None, unit="task"):
        scores, labels, *kept = predict(model, dataset, device, batch_size, num_workers, features=features)
        for name, value in metrics.score(labels, scores).items():
            row[name].append(value)
        all_scores.append(scores)
        all_labels.append(labels)
        all_features += kept
    return row, all_scores, all_labels, all_features if features else None
