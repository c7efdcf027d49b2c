"""Result files: one JSON per (scenario, strategy, detector, seed), schema version 1 (DESIGN.md).

Written atomically (temporary file + rename), so an interrupted run never leaves a half-written result.
``load`` validates a file and checks that its summaries are the ones its matrices imply, so numbers
typed in by hand are caught. Leaderboard, plots and tables read results only through here.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics, readout
from .errors import ResultError

SCHEMA_VERSION = 1
PROVENANCE_KEYS = ("dfcl_version", "git_commit", "config_hash", "torch", "device", "wall_seconds",
                   "peak_memory_mb", "started_at")


def run_dir(results_dir: Path, scenario: str, strategy_label: str, detector: str) -> Path:
    return Path(results_dir) / scenario / f"{strategy_label}--{detector}"


def result_path(results_dir: Path, scenario: str, strategy_label: str, detector: str, seed: int) -> Path:
    return run_dir(results_dir, scenario, strategy_label, detector) / f"seed{seed}.json"


def scores_path(result: Path) -> Path:
    """Where a result's raw per-sample scores are saved, beside it."""
    return result.with_suffix(".scores.npz")


def jsonable(value: Any) -> Any:
    """NaN and infinities become null (JSON has no NaN); numpy scalars and arrays become Python values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_atomic(path: Path, payload: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = payload.encode() if isinstance(payload, str) else payload
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write(path: Path, result: dict[str, Any]) -> None:
    validate(result, path)
    write_atomic(path, json.dumps(jsonable(result), indent=1, sort_keys=False) + "\n")


def as_matrix(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[math.nan if v is None else v for v in row] for row in rows], dtype=np.float64)


def _fail(path, message: str):
    raise ResultError(f"{path}: {message}")


def validate(result: dict[str, Any], path: Path | str = "<result>") -> None:
    """Raise ResultError naming the file and field when ``result`` breaks schema version 1."""
    if not isinstance(result, dict):
        _fail(path, "a result must be a JSON object")
    if result.get("schema_version") != SCHEMA_VERSION:
        _fail(path, f"schema_version must be {SCHEMA_VERSION}, found {result.get('schema_version')!r}")
    for key in ("scenario", "strategy", "detector", "seed", "matrices", "initial", "summary", "provenance",
                "config"):
        if key not in result:
            _fail(path, f"missing field '{key}'")
    tasks = result["scenario"].get("tasks")
    if not isinstance(tasks, list) or not tasks:
        _fail(path, "scenario.tasks must be a non-empty list")
    for key in ("name", "version", "fingerprint"):
        if not result["scenario"].get(key):
            _fail(path, f"missing scenario.{key}")
    for part in ("strategy", "detector"):
        if not result[part].get("name") or not isinstance(result[part].get("params"), dict):
            _fail(path, f"{part} needs a name and a params object")
    t = len(tasks)
    for name in metrics.SCORE_METRICS:
        matrix = result["matrices"].get(name)
        if not isinstance(matrix, list) or len(matrix) != t or any(not isinstance(r, list) or len(r) != t
                                                                    for r in matrix):
            _fail(path, f"matrices.{name} must be {t}×{t} (one row per task trained, one column per task)")
        initial = result["initial"].get(name)
        if not isinstance(initial, list) or len(initial) != t:
            _fail(path, f"initial.{name} must list {t} values")
    for name in metrics.SUMMARISED_METRICS:
        recorded = result["summary"].get(name)
        if not isinstance(recorded, dict):
            _fail(path, f"missing summary.{name}")
        expected = metrics.summarise(as_matrix(result["matrices"][name]),
                                     as_matrix([result["initial"][name]])[0])
        for key, value in expected.items():
            stored = recorded.get(key)
            same = (stored is None and (value is None or math.isnan(value))) or (
                stored is not None and value is not None and math.isclose(stored, value, abs_tol=1e-9))
            if not same:
                _fail(path, f"summary.{name}.{key} = {stored} but the matrices give {value}")
    if "probe" in result:  # optional: linear probes on the frozen features (benchmark/readout.py)
        readout.check(result["probe"], result["matrices"], path)
    missing = [key for key in PROVENANCE_KEYS if key not in result["provenance"]]
    if missing:
        _fail(path, f"provenance lacks {missing}")


def load(path: Path) -> dict[str, Any]:
    try:
        result = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResultError(f"cannot read result file {path}: {error}") from None
    validate(result, path)
    return result


def find(results_dir: Path) -> list[Path]:
    """Every result file below ``results_dir``, in a stable order."""
    return sorted(Path(results_dir).glob("*/*--*/seed*.json"))
