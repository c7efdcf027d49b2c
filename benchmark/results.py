"""Result files: one JSON per (scenario, strategy, detector, seed), schema version 2 (DESIGN.md).

Written atomically (temporary file + rename), so an interrupted run never leaves a half-written result.
``load`` validates a file and checks that its summaries are the ones its matrices imply, so numbers
typed in by hand are caught. Leaderboard, plots and tables read results only through here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics, orders, readout
from .errors import ConfigError, ResultError

SCHEMA_VERSION = 2  # 2 added the training losses ("training") and the run's warnings; 1 is read and upgraded
PROVENANCE_KEYS = ("dfcl_version", "git_commit", "config_hash", "data_fingerprint", "torch", "device",
                   "wall_seconds", "peak_memory_mb", "started_at")
SEED_FILE = re.compile(r"seed(0|[1-9][0-9]*)\.json")


def checked_seeds(value: Any, where: str) -> list[int]:
    """Seeds as a list of non-negative integers (``seeds: 0`` or ``seeds: [zero]`` is a clear error)."""
    values = value if isinstance(value, list) else None
    if not values or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in values):
        raise ConfigError(f"{where}: seeds must be a non-empty list of integers ≥ 0 (e.g. [0, 1, 2]), got {value!r}")
    return values


def checked_dir(path: Path | str, flag: str, *, must_exist: bool = False) -> Path:
    """A results folder from the user, ``~`` expanded, checked before any work: not a file, and present
    when ``must_exist`` (a command that only reads results)."""
    folder = Path(os.path.expanduser(str(path)))
    if folder.exists() and not folder.is_dir():
        raise ResultError(f"{flag} {path}: is a file, not a folder; name the folder that holds (or will hold) "
                          f"the result files")
    if must_exist and not folder.is_dir():
        raise ResultError(f"{flag} {path}: no such folder (check the path; result files live in "
                          f"<results>/<scenario>/<strategy>--<detector>/seed<N>.json)")
    return folder


def checked_output(path: Path | str, flag: str) -> Path:
    """An output file from the user, ``~`` expanded: not an existing folder, and its folder not a file."""
    file = Path(os.path.expanduser(str(path)))
    if file.is_dir():
        raise ResultError(f"{flag} {path}: is a folder; name the file to write")
    if file.parent.exists() and not file.parent.is_dir():
        raise ResultError(f"{flag} {path}: {file.parent} is a file, not a folder")
    return file


def run_dir(results_dir: Path, scenario: str, strategy_label: str, detector: str, order: int = 0) -> Path:
    """A run's folder; a task order other than the scenario's own is its own scenario folder (``orders``)."""
    return Path(results_dir) / orders.folder(scenario, order) / f"{strategy_label}--{detector}"


def result_path(results_dir: Path, scenario: str, strategy_label: str, detector: str, seed: int,
                order: int = 0) -> Path:
    return run_dir(results_dir, scenario, strategy_label, detector, order) / f"seed{seed}.json"


def order_of(result: dict[str, Any]) -> int:
    """The task order a result was trained in (0 = the scenario's own, also for files older than orders)."""
    return orders.index(result["scenario"])


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


def config_hash(config: dict[str, Any]) -> str:
    """The identity of a run's resolved configuration, recorded as ``provenance.config_hash``."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def as_matrix(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[math.nan if v is None else v for v in row] for row in rows], dtype=np.float64)


def _fail(path, message: str):
    raise ResultError(f"{path}: {message}")


def upgrade(result: dict[str, Any]) -> dict[str, Any]:
    """A schema 1 result as schema 2: it recorded no training losses or warnings (they become null / none)."""
    if isinstance(result, dict) and result.get("schema_version") == 1:
        tasks = len(result.get("scenario", {}).get("tasks") or [])
        result = {**result, "schema_version": 2, "training": {"loss": [None] * tasks, "loss_per_epoch": []},
                  "warnings": []}
    return result


def validate(result: dict[str, Any], path: Path | str = "<result>") -> None:
    """Raise ResultError naming the file and field when ``result`` breaks schema version 2."""
    check_structure(result, path)
    for _, message in summary_mismatches(result)[:1]:
        _fail(path, message)
    if "probe" in result:  # optional: linear probes on the frozen features (benchmark/readout.py)
        readout.check(result["probe"], result["matrices"], path)
    missing = [key for key in PROVENANCE_KEYS if key not in result["provenance"]]
    if missing:
        _fail(path, f"provenance lacks {missing}")


def check_structure(result: dict[str, Any], path: Path | str = "<result>") -> None:
    """Every field of schema version 2 present with its shape and type; values are not cross-checked here
    (``summary_mismatches``; ``verify`` checks the rest)."""
    if not isinstance(result, dict):
        _fail(path, "a result must be a JSON object")
    if result.get("schema_version") != SCHEMA_VERSION:
        _fail(path, f"schema_version must be {SCHEMA_VERSION} (or 1, upgraded on load), found "
                    f"{result.get('schema_version')!r}")
    for key in ("scenario", "strategy", "detector", "seed", "matrices", "initial", "summary", "provenance",
                "config", "training", "warnings"):
        if key not in result:
            _fail(path, f"missing field '{key}'")
    tasks = result["scenario"].get("tasks")
    if not isinstance(tasks, list) or not tasks:
        _fail(path, "scenario.tasks must be a non-empty list")
    for key in ("name", "version", "fingerprint"):
        if not result["scenario"].get(key):
            _fail(path, f"missing scenario.{key}")
    malformed = orders.check_recorded(result["scenario"])
    if malformed:
        _fail(path, malformed)
    for part in ("strategy", "detector"):
        if not result[part].get("name") or not isinstance(result[part].get("params"), dict):
            _fail(path, f"{part} needs a name and a params object")
    if not isinstance(result["seed"], int) or isinstance(result["seed"], bool):
        _fail(path, f"seed must be an integer, found {result['seed']!r}")
    t = len(tasks)
    for name in metrics.SCORE_METRICS:
        matrix = result["matrices"].get(name)
        if not isinstance(matrix, list) or len(matrix) != t or any(not isinstance(r, list) or len(r) != t
                                                                    for r in matrix):
            _fail(path, f"matrices.{name} must be {t}×{t} (one row per task trained, one column per task)")
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                _number_or_null(path, f"matrices.{name}[{i}][{j}]", value)
        initial = result["initial"].get(name)
        if not isinstance(initial, list) or len(initial) != t:
            _fail(path, f"initial.{name} must list {t} values")
        for j, value in enumerate(initial):
            _number_or_null(path, f"initial.{name}[{j}]", value)
    losses = result["training"].get("loss") if isinstance(result["training"], dict) else None
    if not isinstance(losses, list) or len(losses) != t:
        _fail(path, f"training.loss must list {t} values (the mean training loss of each task, or null)")
    for j, value in enumerate(losses):
        _number_or_null(path, f"training.loss[{j}]", value)
    if not isinstance(result["warnings"], list) or not all(isinstance(w, str) for w in result["warnings"]):
        _fail(path, "warnings must be a list of messages")
    for name in metrics.SUMMARISED_METRICS:
        if not isinstance(result["summary"].get(name), dict):
            _fail(path, f"missing summary.{name}")
    if not isinstance(result["provenance"], dict):
        _fail(path, "provenance must be an object")


def summary_mismatches(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every summary that is not what the matrices imply, e.g. a number typed in."""
    found = []
    for name in metrics.SUMMARISED_METRICS:
        recorded = result["summary"][name]
        expected = metrics.summarise(as_matrix(result["matrices"][name]), as_matrix([result["initial"][name]])[0])
        for key, value in expected.items():
            stored = recorded.get(key)
            if not metrics.same_number(stored, value):
                found.append((f"summary.{name}.{key}", f"summary.{name}.{key} = {stored} but the matrices give {value}"))
    return found


def _number_or_null(path, field: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        _fail(path, f"{field} must be a number or null, found {value!r}")


def load(path: Path) -> dict[str, Any]:
    """A validated result (schema 1 files upgraded), checked to sit where its content says it belongs."""
    try:
        result = upgrade(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultError(f"cannot read result file {path}: {error}") from None
    validate(result, path)
    check_location(Path(path), result)
    return result


def check_location(path: Path, result: dict[str, Any]) -> None:
    """A result file must be ``<scenario>[+order<k>]/<strategy label>--<detector>/seed<N>.json`` of its own
    content: a copied or renamed file or folder would otherwise count as another seed, method or order."""
    expected = Path(orders.folder(result["scenario"]["name"], order_of(result))) / \
        f"{result['strategy'].get('label', result['strategy']['name'])}--{result['detector']['name']}" / \
        f"seed{result['seed']}.json"
    if path.parts[-3:] != expected.parts:
        _fail(path, f"its content is {expected}, but it lies at {Path(*path.parts[-3:])}: a copied or renamed "
                    f"result is not counted. Move it back, or delete the copy")


def find(results_dir: Path) -> list[Path]:
    """Every result file below ``results_dir``, in a stable order; any other JSON file there (a copy such as
    ``seed0 (copy).json``, a file outside ``<scenario>/<run>/``) is an error naming it, never a silent extra
    seed."""
    root = Path(results_dir)
    found, stray = [], []
    for path in sorted(root.rglob("*.json")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue  # hidden: temporary files of an atomic write, editor or VCS folders
        canonical = len(relative.parts) == 3 and "--" in relative.parts[1] and SEED_FILE.fullmatch(relative.name)
        (found if canonical else stray).append(path)
    if stray:
        raise ResultError("not result files in the layout <scenario>/<strategy>--<detector>/seed<N>.json: "
                          + ", ".join(str(p) for p in stray[:10]) + (f" and {len(stray) - 10} more" if len(stray) > 10
                                                                     else "")
                          + ". Move or delete them (a copy would count as another seed).")
    return found
