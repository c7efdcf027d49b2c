"""The result files behind one figure, table or comparison: one scenario, the chosen runs, checked
comparable, with their matrices and (where saved) raw scores.

A *run* is (strategy label, detector), named like its folder: ``<strategy>--<detector>``. Numbers drawn
or tabulated together must come from the same data (scenario fingerprint), and the seeds of one run from
one configuration, or they are not comparable; as for the leaderboard we then stop, naming the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd

from . import leaderboard, metrics, results
from .errors import ResultError


@dataclass(frozen=True)
class Selection:
    scenario: str
    tasks: tuple[str, ...]
    frame: pd.DataFrame  # one row per result file: run, label, strategy, detector, seed, path, result

    @property
    def runs(self) -> list[str]:
        return list(dict.fromkeys(self.frame["run"]))

    def label(self, run: str) -> str:
        return self._rows(run)["label"].iloc[0]

    def seeds(self, run: str) -> list[int]:
        return list(self._rows(run)["seed"])

    def matrices(self, run: str, metric: str = "auc") -> np.ndarray:
        """(seeds, T, T): row i = after training task i, column j = tested on task j."""
        return np.stack([results.as_matrix(r["matrices"][metric]) for r in self._rows(run)["result"]])

    def initial(self, run: str, metric: str = "auc") -> np.ndarray:
        """(seeds, T): the untrained model's scores."""
        return np.stack([results.as_matrix([r["initial"][metric]])[0] for r in self._rows(run)["result"]])

    def summaries(self, run: str, metric: str = "auc") -> pd.DataFrame:
        """One row per seed (index), one column per summary (average, forgetting, bwt, fwt…)."""
        rows = self._rows(run)
        return pd.DataFrame([r["summary"][metric] for r in rows["result"]], index=pd.Index(rows["seed"], name="seed"),
                            dtype=float)

    def probes(self, run: str) -> list[dict | None]:
        """Every seed's probe block (``readout.py``), None for a seed run without probes."""
        return [r.get("probe") for r in self._rows(run)["result"]]

    def scores(self, run: str) -> list[dict[str, np.ndarray]] | None:
        """Every seed's raw scores, or None when any seed was run without saving them (``--no-scores``)."""
        rows = self._rows(run)
        if not all(results.scores_path(p).is_file() for p in rows["path"]):
            return None
        return [load_scores(path, result) for path, result in zip(rows["path"], rows["result"])]

    def _rows(self, run: str) -> pd.DataFrame:
        return self.frame[self.frame["run"] == run].sort_values("seed")


def load_scores(result_path: Path, result: dict) -> dict[str, np.ndarray]:
    """A result's saved scores, checked to reproduce its AUC matrix, so a stale or foreign scores file
    can never lend its numbers to another result."""
    path = results.scores_path(result_path)
    try:
        with np.load(path) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError) as error:
        raise ResultError(f"cannot read scores file {path}: {error}") from None
    auc = results.as_matrix(result["matrices"]["auc"])
    tasks = len(auc)
    for i in range(tasks):
        for j in range(tasks):
            for key in (f"labels_t{j}", f"scores_init_t{j}", f"scores_after{i}_t{j}"):
                if key not in arrays:
                    raise ResultError(f"{path}: missing array '{key}'; rerun the result with `dfcl run --force`")
            recomputed = metrics.roc_auc(arrays[f"labels_t{j}"], arrays[f"scores_after{i}_t{j}"])
            if not np.isclose(recomputed, auc[i, j], atol=1e-9, equal_nan=True):
                raise ResultError(f"{path}: scores_after{i}_t{j} give AUC {recomputed:.6f} but {result_path} "
                                  f"records matrices.auc[{i}][{j}] = {auc[i, j]:.6f}; the scores belong to another "
                                  f"run: rerun it with `dfcl run --force` (or delete the scores file)")
    return arrays


def select(results_dir: Path, scenario: str, runs: list[str] | None = None) -> Selection:
    """The results of ``scenario`` for ``runs`` (each ``strategy``, ``strategy--detector`` or a shell-style
    pattern such as ``*--smallcnn``; default all), in the order given. Raises ResultError when nothing matches or the runs are not comparable."""
    frame = leaderboard.collect(results_dir)
    if frame.empty or scenario not in set(frame["scenario"]):
        found = sorted(set(frame["scenario"])) if not frame.empty else []
        raise ResultError(f"no results for scenario '{scenario}' under {results_dir}/ (found: {found or 'none'}); "
                          f"run `dfcl run --scenario {scenario} …` first or pass --results-dir")
    frame = frame[frame["scenario"] == scenario].copy()
    frame["run"] = frame["strategy"] + "--" + frame["detector"]
    available = sorted(set(frame["run"]))
    order: list[str] = []
    for token in runs or available:
        matched = sorted(run for run, strategy in zip(frame["run"], frame["strategy"])
                         if fnmatchcase(run, token) or strategy == token)
        if not matched:
            raise ResultError(f"no run '{token}' in scenario '{scenario}' under {results_dir}/; "
                              f"available: {', '.join(available)}")
        order += [r for r in matched if r not in order]
    frame = frame[frame["run"].isin(order)]
    leaderboard.require_consistent(frame, "fingerprint", f"the data fingerprints of the '{scenario}' results")
    for run, group in frame.groupby("run"):
        leaderboard.require_consistent(group, "config_hash", f"the seeds of {run} were run with configurations that")
    one_detector = frame["detector"].nunique() == 1
    frame["label"] = frame["strategy"] if one_detector else frame["strategy"] + " (" + frame["detector_label"] + ")"
    frame["result"] = [results.load(p) for p in frame["path"]]
    frame["order"] = frame["run"].map(order.index)
    frame = frame.sort_values(["order", "seed"]).drop(columns="order").reset_index(drop=True)
    return Selection(scenario=scenario, tasks=tuple(frame["tasks"].iloc[0]), frame=frame)
