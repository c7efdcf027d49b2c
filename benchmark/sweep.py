"""Grids of runs handed to an existing engine: ``dfcl sweep GRID.yaml --executor local|ray|slurm``.

A grid (strategies × parameter grids × detectors × seeds × task orders, over one or more scenarios)
expands into *cells*; a cell is one ``runner.run`` of one (scenario, strategy and its parameters, detector,
seed, order), written into the same results tree as ``dfcl run``. The runner already makes a cell
idempotent: a finished cell is skipped, an interrupted one resumes from its last task checkpoint, and one
another process is running is left to it. So an executor only hands cells to an engine that already knows
queues, resources, retries and clusters (Ray tasks; Slurm job arrays through submitit), as Ray Tune and
submitit do: we write the cell, never the scheduler.

Each cell logs to ``<results>/.sweep/<grid>/<cell>.log`` (a hidden folder: result discovery skips it);
every attempt appends to it, so a retried cell's log shows the resume.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import shlex
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

import scenarios
import strategies

from . import checkpoints, detectors, orders, results
from .errors import ConfigError, DataError
from .runner import RunRequest, run, strategy_label
from .training import TrainConfig

log = logging.getLogger("dfcl")

GRID_KEYS = {"name", "scenario", "scenarios", "scenario_params", "strategies", "detectors", "seeds", "orders",
             "train", "device", "threads", "data_root", "results_dir", "save_scores", "resources", "retries",
             "slurm"}
RESOURCE_KEYS = {"num_cpus": 1, "num_gpus": 0}  # what a cell asks of Ray or Slurm, unless the grid says otherwise
DEFAULT_RETRIES = 2  # a killed worker's cell is run again this many times, resuming from its checkpoint
SLURM_DEFAULTS = {"timeout_min": 60}  # submitit's own default is minutes; a timed-out cell is requeued
PASSED_ENV = ("DFCL_CACHE", "DFCL_DATA")  # where workers find the data cache and datasets
TAG_CHARACTERS = re.compile(r"[A-Za-z0-9._-]+")
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # holds benchmark/, strategies/, scenarios/
POLL_SECONDS = 2.0


@dataclass
class Cell:
    """One run of one seed in one task order: everything a worker needs, in plain values (it is pickled)."""

    scenario: str  # a bundled name or the absolute path of a scenario YAML
    scenario_name: str  # the name inside that YAML: the results folder
    strategy: str
    detector: str
    seed: int
    order: int
    results_dir: str
    log: str
    tag: str | None = None
    scenario_params: dict[str, Any] = field(default_factory=dict)
    strategy_params: dict[str, Any] = field(default_factory=dict)
    detector_params: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    threads: int | None = None
    data_root: str | None = None
    save_scores: bool = True
    force: bool = False
    resources: dict[str, float] = field(default_factory=lambda: dict(RESOURCE_KEYS))

    @property
    def label(self) -> str:
        return strategy_label(self.strategy, self.tag)

    @property
    def name(self) -> str:
        """As the result's place in the results tree: ``synthetic+order1/lwf+alpha1--smallcnn/seed0``."""
        return f"{orders.folder(self.scenario_name, self.order)}/{self.label}--{self.detector}/seed{self.seed}"

    @property
    def path(self) -> Path:
        return results.result_path(Path(self.results_dir), self.scenario_name, self.label, self.detector, self.seed,
                                   self.order)

    def request(self) -> RunRequest:
        return RunRequest(scenario=self.scenario, strategy=self.strategy, detector=self.detector, seeds=[self.seed],
                          scenario_params=self.scenario_params, strategy_params=self.strategy_params,
                          detector_params=self.detector_params, train=self.train, device=self.device,
                          threads=self.threads, data_root=self.data_root, results_dir=Path(self.results_dir),
                          tag=self.tag, force=self.force, save_scores=self.save_scores, order_seed=self.order)


@dataclass
class CellOutcome:
    name: str
    status: str  # "done", "skipped" (finished before), "running" (another process has it) or "failed"
    seconds: float
    log: str
    error: str | None = None


@dataclass
class Grid:
    name: str
    path: Path
    cells: list[Cell]
    retries: int
    slurm: dict[str, Any]


