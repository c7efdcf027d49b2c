"""The offline ``synthetic`` source: real photos from pip wheels, fakes from generator-fingerprint
processes. See ``build.py`` for sampling and ``families.py`` for the fingerprints."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

import torch

from benchmark.errors import ConfigError

from ..scenario import SPLITS, ArrayDataset, Task
from .build import SyntheticSpec, load_or_build
from .families import FAMILIES

__all__ = ["FAMILIES", "SyntheticSpec", "load_tasks"]


def _spec(task_names: list[str], params: dict[str, Any], where: str) -> SyntheticSpec:
    known = {f.name for f in fields(SyntheticSpec)} - {"families"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown synthetic parameter(s) {unknown}; known: {sorted(known)}")
    coerced = {name: tuple(value) for name, value in params.items() if isinstance(value, list)}
    if "generator_version" in params:  # YAML and --scenario-param read `1` as a number
        coerced["generator_version"] = str(params["generator_version"])
    try:
        return SyntheticSpec(families=tuple(task_names), **{**params, **coerced})
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from None


def load_tasks(task_names: list[str], params: dict[str, Any], where: str) -> tuple[list[Task], str, dict[str, Any]]:
    """Tasks for the given families, the data fingerprint, and the resolved generator parameters."""
    spec = _spec(task_names, params, where)
    arrays, fingerprint = load_or_build(spec)
    tasks = []
    for family in task_names:
        splits = {split: ArrayDataset(torch.from_numpy(arrays[f"{family}/{split}/x"]),
                                      torch.from_numpy(arrays[f"{family}/{split}/y"])) for split in SPLITS}
        tasks.append(Task(family, **splits))
    resolved = {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(spec).items() if key != "families"}
    return tasks, fingerprint, resolved
