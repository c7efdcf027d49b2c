"""Confidence intervals that count both sources of chance in a continual-learning number: the training
seed, and the finite test set that every seed is scored on.

Seeds are few (often 3), too few for a percentile bootstrap over seeds: 3 values have 10 distinct
resamples, and the interval lies inside the observed range, so it covers the true mean far less often than
claimed (tests/test_uncertainty.py measures it). Over seeds we therefore use Student's t with n−1 degrees
of freedom. Test sets are large, so there the bootstrap is sound: each task's test set is resampled
within each class (keeping both classes and their balance), with the same indices for every seed and run,
since they were all scored on that one test set, and the metric is recomputed from the saved scores.
Seeds alone miss the test-set part: every seed shares that one test set's luck. The two are combined as
in Banerjee (1960), half-width² = t²_{n−1}·s²/n + z²·v_boot, which stays at or above the nominal coverage
whatever the ratio of the two variances; Welch–Satterthwaite degrees of freedom, the usual alternative,
fall to about 92 % with 3 seeds, because the degrees of freedom then grow exactly when s² came out small.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from tqdm import tqdm

from . import metrics
from .conventions import REPORTED
from .errors import ResultError

SEEDS_ONLY = "Student t over seeds (n−1 df)"
SEEDS_AND_SAMPLES = ("Student t over seeds combined with a stratified bootstrap over test samples "
                     "({resamples} resamples) as in Banerjee (1960)")


def stratified_resample(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a bootstrap test set holding as many reals and as many fakes as the real one."""
    return np.concatenate([rng.choice(members, size=members.size, replace=True)
                           for members in (np.flatnonzero(labels == c) for c in (0, 1))])


def bootstrap_summaries(score_sets: list[dict[str, np.ndarray]], tasks: int, metric: str = "auc",
                        resamples: int = 200, seed: int = 0) -> np.ndarray:
    """(resamples, score sets, REPORTED summaries) recomputed on resampled test sets. Every set sees the
    same resampled indices, which keeps seeds and runs paired."""
    labels = [score_sets[0][f"labels_t{j}"] for j in range(tasks)]
    for j in range(tasks):
        if any(not np.array_equal(s[f"labels_t{j}"], labels[j]) for s in score_sets):
            raise ResultError(f"the saved scores were not made on one test set (labels of task {j} differ); "
                              f"only results on the same scenario data can be resampled together")
    score_rows = _row_scorer(metric)
    # per task j, (score sets, T + 1, test images): its test set scored after each task (rows 0 … T−1) and
    # untrained (row T), so each resample scores every set and row of a task in one call
    stacked = [np.stack([np.stack([sets[f"scores_after{i}_t{j}"] for i in range(tasks)] + [sets[f"scores_init_t{j}"]])
                         for sets in score_sets]).astype(np.float64) for j in range(tasks)]
    rng = np.random.default_rng(seed)
    replicates = np.empty((resamples, len(score_sets), len(REPORTED)))
    for b in tqdm(range(resamples), desc="bootstrap over test samples", leave=False, disable=None):
        picks = [stratified_resample(y, rng) for y in labels]
        # columns[j][k, i]: set k's score on task j after task i (i = T: untrained)
        columns = [score_rows(y[pick], rows[:, :, pick].reshape(-1, pick.size)).reshape(rows.shape[:2])
                   for y, pick, rows in zip(labels, picks, stacked)]
        for k in range(len(score_sets)):
            matrix = [[columns[j][k, i] for j in range(tasks)] for i in range(tasks)]
            summary = metrics.summarise(matrix, [columns[j][k, tasks] for j in range(tasks)])
            replicates[b, k] = [math.nan if summary[key] is None else summary[key] for key in REPORTED]
    return replicates


def _row_scorer(metric: str):
    """The metric of every row of a score matrix against one label vector: AUC in one pass, the others a
    row at a time."""
    if metric == "auc":
        return metrics.roc_auc_rows
    score = metrics.SCORERS[metric]
    return lambda labels, rows: np.array([score(labels, row) for row in rows])


def interval(seed_values, replicate_means=None, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval for the mean over seeds: Student t over seeds and, when ``replicate_means``
    (the seed mean recomputed on bootstrap test sets) are given, the normal quantile of their spread,
    combined as Banerjee (1960) does: half-width² = t²·s²/n + z²·v. NaN when there is no spread to
    estimate (one seed and no scores)."""
    values = np.asarray(seed_values, dtype=float)
    values = values[np.isfinite(values)]
    quantile = (1 + level) / 2
    squared_halves = []
    if values.size > 1:
        squared_halves.append(stats.t.ppf(quantile, values.size - 1) ** 2 * values.var(ddof=1) / values.size)
    if replicate_means is not None and len(replicate_means) > 1 and np.isfinite(replicate_means).all():
        squared_halves.append(stats.norm.ppf(quantile) ** 2 * float(np.var(replicate_means, ddof=1)))
    if values.size == 0 or not squared_halves:
        return math.nan, math.nan
    half = math.sqrt(sum(squared_halves))
    return values.mean() - half, values.mean() + half


def percentile_interval(replicates, level: float = 0.95) -> tuple[float, float]:
    low, high = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def bootstrap_p_value(replicates) -> float:
    """Two-sided p-value that the bootstrapped difference is zero: twice the smaller tail beyond zero,
    never below one resample's share (a bootstrap of B resamples cannot tell smaller p-values apart)."""
    replicates = np.asarray(replicates, dtype=float)
    tail = min((replicates <= 0).mean(), (replicates >= 0).mean())
    return float(min(1.0, max(2 * tail, 1 / replicates.size)))