# --- reading and validating a grid ------------------------------------------------------------------

def _scenario_file(value: Any, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: a scenario is a name or the path of a scenario YAML, got {value!r}")
    path = Path(value)
    if path.suffix not in (".yaml", ".yml"):
        path = scenarios.SCENARIO_DIR / f"{value}.yaml"
    if not path.is_file():
        raise ConfigError(f"{where}: unknown scenario {value!r}; available: {', '.join(scenarios.available())} "
                          f"(or the path of a scenario .yaml file)")
    return path.resolve()


def _scenarios(grid: dict[str, Any], where: str, overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Scenario (name or absolute path) → its parameter overrides (the grid's, then ``overrides``)."""
    if ("scenario" in grid) == ("scenarios" in grid):
        raise ConfigError(f"{where}: give exactly one of 'scenario' (one name) or 'scenarios' (a list, or a mapping "
                          f"of name → scenario_params)")
    shared = _mapping(grid.get("scenario_params"), f"{where}: scenario_params")
    chosen = {}
    for name, own in _names(grid.get("scenarios", grid.get("scenario")), "scenarios", where).items():
        path = _scenario_file(name, f"{where}: scenarios")
        key = name if path.parent == scenarios.SCENARIO_DIR.resolve() and path.stem == name else str(path)
        chosen[key] = {**shared, **own, **overrides}
    return chosen


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    return dict(value)


def _names(value: Any, key: str, where: str) -> dict[str, dict[str, Any]]:
    """A name, a list of names, or a mapping name → parameters, as the mapping."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        value = {name: {} for name in value}
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty list of names or a mapping name → parameters")
    return {name: _mapping(params, f"{where}: {key}.{name}") for name, params in value.items()}


def _registered(value: Any, key: str, where: str, registry) -> dict[str, dict[str, Any]]:
    """``_names``, every name known to ``registry``."""
    named = _names(value, key, where)
    for name in named:
        try:
            registry.get(name)
        except ConfigError as error:
            raise ConfigError(f"{where}: {key}: {error}") from None
    return named


def tag(params: dict[str, Any]) -> str | None:
    """The run variant of a strategy's parameters that differ from its defaults, readable where it can be
    (``alpha1``, ``alpha1_temperature4``) and a digest where the values do not fit a folder name."""
    if not params:
        return None
    token = lambda v: str(v).lower() if isinstance(v, bool) or v is None else (  # noqa: E731
        "-".join(map(token, v)) if isinstance(v, list) else str(v))
    readable = "_".join(f"{key}{token(params[key])}" for key in sorted(params))
    if TAG_CHARACTERS.fullmatch(readable) and "--" not in readable and len(readable) <= 48:
        return readable
    return "p" + hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _strategy_variants(name: str, grid: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Every combination of a strategy's parameter grid (a list is an axis; wrap a list-valued parameter as
    ``[[8, 16]]``), each without the values equal to the defaults, so the default run is the plain one."""
    axes = {key: values if isinstance(values, list) else [values] for key, values in grid.items()}
    for key, values in axes.items():
        if not values:
            raise ConfigError(f"{where}: strategies.{name}.{key} lists no value")
    try:
        strategies.REGISTRY.params(name, {key: values[0] for key, values in axes.items()})
    except ConfigError as error:
        raise ConfigError(f"{where}: strategies.{name}: {error}") from None
    defaults = strategies.REGISTRY.defaults(name)
    variants = [{key: value for key, value in zip(axes, combination) if value != defaults[key]}
                for combination in itertools.product(*axes.values())]
    repeated = [variant for k, variant in enumerate(variants) if variant in variants[:k]]
    if repeated:  # equal values (10 and 10.0) would otherwise be two cells under two folder names
        twice = tag(repeated[0]) or "the defaults"
        raise ConfigError(f"{where}: strategies.{name}: the grid lists the same cell twice ({twice}): two parameter "
                          f"values that are equal, or a value equal to the default next to it")
    return variants


def _orders(value: Any, tasks: int, where: str) -> list[int]:
    if value is None:
        return [0]
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"{where}: orders: K must be ≥ 1 (orders 0 … K−1; 1 = the scenario's own only)")
        value = list(range(value))
    if not isinstance(value, list) or not value or len(set(value)) != len(value):
        raise ConfigError(f"{where}: orders must be a count K (orders 0 … K−1) or a list of distinct order indices")
    for k in value:
        try:
            orders.permutation(k, tasks)
        except ConfigError as error:
            raise ConfigError(f"{where}: orders: {error}") from None
    return value


def _resources(value: Any, chosen: dict[str, dict], where: str) -> dict[str, dict[str, float]]:
    """Detector → what each of its cells asks for; ``default`` for detectors not named."""
    given = _mapping(value, f"{where}: resources")
    unknown = sorted(set(given) - set(chosen) - {"default"})
    if unknown:
        raise ConfigError(f"{where}: resources names {unknown}, which are not detectors of this grid "
                          f"({', '.join(chosen)}) nor 'default'")
    for part, own in given.items():
        own = _mapping(own, f"{where}: resources.{part}")
        if set(own) - set(RESOURCE_KEYS) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                                                    for v in own.values()):
            raise ConfigError(f"{where}: resources.{part} takes {sorted(RESOURCE_KEYS)}, numbers ≥ 0; got {own!r}")
    return {name: {**RESOURCE_KEYS, **(given.get("default") or {}), **(given.get(name) or {})} for name in chosen}


def read(path: Path | str, *, results_dir: Path | str | None = None, force: bool = False,
         scenario_params: dict[str, Any] | None = None, train: dict[str, Any] | None = None) -> Grid:
    """The grid in ``path``, validated whole (names, parameters, training settings, orders, resources) and
    expanded into cells; a ConfigError names the file and key. ``scenario_params`` and ``train`` override
    the grid's (the command line's ``--scenario-param``, ``--train``). Nothing is built or run."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid file {path} not found")
    grid = scenarios.read_yaml(path)
    where = str(path)
    unknown = sorted(set(grid) - GRID_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(GRID_KEYS)}")
    name = str(grid.get("name", path.stem))
    if not TAG_CHARACTERS.fullmatch(name):
        raise ConfigError(f"{where}: name may hold letters, digits, '-', '_' and '.' only, got {name!r}")
    chosen_scenarios = _scenarios(grid, where, scenario_params or {})
    chosen_strategies = _registered(grid.get("strategies"), "strategies", where, strategies.REGISTRY)
    chosen_detectors = _registered(grid.get("detectors", ["smallcnn"]), "detectors", where, detectors.REGISTRY)
    for detector, params in chosen_detectors.items():
        try:
            detectors.REGISTRY.params(detector, params)
        except ConfigError as error:
            raise ConfigError(f"{where}: detectors.{detector}: {error}") from None
    variants = {strategy: _strategy_variants(strategy, params, where) for strategy, params in chosen_strategies.items()}
    seeds = results.checked_seeds([0] if grid.get("seeds") is None else grid["seeds"], where)
    train = {**_mapping(grid.get("train"), f"{where}: train"), **(train or {})}
    resources = _resources(grid.get("resources"), chosen_detectors, where)
    retries = grid.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{where}: retries must be an integer ≥ 0, got {retries!r}")
    threads = grid.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"{where}: threads must be an integer ≥ 1, got {threads!r}")
    folder = results.checked_dir(results_dir or grid.get("results_dir") or "results", "--results-dir").resolve()
    logs = folder / ".sweep" / name
    data_root = str(Path(grid["data_root"]).expanduser().resolve()) if grid.get("data_root") else None
    cells = []
    for scenario, scenario_params in chosen_scenarios.items():
        spec = scenarios.read_yaml(_scenario_file(scenario, f"{where}: scenarios"))
        TrainConfig.from_dict({**_mapping(spec.get("train"), "train"), **train}, where=f"{where}: train")
        runs = [(strategy, params) for strategy, params_list in variants.items() for params in params_list]
        for order, (strategy, params), detector, seed in itertools.product(
                _orders(grid.get("orders"), len(spec["tasks"]), where), runs, chosen_detectors, seeds):
            cell = Cell(scenario=scenario, scenario_name=str(spec["name"]), strategy=strategy, tag=tag(params),
                        detector=detector, seed=seed, order=order, results_dir=str(folder), log="",
                        scenario_params=scenario_params, strategy_params=params,
                        detector_params=chosen_detectors[detector], train=train,
                        device=str(grid.get("device", "auto")), threads=threads, data_root=data_root,
                        save_scores=bool(grid.get("save_scores", True)), force=force,
                        resources=resources[detector])
            cell.log = str(logs / (cell.name.replace("/", "__") + ".log"))
            cells.append(cell)
    repeated = sorted(name for name, count in Counter(cell.name for cell in cells).items() if count > 1)
    if repeated:
        raise ConfigError(f"{where}: the grid lists the same cell twice ({', '.join(repeated[:5])}): two parameter "
                          f"values that are equal, or a value equal to the default next to it")
    return Grid(name=name, path=path, cells=cells, retries=retries, slurm=_mapping(grid.get("slurm"), f"{where}: slurm"))


def prepare(grid: Grid) -> None:
    """Check each scenario's parameters and data before any cell starts: a folder scenario's layout is listed
    (nothing decoded), a generated one is built once, filling the data cache every cell then reads."""
    for cell in {(c.scenario, json.dumps(c.scenario_params, sort_keys=True)): c for c in grid.cells}.values():
        found = scenarios.inventory(cell.scenario, params=cell.scenario_params, data_root=cell.data_root)
        if found is None:
            _scenario(cell.scenario, json.dumps(cell.scenario_params, sort_keys=True), cell.data_root)
        elif not all(task.complete for task in found[1]):
            missing = [task.name for task in found[1] if not task.complete]
            raise DataError(f"{grid.path}: scenario {cell.scenario} lacks data for {', '.join(missing)} under "
                            f"{found[0]}; `dfcl scenario {cell.scenario} --check` lists what is missing")


@functools.lru_cache(maxsize=1)
def _scenario(scenario: str, params: str, data_root: str | None):
    """A built scenario, kept for the next cell of the same process (a local sweep, a reused Ray worker)."""
    return scenarios.load(scenario, params=json.loads(params), data_root=data_root)


def start_over(grid: Grid) -> None:
    """``--force``, applied once before any cell runs: each forced cell's result, raw scores and checkpoints
    are removed and the cell is handed on unforced, so an engine's retry (a killed worker, a requeued Slurm
    job) resumes from that attempt's checkpoints instead of starting the cell over on every attempt."""
    for cell in grid.cells:
        if cell.force:
            cell.path.unlink(missing_ok=True)
            results.scores_path(cell.path).unlink(missing_ok=True)
            checkpoints.remove(checkpoints.directory(cell.path))
            cell.force = False


