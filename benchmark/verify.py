"""``dfcl verify``: whether a result file can be trusted without rerunning it, field by field.

A submitted result is checked against everything that can contradict it: its schema; its summaries,
recomputed from its matrices; every cell of its matrices and of its untrained row (AUC, accuracy, AP, EER),
recomputed from the raw scores saved beside it (``seed<N>.scores.npz``); its config hash, recomputed from
its config, and that config's agreement with the strategy, detector and scenario the file names; its
provenance, complete; and its data fingerprint, against the one the scenario's YAML publishes for that
version.

Two kinds of problem, because they mean different things to a reader:

* **rejected** — the file contradicts itself, its scores, its config or its provenance (a number edited by
  hand, a foreign scores file, a missing fingerprint). The leaderboard, tables and plots refuse such files
  (``leaderboard.collect`` runs these checks), naming file and field.
* **unverified** — nothing contradicts it, but something needed to check it is missing: no raw scores, a
  scenario with no published fingerprint, data that are not the published data. Such files are shown, marked
  ✗ in the leaderboard's *Verified* column; ``dfcl verify`` fails on them as on rejections, since a
  submission must be checkable.

Pure numpy and YAML: no torch, so the leaderboard stays light.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from . import metrics, results
from .errors import ConfigError, ResultError

REJECTED, UNVERIFIED = "rejected", "unverified"
#: Provenance fields that may be null: a package installed from a wheel has no git checkout.
NULLABLE_PROVENANCE = {"git_commit"}
TOLERANCE = 1e-9  # recomputed from the same float32 scores, a metric agrees to rounding


@dataclass(frozen=True)
class Problem:
    path: Path
    field: str
    message: str
    kind: str  # REJECTED or UNVERIFIED
    check: str  # schema, summary, matrices, config, provenance, scores, data

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"


@dataclass
class FileReport:
    path: Path
    result: dict[str, Any] | None = None  # the upgraded result, once its structure is valid
    problems: list[Problem] = field(default_factory=list)

    @property
    def rejected(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == REJECTED]

    @property
    def unverified(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == UNVERIFIED]

    @property
    def verified(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Published:
    """What a scenario YAML publishes: its data fingerprint (if any) and the parameters that produce it."""

    path: Path
    fingerprint: str | None
    params: dict[str, Any]


def _scenario_dir() -> Path:
    """The bundled ``scenarios/`` folder, found without importing the package (which imports torch)."""
    return Path(find_spec("scenarios").submodule_search_locations[0])


def _read_published(path: Path) -> tuple[tuple[str, str], Published]:
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read scenario file {path}: {error}") from None
    if not isinstance(spec, dict) or "name" not in spec or "version" not in spec:
        raise ConfigError(f"{path} is not a scenario YAML (it needs at least 'name' and 'version')")
    return (str(spec["name"]), str(spec["version"])), Published(path, spec.get("fingerprint"),
                                                                 results.jsonable(spec.get("params") or {}))


@lru_cache(maxsize=1)
def _bundled() -> dict[tuple[str, str], Published]:
    return dict(_read_published(path) for path in sorted(_scenario_dir().glob("*.yaml")))


def published_scenarios(extra: tuple[Path, ...] | list[Path] = ()) -> dict[tuple[str, str], Published]:
    """(name, version) → what its YAML publishes: the bundled scenarios, plus ``extra`` YAMLs (a user's own
    scenarios), which may not contradict a bundled one."""
    known = dict(_bundled())
    for path in extra:
        key, published = _read_published(Path(path))
        if key in known and known[key].fingerprint != published.fingerprint:
            raise ConfigError(f"{path} publishes scenario {key[0]} version {key[1]} with fingerprint "
                              f"{published.fingerprint}, but {known[key].path} publishes {known[key].fingerprint}")
        known[key] = published
    return known


class _Checker:
    """The checks of one file, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path):
        self.report = FileReport(Path(path))

    def add(self, kind: str, check: str, where: str, message: str) -> None:
        self.report.problems.append(Problem(self.report.path, where, message, kind, check))

    def run(self, published: dict[tuple[str, str], Published]) -> FileReport:
        path = self.report.path
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            self.add(REJECTED, "schema", "file", f"cannot be read as JSON: {error}")
            return self.report
        result = results.upgrade(raw)
        try:
            results.check_structure(result, path)
            results.check_location(path, result)
        except ResultError as error:
            self.add(REJECTED, "schema", "schema", str(error).removeprefix(f"{path}: "))
            return self.report
        except (AttributeError, TypeError) as error:  # a field of the wrong JSON type where an object belongs
            self.add(REJECTED, "schema", "schema", f"malformed: {error}")
            return self.report
        self.report.result = result
        for where, message in results.summary_mismatches(result):
            self.add(REJECTED, "summary", where, message)
        self.provenance(result, schema=raw.get("schema_version"))
        self.config(result)
        self.scores(result)
        self.data(result, published)
        return self.report

    def provenance(self, result: dict[str, Any], *, schema: Any) -> None:
        recorded = result["provenance"]
        for key in results.PROVENANCE_KEYS:
            if recorded.get(key) is None and key not in NULLABLE_PROVENANCE:
                self.add(REJECTED, "provenance", f"provenance.{key}", "missing" if key not in recorded else "null")
        if recorded.get("data_fingerprint") not in (None, result["scenario"]["fingerprint"]):
            self.add(REJECTED, "provenance", "provenance.data_fingerprint",
                     f"{recorded['data_fingerprint']} is not scenario.fingerprint {result['scenario']['fingerprint']}")
        if "seed" in recorded and recorded["seed"] != result["seed"]:
            self.add(REJECTED, "provenance", "provenance.seed", f"{recorded['seed']} but the file is seed {result['seed']}")
        if schema != 1:  # schema 1 predates plugins: its strategy and detector can only be built-ins
            for key in ("packages", "resources"):
                if not isinstance(recorded.get(key), dict):
                    self.add(UNVERIFIED, "provenance", f"provenance.{key}",
                             "not recorded (the file predates it): which package made the strategy and detector, "
                             "and what they used, are unknown; rerun it with this version")

    def config(self, result: dict[str, Any]) -> None:
        config, recorded = result["config"], result["provenance"].get("config_hash")
        if isinstance(config, dict) and recorded is not None and results.config_hash(config) != recorded:
            self.add(REJECTED, "config", "provenance.config_hash",
                     f"{recorded} but the config gives {results.config_hash(config)}: the config was edited "
                     f"after the run")
        expected = {"scenario": ("name", "version", "tasks"), "strategy": ("name", "label", "params"),
                    "detector": ("name", "params")}
        for part, keys in expected.items():
            section = config.get(part) if isinstance(config, dict) else None
            if not isinstance(section, dict):
                self.add(REJECTED, "config", f"config.{part}", "missing: the run's resolved configuration is needed")
                continue
            for key in keys:
                if results.jsonable(section.get(key)) != results.jsonable(result[part].get(key)):
                    self.add(REJECTED, "config", f"{part}.{key}",
                             f"{result[part].get(key)!r} but config.{part}.{key} is {section.get(key)!r}")

    def scores(self, result: dict[str, Any]) -> None:
        path = results.scores_path(self.report.path)
        if not path.is_file():
            self.add(UNVERIFIED, "scores", path.name,
                     "no raw scores beside the result, so its matrices cannot be recomputed; rerun it without "
                     "--no-scores and submit the .scores.npz with it")
            return
        try:
            with np.load(path) as stored:
                arrays = {key: stored[key] for key in stored.files}
        except (OSError, ValueError) as error:
            self.add(REJECTED, "scores", path.name, f"cannot be read: {error}")
            return
        tasks = len(result["scenario"]["tasks"])
        sizes = result.get("test_sizes")
        rows = [("initial", None, "scores_init_t{j}")] + [("matrices", i, f"scores_after{i}_t{{j}}") for i in range(tasks)]
        for j in range(tasks):
            labels = arrays.get(f"labels_t{j}")
            if labels is None:
                self.add(REJECTED, "scores", f"{path.name}:labels_t{j}", "missing")
                continue
            if isinstance(sizes, list) and len(sizes) == tasks and sizes[j] != labels.size:
                self.add(REJECTED, "scores", f"test_sizes[{j}]", f"{sizes[j]} but the scores hold {labels.size} labels")
            for part, i, key in rows:
                self.cell(result, path, part, i, j, labels, arrays.get(key.format(j=j)), key.format(j=j))

    def cell(self, result, path: Path, part: str, i: int | None, j: int, labels, scores, key: str) -> None:
        if scores is None:
            self.add(REJECTED, "scores", f"{path.name}:{key}", "missing")
            return
        try:
            recomputed = metrics.score(labels, scores)
        except ValueError as error:
            self.add(REJECTED, "scores", f"{path.name}:{key}", str(error))
            return
        for name, value in recomputed.items():
            stored = result[part][name][j] if i is None else result[part][name][i][j]
            where = f"initial.{name}[{j}]" if i is None else f"matrices.{name}[{i}][{j}]"
            if not metrics.same_number(stored, value, TOLERANCE):
                self.add(REJECTED, "matrices", where, f"{stored} but its raw scores ({key}) give {value:.6g}")

    def data(self, result: dict[str, Any], published: dict[tuple[str, str], Published]) -> None:
        scenario = result["scenario"]
        name, version, fingerprint = scenario["name"], str(scenario["version"]), scenario["fingerprint"]
        known = published.get((name, version))
        if known is None:
            versions = sorted(v for n, v in published if n == name)
            self.add(UNVERIFIED, "data", "scenario.version" if versions else "scenario.name",
                     f"{name} version {version} is not a published scenario here"
                     + (f" (published versions: {', '.join(versions)})" if versions else "")
                     + "; its data fingerprint cannot be checked (`dfcl verify --scenario FILE` names its YAML)")
            return
        if not known.fingerprint:
            self.add(UNVERIFIED, "data", "scenario.fingerprint",
                     f"{known.path.name} records no fingerprint for {name} version {version}, so its data cannot "
                     f"be checked")
            return
        if fingerprint == known.fingerprint:
            return
        config = result["config"] if isinstance(result["config"], dict) else {}
        params = (config.get("scenario") or {}).get("params") or {}
        changed = [f"{key} {params.get(key)!r} vs {value!r}" for key, value in known.params.items()
                   if results.jsonable(params.get(key)) != value]
        why = (f"its scenario params differ from {known.path.name}'s ({', '.join(changed)})" if changed else
               f"its scenario params agree with {known.path.name}'s, so the data were built differently (another "
               f"generator version, or a parameter the YAML leaves at its default)")
        self.add(UNVERIFIED, "data", "scenario.fingerprint",
                 f"{fingerprint} is not the published {known.fingerprint} of {name} version {version}: not the "
                 f"published data, {why}")


