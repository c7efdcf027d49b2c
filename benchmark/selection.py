"""The result files behind one figure, table or comparison: one scenario, the chosen runs, checked
comparable, with their matrices and (where saved) raw scores.

A *run* is (strategy label, detector), named like its folder: ``<strategy>--<detector>``. Numbers drawn
or tabulated together must come from the same data (scenario fingerprint), and the seeds of one run from
one configuration, or they are not comparable; as for the leaderboard we then stop, naming the files.

A selection is of one task order (``order``, default 0: the scenario's own), which every per-run method
reads; ``by_order`` holds the chosen runs' results in every order they were trained in (``orders.py``), for
the task-order sensitivity table and figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd

from . import leaderboard, orders, results
from .errors import ResultError


@dataclass(frozen=True)
class Selection:
    scenario: str
    tasks: tuple[str, ...]
    frame: pd.DataFrame  # one row per result file of the selection's order: run, label, strategy, detector, seed, path, result
    by_order: pd.DataFrame  # the same columns (and row order), for every task order of the chosen runs
    order: int = 0

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
        return [load_scores(path) for path in rows["path"]]

    def _rows(self, run: str) -> pd.DataFrame:
        return self.frame[self.frame["run"] == run].sort_values("seed")

    @property
    def orders(self) -> list[int]:
        """Every task order some chosen run was trained in."""
        return sorted(set(self.by_order["order"]))

    def order_tasks(self, order: int) -> tuple[str, ...]:
        return self.by_order.loc[self.by_order["order"] == order, "tasks"].iloc[0]

    def order_summaries(self, metric: str = "auc") -> pd.DataFrame:
        """One row per (run, order, seed): run, label, order, seed and the summaries, in selection order."""
        return pd.DataFrame([{"run": run, "label": label, "order": order, "seed": seed, **result["summary"][metric]}
                             for run, label, order, seed, result in
                             self.by_order[["run", "label", "order", "seed", "result"]].itertuples(index=False)])

    def final_by_task(self, run: str, metric: str = "auc") -> tuple[list[int], np.ndarray]:
        """The orders ``run`` was trained in and, per order, the final model's score on each task (mean over
        seeds), columns in the selection's task order whatever the training order was."""
        rows = self.by_order[self.by_order["run"] == run]
        found = sorted(set(rows["order"]))
        finals = [np.mean([orders.by_name(results.as_matrix(r["matrices"][metric])[-1], list(tasks), list(self.tasks))
                           for r, tasks in zip(part["result"], part["tasks"])], axis=0)
                  for _, part in rows.groupby("order")]
        return found, np.array(finals)


def load_scores(result_path: Path) -> dict[str, np.ndarray]:
    """A result's saved scores; ``leaderboard.collect`` has verified that they reproduce its matrices, so a
    stale or foreign scores file never lends its numbers to another result."""
    path = results.scores_path(result_path)
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def select(results_dir: Path, scenario: str, runs: list[str] | None = None, order: int = 0) -> Selection:
    """The results of ``scenario`` in task order ``order`` for ``runs`` (each ``strategy``,
    ``strategy--detector`` or a shell-style pattern such as ``*--smallcnn``; default all), in the order given.
    Raises ResultError when nothing matches or the runs are not comparable."""
    frame = leaderboard.collect(results_dir)
    if frame.empty or scenario not in set(frame["scenario"]):
        found = sorted(set(frame["scenario"])) if not frame.empty else []
        raise ResultError(f"no results for scenario '{scenario}' under {results_dir}/ (found: {found or 'none'}); "
                          f"run `dfcl run --scenario {scenario} …` first or pass --results-dir")
    frame = frame[frame["scenario"] == scenario].copy()
    leaderboard.require_consistent(frame, "fingerprint", f"the data fingerprints of the '{scenario}' results")
    if order not in set(frame["order"]):
        raise ResultError(f"no results for scenario '{scenario}' in task order {order} under {results_dir}/ "
                          f"(orders found: {', '.join(map(str, sorted(set(frame['order']))))})")
    every_order = frame
    frame = frame[frame["order"] == order].copy()
    frame["run"] = frame["strategy"] + "--" + frame["detector"]
    available = sorted(set(frame["run"]))
    picked: list[str] = []
    for token in runs or available:
        matched = sorted(run for run, strategy in zip(frame["run"], frame["strategy"])
                         if fnmatchcase(run, token) or strategy == token)
        if not matched:
            raise ResultError(f"no run '{token}' in scenario '{scenario}' under {results_dir}/; "
                              f"available: {', '.join(available)}")
        picked += [r for r in matched if r not in picked]
    one_detector = frame.loc[frame["run"].isin(picked), "detector"].nunique() == 1
    chosen = every_order.assign(run=every_order["strategy"] + "--" + every_order["detector"])
    chosen = chosen[chosen["run"].isin(picked)].copy()
    for (run, run_order), group in chosen.groupby(["run", "order"]):
        leaderboard.require_consistent(group, "config_hash", f"the seeds of {run}"
                                       + (f" in task order {run_order}" if run_order else "")
                                       + " were run with configurations that")
    chosen["label"] = chosen["strategy"] if one_detector else chosen["strategy"] + " (" + chosen["detector_label"] + ")"
    chosen["result"] = [results.load(p) for p in chosen["path"]]
    chosen["position"] = chosen["run"].map(picked.index)
    chosen = chosen.sort_values(["position", "order", "seed"]).drop(columns="position").reset_index(drop=True)
    frame = chosen[chosen["order"] == order].reset_index(drop=True)
    return Selection(scenario=scenario, tasks=tuple(frame["tasks"].iloc[0]), frame=frame, order=order, by_order=chosen)