def on_disk(cell: Cell) -> str:
    """What the results tree already holds for a cell: its result, a checkpoint, or nothing."""
    if cell.path.is_file():
        return "result exists"
    saved = checkpoints.numbered(checkpoints.directory(cell.path))
    return f"checkpoint after {saved[-1].stem.replace('task', 'task ')}" if saved else "new"


# --- one cell, wherever it runs ----------------------------------------------------------------------

def run_cell(cell: Cell) -> CellOutcome:
    """Run one cell, logging to its own file; a failure is returned, not raised, so one bad cell never stops
    the others. A worker that dies (killed, out of memory) raises nothing here: its engine retries it."""
    import benchmark

    Path(cell.log).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(cell.log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    previous = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # the cell's lines go to its log; the sweep's console shows progress
    start = time.perf_counter()
    try:
        log.info("cell %s: attempt at %s on %s, pid %d, dfcl %s from %s", cell.name,
                 datetime.now(timezone.utc).isoformat(timespec="seconds"), socket.gethostname(), os.getpid(),
                 benchmark.__version__, Path(benchmark.__file__).resolve().parent)
        outcome, = run(cell.request(), scenario=_scenario(cell.scenario, json.dumps(cell.scenario_params,
                                                                                    sort_keys=True), cell.data_root))
        log.info("cell %s: %s in %.1f s", cell.name, outcome.status, time.perf_counter() - start)
        return CellOutcome(cell.name, outcome.status, time.perf_counter() - start, cell.log)
    except Exception as error:  # noqa: BLE001 — reported in the summary with its log; the sweep goes on
        log.exception("cell %s failed", cell.name)
        return CellOutcome(cell.name, "failed", time.perf_counter() - start, cell.log,
                           f"{type(error).__name__}: {error}")
    finally:
        log.removeHandler(handler)
        handler.close()
        log.setLevel(previous[0])
        log.propagate = previous[1]


# --- progress and summary ----------------------------------------------------------------------------

class Progress:
    """Cells done / running / failed, as a tqdm bar on a terminal and one line per finished cell. A cell
    counts as running once its log has grown since it was handed over (an engine may queue it first)."""

    def __init__(self, grid: Grid, executor: str):
        self.grid, self.outcomes = grid, []
        self.submitted = {cell.name: _size(cell.log) for cell in grid.cells}
        self.bar = tqdm(total=len(grid.cells), desc=f"sweep {grid.name} ({executor})", unit="cell", disable=None)
        self.started = time.perf_counter()

    def refresh(self, pending: list[Cell], running: int | None = None) -> None:
        """Show the counts; ``running`` where the executor knows it, else from the pending cells' logs."""
        if running is None:
            running = sum(_size(cell.log) > self.submitted[cell.name] for cell in pending)
        self.bar.set_postfix_str(f"done {self._count('done', 'skipped')} · running {running} · failed "
                                 f"{self._count('failed')}", refresh=True)

    def finished(self, outcome: CellOutcome) -> None:
        self.outcomes.append(outcome)
        self.bar.update(1)
        message = f"[{len(self.outcomes)}/{len(self.grid.cells)}] {outcome.status:<7} {outcome.name} " \
                  f"({outcome.seconds:.0f} s)" + (f": {outcome.error}" if outcome.error else "")
        if self.bar.disable:
            log.info(message)
        else:
            self.bar.write(message)

    def _count(self, *statuses: str) -> int:
        return sum(outcome.status in statuses for outcome in self.outcomes)

    def summary(self) -> str:
        self.bar.close()
        counts = {status: self._count(status) for status in ("done", "skipped", "running", "failed")}
        lines = [f"sweep {self.grid.name}: {len(self.grid.cells)} cells in {time.perf_counter() - self.started:.0f} s: "
                 f"{counts['done']} run, {counts['skipped']} finished before (skipped), {counts['running']} left to "
                 f"another process, {counts['failed']} failed"]
        for outcome in self.outcomes:
            if outcome.status == "failed":
                lines.append(f"  FAILED {outcome.name}: {outcome.error}\n         log: {outcome.log}")
        return "\n".join(lines)

    @property
    def failed(self) -> int:
        return self._count("failed")


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


# --- executors ---------------------------------------------------------------------------------------

def run_local(grid: Grid, progress: Progress) -> None:
    """One cell after another in this process (the scenario is built once for all of them)."""
    for cell in grid.cells:
        progress.refresh([], running=1)
        progress.finished(run_cell(cell))


def _worker_env() -> dict[str, str]:
    """Where a worker imports this project from (this checkout, wherever it was cloned) and finds the data."""
    path = os.pathsep.join(p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, **{key: os.environ[key] for key in PASSED_ENV if key in os.environ}}


def _threads(cell: Cell) -> Cell:
    """On an engine a cell gets the CPUs it asked for, so torch uses that many threads unless the grid says."""
    return cell if cell.threads is not None else dataclasses.replace(cell, threads=max(1, int(cell.resources["num_cpus"])))


def run_ray(grid: Grid, progress: Progress, *, address: str | None = None, num_cpus: int | None = None) -> None:
    """Each cell a Ray task with the resources of its detector; a task whose worker dies is retried by Ray
    (``retries``) and resumes from the cell's checkpoint. Joins the cluster at ``address``, else starts a
    local instance of ``num_cpus`` CPUs (default all) for the sweep."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or "local", num_cpus=None if address else num_cpus, include_dashboard=False,
                 log_to_driver=False)  # "local": a new instance, never someone else's found on this machine
    try:
        task = ray.remote(run_cell)
        pending = {}
        for cell in grid.cells:
            options = {"num_cpus": cell.resources["num_cpus"], "num_gpus": cell.resources["num_gpus"],
                       "max_retries": grid.retries, "retry_exceptions": False,
                       "runtime_env": {"env_vars": _worker_env()}}
            pending[task.options(**options).remote(_threads(cell))] = cell
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
            for ref in done:
                cell = pending.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as error:  # the worker died on every attempt
                    outcome = CellOutcome(cell.name, "failed", 0.0, cell.log, f"{type(error).__name__} after "
                                          f"{grid.retries} retries: {str(error).splitlines()[0]}")
                progress.finished(outcome)
            progress.refresh(list(pending.values()))
    finally:
        if started_here:
            ray.shutdown()


class SlurmCell:
    """A cell as a submitit job: requeued after a timeout or preemption (``Checkpointable``), when it resumes
    from its last task checkpoint."""

    def __call__(self, cell: Cell) -> CellOutcome:
        return run_cell(cell)

    def checkpoint(self, cell: Cell):
        import submitit

        return submitit.helpers.DelayedSubmission(self, cell)


def slurm_parameters(grid: Grid, *, partition: str | None = None, time_min: int | None = None,
                     gpus: int | None = None) -> dict[str, Any]:
    """submitit parameters of the grid's ``slurm`` mapping (``slurm_partition``, ``timeout_min``,
    ``gpus_per_node``, ``slurm_array_parallelism``, ``mem_gb`` …), the flags over them."""
    flags = {"slurm_partition": partition, "timeout_min": time_min, "gpus_per_node": gpus}
    return {**SLURM_DEFAULTS, **grid.slurm, **{key: value for key, value in flags.items() if value is not None}}


def run_slurm(grid: Grid, progress: Progress, *, parameters: dict[str, Any], cluster: str = "slurm") -> None:
    """One Slurm job array per distinct resource request (cpus_per_task, gpus_per_node from each detector's
    resources unless set), through submitit; ``cluster="local"`` runs the same jobs as local processes."""
    import submitit

    executor = submitit.AutoExecutor(folder=Path(grid.cells[0].log).parent / "submitit", cluster=cluster)
    groups: dict[tuple, list[Cell]] = {}
    for cell in grid.cells:
        groups.setdefault((cell.resources["num_cpus"], cell.resources["num_gpus"]), []).append(_threads(cell))
    jobs = []
    for (cpus, gpus), cells in groups.items():
        own = {"name": f"dfcl-{grid.name}", "cpus_per_task": max(1, int(cpus)), "gpus_per_node": int(gpus),
               f"{cluster}_setup": [f"export PYTHONPATH={shlex.quote(str(SOURCE_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}"],
               **parameters}
        try:
            executor.update_parameters(**own)
        except (NameError, AssertionError, ValueError, TypeError) as error:
            raise ConfigError(f"{grid.path}: slurm: {error}") from None
        jobs += zip(executor.map_array(SlurmCell(), cells), cells)
    pending = dict(jobs)
    while pending:
        for job, cell in list(pending.items()):
            if not job.done():
                continue
            del pending[job]
            try:
                outcome = job.result()
            except Exception as error:  # noqa: BLE001 — the job failed outside the cell (killed, node lost)
                outcome = CellOutcome(cell.name, "failed", 0.0, cell.log,
                                      f"{type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}"
                                      f" (job {job.job_id}; its output: {job.paths.stderr})")
            progress.finished(outcome)
        progress.refresh(list(pending.values()))
        if pending:
            time.sleep(POLL_SECONDS)


EXECUTORS: dict[str, Callable[..., None]] = {"local": run_local, "ray": run_ray, "slurm": run_slurm}


def sweep(grid: Grid, executor: str = "local", **options: Any) -> Progress:
    """Build what the cells need, hand them to ``executor`` and return the progress with every outcome."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    prepare(grid)
    start_over(grid)
    progress = Progress(grid, executor)
    EXECUTORS[executor](grid, progress, **options)
    return progress
