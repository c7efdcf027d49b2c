"""Hand-written result files *with* raw scores: make_result writes none, and the bootstrap over test
samples needs them. Scores are drawn first and the AUC matrix is computed from them, so the pair is
consistent (``verify`` checks it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark import metrics, results
from conftest import make_result, write_result


def balanced_labels(per_class: int) -> np.ndarray:
    """One balanced test set, shared by every seed and run as a real scenario's is."""
    return np.r_[np.zeros(per_class, np.int8), np.ones(per_class, np.int8)]


def score_arrays(separation: np.ndarray, initial: np.ndarray, per_class: int, rng: np.random.Generator,
                      ) -> dict[str, np.ndarray]:
    """Scores whose fakes sit ``separation[i][j]`` standard deviations above the reals (AUC ≈ Φ(sep/√2))."""
    t = len(separation)
    labels = balanced_labels(per_class)
    arrays = {f"labels_t{j}": labels for j in range(t)}
    for j in range(t):
        arrays[f"scores_init_t{j}"] = labels * initial[j] + rng.standard_normal(labels.size)
        for i in range(t):
            arrays[f"scores_after{i}_t{j}"] = labels * separation[i][j] + rng.standard_normal(labels.size)
    return arrays


def write_scored_result(results_dir: Path, separation, *, rng: np.random.Generator, per_class: int = 60,
                        initial=None, **fields) -> Path:
    """A schema-valid result and its ``seed<N>.scores.npz``; ``fields`` go to make_result."""
    separation = np.asarray(separation, dtype=float)
    t = len(separation)
    arrays = score_arrays(separation, np.zeros(t) if initial is None else np.asarray(initial), per_class, rng)
    after = [[metrics.score(arrays[f"labels_t{j}"], arrays[f"scores_after{i}_t{j}"]) for j in range(t)] for i in range(t)]
    before = [metrics.score(arrays[f"labels_t{j}"], arrays[f"scores_init_t{j}"]) for j in range(t)]
    matrices = {name: [[cell[name] for cell in row] for row in after] for name in metrics.SCORE_METRICS}
    initial = {name: [cell[name] for cell in before] for name in metrics.SCORE_METRICS}
    path = write_result(results_dir, make_result(matrices["auc"], matrices=matrices, initial=initial, **fields))
    np.savez(results.scores_path(path), **arrays)
    return path
