"""Hand-written result files *with* a probe block: make_result writes none. The block is built by
readout.block from a given probe matrix P, so its summaries are the ones P and the result's R imply."""

from __future__ import annotations

from benchmark import readout
from conftest import make_result

SETTINGS = {"solver": "hand-written", "train_per_class": 0}


def probe_row(values: list[float]) -> dict:
    return {"auc": list(values), "acc": list(values), "C": [1.0] * len(values), "settings": SETTINGS,
            "seconds": 0.0}


def with_probe(result: dict, probe: list[list[float]], initial: list[float] | None = None) -> dict:
    """``result`` with a probe block whose AUC (and accuracy) matrix is ``probe``."""
    initial = initial or [0.5] * len(probe)
    result["probe"] = readout.block(probe_row(initial), [probe_row(row) for row in probe], result["matrices"])
    return result


def make_probed_result(auc: list[list[float]], probe: list[list[float]], **kwargs) -> dict:
    return with_probe(make_result(auc, **kwargs), probe)
