"""Scenarios: versioned YAML files that name an ordered list of generator families and a data source.

``load("synthetic")`` reads ``scenarios/synthetic.yaml``; ``load("path/to/mine.yaml")`` reads any file of
the same form. ``params`` given here override the file's ``params`` (e.g. smaller sizes for a quick test).
``inventory`` lists what a folder scenario's layout holds and lacks, without building it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import yaml

from benchmark.errors import ConfigError

from .scenario import Scenario, Task

__all__ = ["Scenario", "Task", "available", "inventory", "load", "read_yaml", "SCENARIO_DIR"]

SCENARIO_DIR = Path(__file__).parent
REQUIRED = ("name", "version", "source", "tasks")
OPTIONAL = ("description", "citation", "params", "train", "fingerprint")


def available() -> list[str]:
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.yaml"))


def _path(name_or_path: str | os.PathLike) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"scenario file {path} not found")
        return path
    bundled = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not bundled.is_file():
        raise ConfigError(f"unknown scenario {str(name_or_path)!r}; available: {', '.join(available())} "
                          f"(or give the path of a scenario .yaml file)")
    return bundled


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping, or a ConfigError naming the file."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a YAML mapping at the top level")
    return data


def _validated(path: Path) -> dict[str, Any]:
    data = read_yaml(path)
    missing = [key for key in REQUIRED if key not in data]
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise ConfigError(f"{path}: " + "; ".join(
            ([f"missing field(s) {missing}"] if missing else []) +
            ([f"unknown field(s) {unknown} (known: {list(REQUIRED + OPTIONAL)})"] if unknown else [])))
    tasks = data["tasks"]
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        raise ConfigError(f"{path}: field 'tasks' must be a non-empty list of family names")
    if len(set(tasks)) != len(tasks):
        raise ConfigError(f"{path}: field 'tasks' names a family twice: {tasks}")
    for key in ("params", "train"):
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"{path}: field '{key}' must be a mapping")
    return data


def inventory(name_or_path: str | os.PathLike, *, params: dict[str, Any] | None = None,
              data_root: str | os.PathLike | None = None):
    """For a folder scenario, the dataset root and per task what is on disk and what is missing
    (``folder.inventory``); None for a source that reads nothing from disk."""
    path = _path(name_or_path)
    spec = _validated(path)
    if spec["source"] != "folder":
        return None
    from .folder import inventory as folder_inventory
    return folder_inventory(spec["tasks"], {**spec.get("params", {}), **(params or {})}, str(path), root=data_root)


def load(name_or_path: str | os.PathLike, *, params: dict[str, Any] | None = None,
         data_root: str | os.PathLike | None = None) -> Scenario:
    """Build (or read from cache) every task of a scenario."""
    path = _path(name_or_path)
    spec = _validated(path)
    merged = {**spec.get("params", {}), **(params or {})}
    source = spec["source"]
    if source == "synthetic":
        from .synthetic import load_tasks
        tasks, fingerprint, resolved = load_tasks(spec["tasks"], merged, str(path))
    elif source == "folder":
        from .folder import load_tasks
        tasks, fingerprint, resolved = load_tasks(spec["tasks"], merged, str(path), root=data_root)
    else:
        raise ConfigError(f"{path}: unknown source {source!r}; known: synthetic, folder")
    notes = []
    recorded = spec.get("fingerprint")
    if recorded and not params and recorded != fingerprint:
        notes.append(f"data fingerprint {fingerprint} differs from the one recorded in {path.name} ({recorded})")
        warnings.warn(notes[-1] + ": results may not be comparable with published ones", stacklevel=2)
    if resolved.get("skipped_unreadable"):
        notes.append(f"{resolved['skipped_unreadable']} unreadable image(s) skipped")
    return Scenario(name=str(spec["name"]), version=str(spec["version"]), source=source, tasks=tasks,
                    fingerprint=fingerprint, params=resolved, train_defaults=dict(spec.get("train", {})),
                    description=str(spec.get("description", "")).strip(),
                    citation=str(spec.get("citation", "")).strip(), notes=notes)
