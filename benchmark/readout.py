"""Where forgetting lives: linear-probe matrices beside the detector's own, and what they say (pure numpy).

A detector that forgets an old generator may have lost the features that separate its fakes, or kept
them and lost only the decision boundary on them; the remedies differ (re-fitting a head is cheap, lost
features need replay or distillation). The probe matrix ``P`` tells them apart, as linear probing does for
representations (Alain & Bengio 2016; Davari et al., CVPR 2022, "Probing representation forgetting"):

    P[i][j] = score on task j's test split of a logistic-regression probe fitted on task j's training split
              to the frozen features of the model after training task i (regularisation chosen on task
              j's validation split); ``b`` is the untrained model's probe row.

``P[i][j]`` estimates the best a linear readout of those features achieves, not what the detector does: the
probe sees task j's labels again. It is an estimate, not a bound: fitted to a subsample, it can fall a little
below the detector (P − R ≥ −0.012 in every cell of two naive smallcnn seeds). ``R`` is the detector's own
matrix (``metrics.py``). The conventions are metrics.py's: 0-based, T tasks, final row T−1, past tasks
j < T−1; per-task forgetting of a matrix M is F_M[j] = max_{j≤l<T−1} M[l][j] − M[T−1][j] (positive = forgotten), and
metrics.forgetting(M) = mean_j F_M[j]. Summaries, per metric (AUC and accuracy):

* average            = mean_j P[T−1][j]                          (what the final features can still tell apart)
* forgetting         = metrics.forgetting(P) = mean_j F_P[j]    "representation forgetting": lost even to a
                       re-fitted linear head; positive = the features forgot
* bwt, fwt           = metrics.bwt(P), metrics.fwt(P, b)         (as for R; FWT against the untrained features)
* readout_gap        = mean_{j<T−1} (P[T−1][j] − R[T−1][j])      the per-cell gap G = P − R on the past tasks of
                       the final row; positive = the features know more than the head says
* readout_forgetting = metrics.forgetting(R) − metrics.forgetting(P) = mean_j (F_R[j] − F_P[j]): the part of
                       the detector's forgetting that a re-fitted head undoes; positive = forgetting in the
                       readout; negative = the probe forgot more than the head did
* readout_share      = Σ_j clip(F_R[j] − F_P⁺[j], 0, F_R⁺[j]) / Σ_j F_R⁺[j], with x⁺ = max(x, 0): the fraction
                       of the detector's forgetting (its positive per-task parts) that the features did not
                       share, in [0, 1]. Per task, a probe that forgot at least as much counts 0, one that did
                       not forget counts all of F_R[j]. None when mean_j F_R⁺[j] < SHARE_FLOOR (0.01): then
                       the detector forgot about as much as one test set's noise and the ratio is noise over noise.

Every summary but average is None for a single task. Result files carry this as the optional ``"probe"``
block; ``check`` recomputes its summaries from its matrices and the result's own R, as ``results.validate``
does for R's, so an edited cell is caught. Old files without the block stay valid (no schema bump).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import metrics
from .errors import ResultError

METRICS = ("auc", "acc")
SUMMARIES = ("average", "forgetting", "bwt", "fwt", "readout_gap", "readout_forgetting", "readout_share")
SHARE_FLOOR = 0.01


def _matrix(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64)  # None → NaN


def task_forgetting(matrix) -> np.ndarray:
    """F[j] = max_{j≤l<T−1} M[l][j] − M[T−1][j] for every past task j (positive = forgotten)."""
    m = _matrix(matrix)
    return np.array([m[j:len(m) - 1, j].max() - m[-1, j] for j in range(len(m) - 1)])


def gap(probe, detector) -> np.ndarray:
    """G = P − R per cell: positive where the features separate a task better than the head does."""
    return _matrix(probe) - _matrix(detector)


def readout_share(probe, detector) -> float | None:
    forgot_r, forgot_p = task_forgetting(detector), task_forgetting(probe)
    lost = np.maximum(forgot_r, 0.0)
    if lost.size == 0 or not lost.mean() >= SHARE_FLOOR:
        return None
    kept_by_features = np.clip(forgot_r - np.maximum(forgot_p, 0.0), 0.0, lost)
    return float(kept_by_features.sum() / lost.sum())


def summarise(probe, initial, detector) -> dict[str, float | None]:
    """Every summary of one metric's probe matrix P, its untrained row b and the detector's R (module doc)."""
    p, r = _matrix(probe), _matrix(detector)
    if p.shape != r.shape:
        raise ValueError(f"the probe matrix is {p.shape} but the detector's is {r.shape}")
    own = metrics.summarise(p, initial)
    past = len(p) > 1
    return {"average": own["average"], "forgetting": own["forgetting"], "bwt": own["bwt"], "fwt": own["fwt"],
            "readout_gap": float(np.mean(gap(p, r)[-1, :-1])) if past else None,
            "readout_forgetting": metrics.forgetting(r) - own["forgetting"] if past else None,
            "readout_share": readout_share(p, r) if past else None}


def block(initial: dict[str, Any], rows: list[dict[str, Any]], matrices: dict[str, list[list[float]]]
          ) -> dict[str, Any]:
    """A result file's ``"probe"`` block from ``probe.probe_row``'s rows (untrained, then after each task)
    and the detector's own matrices R (the result's ``"matrices"``)."""
    settings = initial["settings"]
    if any(row["settings"] != settings for row in rows):
        raise ValueError("every probe row must be made with the same settings")
    probe_matrices = {name: [row[name] for row in rows] for name in METRICS}
    return {"matrices": probe_matrices,
            "initial": {name: initial[name] for name in METRICS},
            "summary": {name: summarise(probe_matrices[name], initial[name], matrices[name]) for name in METRICS},
            "chosen_C": {"matrix": [row["C"] for row in rows], "initial": initial["C"]},
            "settings": settings, "seconds": {"initial": initial["seconds"], "rows": [row["seconds"] for row in rows]}}


def _square(value, t: int) -> bool:
    return isinstance(value, list) and len(value) == t and all(_row(r, t) for r in value)


def _row(value, t: int) -> bool:
    return isinstance(value, list) and len(value) == t and all(
        v is None or (isinstance(v, (int, float)) and (math.isnan(v) or 0.0 <= v <= 1.0)) for v in value)


def check(probe: Any, matrices: dict[str, list[list[float]]], path) -> None:
    """Raise ResultError naming the file and field when a result's ``"probe"`` block is malformed or its
    summaries are not what its matrices and the detector's R imply."""
    def fail(message: str):
        raise ResultError(f"{path}: probe.{message}; rerun with `dfcl run --force` to recompute the probes")

    if not isinstance(probe, dict):
        fail("must be an object (or leave the 'probe' key out)")
    for key in ("matrices", "initial", "summary", "chosen_C", "settings"):
        if not isinstance(probe.get(key), dict):
            fail(f"{key} is missing or not an object")
    t = len(matrices["auc"])
    for name in METRICS:
        if not _square(probe["matrices"].get(name), t):
            fail(f"matrices.{name} must be {t}×{t} scores in [0, 1] (row i = after training task i)")
        if not _row(probe["initial"].get(name), t):
            fail(f"initial.{name} must list {t} scores in [0, 1]")
        recorded = probe["summary"].get(name)
        if not isinstance(recorded, dict):
            fail(f"summary.{name} is missing")
        expected = summarise(probe["matrices"][name], probe["initial"][name], matrices[name])
        for key, value in expected.items():
            if not metrics.same_number(recorded.get(key), value):
                fail(f"summary.{name}.{key} = {recorded.get(key)} but the probe and detector matrices give {value}")
    chosen = probe["chosen_C"]
    if not (isinstance(chosen.get("matrix"), list) and len(chosen["matrix"]) == t
            and all(isinstance(r, list) and len(r) == t for r in chosen["matrix"])
            and isinstance(chosen.get("initial"), list) and len(chosen["initial"]) == t):
        fail(f"chosen_C must hold a {t}×{t} 'matrix' and a {t}-long 'initial' row of the regularisation chosen")


def seed_values(probes: list[dict[str, Any] | None], metric: str, key: str) -> np.ndarray:
    """One summary of each seed's probe block, NaN where a seed has none (or the summary is undefined)."""
    return np.array([math.nan if p is None or p["summary"][metric][key] is None else p["summary"][metric][key]
                     for p in probes], dtype=np.float64)
