"""Linear probes on a detector's frozen features: one row of the probe matrix P after each task.

For every task j, a logistic regression (class-balanced, features standardised with the training
statistics) is fitted to ``model.features(x)`` of a seeded, class-balanced subsample of task j's training
split, for each C of a small log-spaced grid; the C with the best AUC on task j's validation split is kept
and scored on task j's test split (Davari et al., CVPR 2022, "Probing representation forgetting"). The test
split is never seen while fitting or choosing. Test features come from the scoring pass (``evaluate_row``
with ``features=True``), so only the training subsample and the validation split cost extra forwards.
What the matrices mean and how they are summarised: ``benchmark.readout``.

Features are read from each split's evaluation view (``Task.eval_view(split)`` where a scenario defines
one, so that training-time random crops and flips are not probed; else the dataset itself), with the model
in eval mode, inside a forked RNG with a fixed seed: probing never moves the global random state, so the
training batches that follow, and their pairing across strategies, stay what they were.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits
from torch.utils.data import DataLoader, Dataset, Subset

from . import metrics

log = logging.getLogger("dfcl")
C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # inverse L2 strength on standardised features (sklearn's C)
#: Training images per class and task the probe is fitted on. 250 keeps probing near one extra scoring pass
#: (benchmarks/probe_cost.py); 1000 raised the final naive smallcnn row of P by at most 0.023 AUC.
TRAIN_PER_CLASS = 250
MAX_ITER = 200
#: Newton–Cholesky (exact Hessian, 2 steps per C when warm-started) is 2.6× faster than L-BFGS at D = 64;
#: its D×D Hessian costs D³ a step, so wide features (a ResNet's 2048) go to L-BFGS instead.
NEWTON_MAX_FEATURES = 256
VIEW_SEED = 0  # random views, if a dataset draws any, come from this seed (never from the global RNG)


def supported(model: torch.nn.Module) -> bool:
    """Whether the model exposes ``features(x)``."""
    return callable(getattr(model, "features", None))


def _labels(dataset: Dataset) -> np.ndarray:
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = [dataset[i][1] for i in range(len(dataset))]
    return np.asarray(targets, dtype=np.int64)


def balanced_subsample(labels: np.ndarray, per_class: int, seed: int, task: int) -> np.ndarray:
    """Sorted indices of up to ``per_class`` samples of each class, drawn without replacement from a
    generator seeded by (seed, task): the same for every row of a run, so rows differ only in the model."""
    rng = np.random.default_rng([seed, task])
    picks = [rng.choice(members, size=min(per_class, members.size), replace=False)
             for members in (np.flatnonzero(labels == c) for c in (0, 1))]
    return np.sort(np.concatenate(picks))


def view(task, split: str) -> Dataset:
    """A split as evaluation sees it: ``task.eval_view(split)`` where the scenario has one."""
    eval_view = getattr(task, "eval_view", None)
    return eval_view(split) if callable(eval_view) else getattr(task, split)


@torch.inference_mode()
def extract(model: torch.nn.Module, dataset: Dataset, device: torch.device, batch_size: int,
            num_workers: int = 0) -> np.ndarray:
    """``model.features`` of every sample (N×D float32, dataset order), the model in eval mode, the global
    RNG untouched."""
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(VIEW_SEED)
            for images, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                        generator=torch.Generator().manual_seed(VIEW_SEED)):
                chunks.append(model.features(images.to(device)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks).numpy()


def solver(features: int) -> str:
    return "newton-cholesky" if features <= NEWTON_MAX_FEATURES else "lbfgs"


def fit(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray
        ) -> tuple[LogisticRegression, np.ndarray, np.ndarray, float]:
    """The probe whose C (from ``C_GRID``) scores best on validation AUC, the smallest C on ties, with the
    standardisation it was fitted under (training mean and s.d.): (probe, mean, scale, C)."""
    mean = train_x.mean(axis=0)
    scale = train_x.std(axis=0)
    scale[scale == 0] = 1.0
    train_z, val_z = (train_x - mean) / scale, (val_x - mean) / scale
    probe = LogisticRegression(class_weight="balanced", max_iter=MAX_ITER, warm_start=True,
                               solver=solver(train_x.shape[1]))
    best = (-np.inf, None, None)
    # One BLAS thread: these problems are small (thousands × D), where threads only contend (5× slower on a
    # busy 2-core machine), and a one-thread reduction order keeps the fit bit-for-bit repeatable.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)  # the weakest regularisation may not settle in MAX_ITER
        for c in C_GRID:
            probe.set_params(C=c).fit(train_z, train_y)
            auc = metrics.roc_auc(val_y, probe.decision_function(val_z))
            if auc > best[0] or best[1] is None:
                best = (auc, c, (probe.coef_.copy(), probe.intercept_.copy()))
    _, chosen, (probe.coef_, probe.intercept_) = best
    return probe.set_params(C=chosen), mean, scale, chosen


def probe_row(model: torch.nn.Module, tasks: list, device: torch.device, *, batch_size: int, seed: int,
              num_workers: int = 0, test_features: list[np.ndarray] | None = None,
              train_per_class: int = TRAIN_PER_CLASS) -> dict:
    """One row of P for the model as it is now: ``{"auc": [T], "acc": [T], "C": [T], "settings": {…},
    "seconds": wall time}``.

    ``test_features`` are the test splits' features from the scoring pass of the same model (in test-set
    order); without them the test splits are read once more.
    """
    start = time.perf_counter()
    row = {"auc": [], "acc": [], "C": []}
    train_sizes = []
    for j, task in enumerate(tasks):
        train_set, val_set, test_set = view(task, "train"), view(task, "val"), view(task, "test")
        train_y = _labels(train_set)
        picked = balanced_subsample(train_y, train_per_class, seed, j)
        train_sizes.append(len(picked))
        train_x = extract(model, Subset(train_set, picked.tolist()), device, batch_size, num_workers)
        val_x = extract(model, val_set, device, batch_size, num_workers)
        val_y = _labels(val_set)
        if len(np.unique(val_y)) < 2:
            log.warning("probe on %s: its validation split holds one class, so no C can be chosen on it; the "
                        "strongest regularisation (C = %g) is kept", task.name, C_GRID[0])
        probe, mean, scale, chosen = fit(train_x, train_y[picked], val_x, val_y)
        test_x = test_features[j] if test_features is not None else extract(model, test_set, device, batch_size,
                                                                             num_workers)
        test_y = _labels(test_set)
        if len(test_x) != len(test_y):
            raise ValueError(f"task {task.name}: {len(test_x)} test features for {len(test_y)} test samples")
        scores = probe.predict_proba((test_x - mean) / scale)[:, 1]
        row["auc"].append(metrics.roc_auc(test_y, scores))
        row["acc"].append(metrics.accuracy(test_y, scores))
        row["C"].append(chosen)
    row["settings"] = {"solver": f"scikit-learn LogisticRegression(solver={solver(train_x.shape[1])!r}, "
                                 f"class_weight='balanced'), warm-started along C_grid",
                       "C_grid": list(C_GRID), "selected_by": "validation AUC",
                       "standardised": "training-subsample mean and s.d.", "max_iter": MAX_ITER,
                       "train_per_class": train_per_class, "train_sizes": train_sizes, "seed": seed,
                       "view": "Task.eval_view" if callable(getattr(tasks[0], "eval_view", None)) else
                               "the split datasets as given (no eval_view)"}
    row["seconds"] = time.perf_counter() - start
    return row