def check(path: Path, published: dict[tuple[str, str], Published] | None = None) -> FileReport:
    """Every problem of one result file (see the module docstring for the two kinds)."""
    return _Checker(path).run(published_scenarios() if published is None else published)


def check_all(paths, published: dict[tuple[str, str], Published] | None = None) -> list[FileReport]:
    published = published_scenarios() if published is None else published
    return [check(Path(p), published) for p in paths]


def refuse_rejected(reports: list[FileReport], what: str) -> None:
    """Stop with every rejected file and field listed: what ``dfcl verify`` rejects is never drawn or ranked."""
    rejected = [str(p) for report in reports for p in report.rejected]
    if rejected:
        raise ResultError(f"{what}: `dfcl verify` rejects {len({p.path for r in reports for p in r.rejected})} "
                          f"result file(s), which are never ranked, tabulated or drawn. Rerun them with "
                          f"`dfcl run --force`, or remove them:\n  " + "\n  ".join(rejected))


def render(reports: list[FileReport]) -> str:
    """One line per file (✓ or ✗), then each of its problems with its field, for ``dfcl verify``."""
    lines = []
    for report in reports:
        lines.append(f"{'✓' if report.verified else '✗'} {report.path}")
        for problem in report.problems:
            lines.append(f"    {problem.kind}: {problem.field}: {problem.message}")
    good = sum(report.verified for report in reports)
    lines.append(f"{good} of {len(reports)} result file(s) verified")
    return "\n".join(lines) + "\n"
