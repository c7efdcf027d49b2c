"""What one seed of a run has measured so far: the untrained model's row, one row per finished task, their
raw scores, timings, training losses and warnings; saved in every checkpoint, so a resumed seed continues
its matrices where they stopped, and turned into the result file's fields when the last task is done."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import metrics, readout

log = logging.getLogger("dfcl")


@dataclass
class SeedProgress:
    tasks: list[str]
    initial: dict[str, list[float]] = field(default_factory=dict)
    initial_scores: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    rows: list[dict[str, list[float]]] = field(default_factory=list)  # one per finished task
    score_rows: list[list[np.ndarray]] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    checkpoint_seconds: list[float] = field(default_factory=list)
    peak_memory_mb: list[float | None] = field(default_factory=list)  # per task, CUDA only (provenance.MemoryMeter)
    epoch_losses: list[list[float]] = field(default_factory=list)  # per task, the mean loss of each epoch
    warnings: list[str] = field(default_factory=list)
    elapsed: float = 0.0  # wall seconds of earlier, interrupted segments of this seed
    resumed_from: list[int] = field(default_factory=list)  # tasks already done at each resume
    initial_probe: dict[str, Any] | None = None  # the linear probes' row of the untrained model (probe.probe_row)
    probe_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return len(self.rows)

    def set_initial(self, row: dict[str, list[float]], scores: list[np.ndarray], labels: list[np.ndarray], *,
                    probe: dict[str, Any] | None = None) -> None:
        self.initial, self.initial_scores, self.labels, self.initial_probe = row, scores, labels, probe
        self._check("the untrained model", scores)

    def add_row(self, row: dict[str, list[float]], scores: list[np.ndarray], *, train_seconds: float,
                eval_seconds: float, epoch_losses: list[float], probe: dict[str, Any] | None = None,
                peak_memory_mb: float | None = None) -> None:
        if probe is not None:
            self.probe_rows.append(probe)
        self.rows.append(row)
        self.score_rows.append(scores)
        self.train_seconds.append(train_seconds)
        self.eval_seconds.append(eval_seconds)
        self.peak_memory_mb.append(peak_memory_mb)
        self.epoch_losses.append(list(epoch_losses))
        self._check(f"the model after task {self.completed} ({self.tasks[self.completed - 1]})", scores)

    def _check(self, model: str, scores: list[np.ndarray]) -> None:
        """Warn, and record in the result, what makes a row's metrics meaningless: non-finite scores (their
        metrics are NaN) or one constant score for every image (a collapsed, probably diverged, model)."""
        for task, values in zip(self.tasks, scores):
            if not metrics.finite(values):
                self._warn(f"{model} gave non-finite (NaN or infinite) scores on {task}: its metrics there are NaN")
        every = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in scores]) if scores else np.zeros(0)
        if every.size > 1 and metrics.finite(every) and np.ptp(every) == 0:
            self._warn(f"{model} gives the same score ({every[0]:.4g}) to every test image: it has collapsed "
                       f"(diverged training?), so its AUCs are 0.5 by construction")

    def _warn(self, message: str) -> None:
        log.warning("warning: %s", message)
        self.warnings.append(message)

    # --- checkpoint round trip (tensors and plain containers only) ---------------------------------

    def state(self) -> dict[str, Any]:
        as_tensors = lambda arrays: [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]  # noqa: E731
        return {"tasks": list(self.tasks), "initial": self.initial, "initial_scores": as_tensors(self.initial_scores),
                "labels": as_tensors(self.labels), "rows": self.rows,
                "score_rows": [as_tensors(row) for row in self.score_rows],
                "train_seconds": self.train_seconds, "eval_seconds": self.eval_seconds,
                "checkpoint_seconds": self.checkpoint_seconds, "epoch_losses": self.epoch_losses,
                "peak_memory_mb": self.peak_memory_mb,
                "warnings": self.warnings, "elapsed": self.elapsed, "resumed_from": self.resumed_from,
                "initial_probe": self.initial_probe, "probe_rows": self.probe_rows}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SeedProgress":
        as_arrays = lambda tensors: [t.numpy() for t in tensors]  # noqa: E731
        return cls(tasks=state["tasks"], initial=state["initial"], initial_scores=as_arrays(state["initial_scores"]),
                   labels=as_arrays(state["labels"]), rows=state["rows"],
                   score_rows=[as_arrays(row) for row in state["score_rows"]],
                   train_seconds=state["train_seconds"], eval_seconds=state["eval_seconds"],
                   checkpoint_seconds=state["checkpoint_seconds"], epoch_losses=state["epoch_losses"],
                   peak_memory_mb=state.get("peak_memory_mb", [None] * len(state["rows"])),
                   warnings=state["warnings"], elapsed=state["elapsed"], resumed_from=state["resumed_from"],
                   initial_probe=state["initial_probe"], probe_rows=state["probe_rows"])

    # --- the result file's fields ----------------------------------------------------------------

    def matrices(self) -> dict[str, list[list[float]]]:
        return {name: [row[name] for row in self.rows] for name in metrics.SCORE_METRICS}

    def result_fields(self) -> dict[str, Any]:
        matrices = self.matrices()
        return {
            "matrices": matrices,
            "initial": self.initial,
            "summary": {name: metrics.summarise(matrices[name], self.initial[name])
                        for name in metrics.SUMMARISED_METRICS},
            "timing": {"train_seconds": self.train_seconds, "eval_seconds": self.eval_seconds,
                       "checkpoint_seconds": self.checkpoint_seconds},
            "memory": {"peak_mb_per_task": self.peak_memory_mb,
                       "kind": "cuda max allocated, per task (training + evaluation)"
                       if any(p is not None for p in self.peak_memory_mb) else "not measured per task on CPU"},
            "training": {"loss": [float(np.mean(e)) if e else None for e in self.epoch_losses],
                         "loss_per_epoch": self.epoch_losses},
            "warnings": self.warnings,
            **({"probe": readout.block(self.initial_probe, self.probe_rows, matrices)}
               if self.initial_probe is not None else {}),
        }
