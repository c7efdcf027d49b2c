"""Scores and continual-learning summaries: pure numpy, no torch, no Avalanche.

Per-task scores come from the fake-class probability against labels (1 = fake). Summaries follow the
definitions in DESIGN.md and methods.md §7 over a T×T matrix ``R`` (row i = after training task i,
column j = tested on task j, 0-based) and the untrained model's row ``b``:

* average     = mean_j R[T-1][j]                              (CDDB "AA"; higher is better)
* average_incremental = mean_i mean_{j<=i} R[i][j]            (PyCIL / FACIL "average accuracy")
* bwt         = mean_{j<T-1} (R[T-1][j] - R[j][j])            (GEM; negative = forgetting)
* forgetting  = mean_{j<T-1} (max_{j<=l<T-1} R[l][j] - R[T-1][j])   (Chaudhry et al. 2018; best-ever
                after learning j, minus final; positive = forgetting)
* fwt         = mean_{j>=1} (R[j-1][j] - b[j])                (Lopez-Paz & Ranzato 2017; Avalanche)

BWT, forgetting and FWT are undefined (None) for a single task.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

SCORE_METRICS = ("auc", "acc", "ap", "eer")
SUMMARISED_METRICS = ("auc", "acc")
SUMMARIES = ("average", "average_incremental", "forgetting", "bwt", "fwt")


def _binary_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative false and true positives at each distinct threshold, highest first (as scikit-learn)."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), labels.size - 1]
    tps = np.cumsum(labels)[last_of_tie]
    fps = last_of_tie + 1 - tps
    return fps, tps


def _checked(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Labels as int64 0/1 and scores as float64; a label other than exactly 0 or 1 (0.6, 1.7, 2, NaN) is an
    error, checked before any cast, so it can never be truncated into a valid class."""
    raw = np.asarray(labels).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if raw.shape != scores.shape:
        raise ValueError(f"labels and scores differ in length: {raw.size} vs {scores.size}")
    if raw.dtype.kind not in "biuf" or not np.isin(raw, (0, 1)).all():
        odd = raw[~np.isin(raw, (0, 1))][:3] if raw.dtype.kind in "biuf" else raw[:3]
        raise ValueError(f"labels must be exactly 0 (real) or 1 (fake); found e.g. {odd.tolist()}")
    return raw.astype(np.int64), scores


def finite(scores) -> bool:
    """Whether every score is a finite number: a diverged model's NaN or infinite scores have no ranking, so
    every metric of them is NaN (a NaN would otherwise sort as the highest score)."""
    return bool(np.isfinite(np.asarray(scores, dtype=np.float64)).all())


def _both_classes(labels: np.ndarray) -> bool:
    return 0 < labels.sum() < labels.size


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (ties count one half); NaN when a class is absent."""
    labels, scores = _checked(labels, scores)
    if not _both_classes(labels) or not finite(scores):
        return math.nan
    fps, tps = _binary_curve(labels, scores)
    fpr = np.r_[0.0, fps / fps[-1]]
    tpr = np.r_[0.0, tps / tps[-1]]
    return float(np.trapezoid(tpr, fpr))


def roc_auc_rows(labels, score_rows) -> np.ndarray:
    """``roc_auc`` of every row of ``score_rows`` (k × n) against one set of labels, in one pass: the
    Mann–Whitney form, the fakes' rank sum among all scores with ties at their average rank (so a tie counts
    one half, as in ``roc_auc``). The test-set bootstrap scores all rows of a result on each resampled test
    set, which is hundreds of thousands of curves for a 13-task scenario one at a time."""
    rows = np.atleast_2d(np.asarray(score_rows, dtype=np.float64))
    labels, _ = _checked(labels, rows[0])
    aucs = np.full(rows.shape[0], math.nan)
    finite_rows = np.isfinite(rows).all(axis=1)
    if not _both_classes(labels) or not finite_rows.any():
        return aucs
    fakes = int(labels.sum())
    reals = labels.size - fakes
    ranks = stats.rankdata(rows[finite_rows], axis=1)
    aucs[finite_rows] = (ranks[:, labels == 1].sum(axis=1) - fakes * (fakes + 1) / 2) / (fakes * reals)
    return aucs


def average_precision(labels, scores) -> float:
    """Average precision, sum over thresholds of (recall step × precision), as scikit-learn; NaN without fakes."""
    labels, scores = _checked(labels, scores)
    if labels.sum() == 0 or not finite(scores):
        return math.nan
    fps, tps = _binary_curve(labels, scores)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def equal_error_rate(labels, scores) -> float:
    """The error rate where the false-positive and false-negative rates cross, interpolated linearly
    between the two ROC points that bracket the crossing; NaN when a class is absent."""
    labels, scores = _checked(labels, scores)
    if not _both_classes(labels) or not finite(scores):
        return math.nan
    fps, tps = _binary_curve(labels, scores)
    fpr = np.r_[0.0, fps / fps[-1]]
    fnr = 1.0 - np.r_[0.0, tps / tps[-1]]
    gap = fnr - fpr  # decreases from 1 to -1 along the curve
    k = int(np.flatnonzero(gap <= 0)[0])
    if gap[k] == 0 or k == 0:
        return float(fpr[k])
    t = gap[k - 1] / (gap[k - 1] - gap[k])
    return float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))


def accuracy(labels, scores, threshold: float = 0.5) -> float:
    """Fraction correct when a fake-probability above ``threshold`` means fake."""
    labels, scores = _checked(labels, scores)
    if not labels.size or not finite(scores):
        return math.nan
    return float(np.mean((scores > threshold) == labels.astype(bool)))


SCORERS = {"auc": roc_auc, "acc": accuracy, "ap": average_precision, "eer": equal_error_rate}


def score(labels, scores) -> dict[str, float]:
    """Every per-task metric for one (model, test set) pair."""
    return {name: SCORERS[name](labels, scores) for name in SCORE_METRICS}


def _matrix(matrix) -> np.ndarray:
    r = np.asarray(matrix, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
        raise ValueError(f"a metric matrix must be square T×T with T ≥ 1, got shape {r.shape}")
    return r


def average(matrix) -> float:
    return float(_matrix(matrix)[-1].mean())


def average_incremental(matrix) -> float:
    r = _matrix(matrix)
    return float(np.mean([r[i, :i + 1].mean() for i in range(len(r))]))


def bwt(matrix) -> float | None:
    r = _matrix(matrix)
    t = len(r)
    return float(np.mean(r[-1, :-1] - np.diag(r)[:-1])) if t > 1 else None


def forgetting(matrix) -> float | None:
    r = _matrix(matrix)
    t = len(r)
    return float(np.mean([r[j:t - 1, j].max() - r[-1, j] for j in range(t - 1)])) if t > 1 else None


def fwt(matrix, initial) -> float | None:
    r = _matrix(matrix)
    b = np.asarray(initial, dtype=np.float64)
    if b.shape != (len(r),):
        raise ValueError(f"the initial row must have {len(r)} entries, got shape {b.shape}")
    return float(np.mean([r[j - 1, j] - b[j] for j in range(1, len(r))])) if len(r) > 1 else None


def summarise(matrix, initial) -> dict[str, float | None]:
    """All summaries of one metric's matrix (see the module docstring for definitions and signs)."""
    return {"average": average(matrix), "average_incremental": average_incremental(matrix),
            "forgetting": forgetting(matrix), "bwt": bwt(matrix), "fwt": fwt(matrix, initial)}


def same_number(stored: Any, value: Any, tolerance: float = 1e-9) -> bool:
    """Whether a stored number is the one recomputed: both missing (null, or NaN as a non-finite score makes
    it), or both numbers equal to rounding (``tolerance``, absolute)."""
    missing = lambda x: x is None or (isinstance(x, float) and math.isnan(x))  # noqa: E731
    if missing(stored) or missing(value):
        return missing(stored) and missing(value)
    return isinstance(stored, (int, float)) and not isinstance(stored, bool) and \
        math.isclose(stored, value, rel_tol=0, abs_tol=tolerance)
