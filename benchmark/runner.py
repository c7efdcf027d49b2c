"""Running one (scenario, strategy, detector) over seeds: train task by task, score every task's test set
after each (and before the first), and write one result file per seed.

A finished seed whose configuration matches is skipped; an interrupted one resumes from its last task
checkpoint (``checkpoints``); one from a different configuration is never replaced silently: ``force``
replaces it, a ``tag`` keeps both. A seed another process is running is skipped (``locks``). ``order_seed``
trains the tasks in another order (``orders``), recorded in the result and kept in its own folder.
"""

from __future__ import annotations

import io
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

import scenarios
import strategies
from scenarios import Scenario

from . import audit, checkpoints, detectors, feature_cache, locks, orders, precision, probe, provenance, results, rng
from .errors import ConfigError, ResultError
from .evaluation import evaluate_row
from .loader import LoaderSettings, default_workers
from .progress import SeedProgress
from .results import config_hash
from .stream import training_stream
from .training import TrainConfig, TrainSetup

log = logging.getLogger("dfcl")


@dataclass
class RunRequest:
    """What the user asked for; everything not given comes from the scenario YAML or the factories."""

    scenario: str
    strategy: str
    detector: str = "smallcnn"
    seeds: list[int] = field(default_factory=lambda: [0])
    scenario_params: dict[str, Any] = field(default_factory=dict)
    strategy_params: dict[str, Any] = field(default_factory=dict)
    detector_params: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)  # overrides of the scenario's training settings
    device: str = "auto"
    threads: int | None = None
    data_root: str | None = None
    results_dir: Path = Path("results")
    tag: str | None = None
    force: bool = False
    save_scores: bool = True
    keep_checkpoints: bool = False  # keep seed<N>.ckpt/ after the result is written
    probe: bool = True  # linear probes on the frozen features after every task (benchmark/probe.py)
    order_seed: int = 0  # task order: 0 = the scenario's own, k ≥ 1 = its k-th seeded permutation (orders.py)
    precision: str = "auto"  # bf16 | fp16 | fp32; auto: bf16 on CUDA devices that support it, else fp32
    pin_memory: bool | None = None  # loader choices; None: chosen for the device (loader.LoaderSettings)
    persistent_workers: bool | None = None
    augment_on_device: bool | None = None


@dataclass
class RunOutcome:
    path: Path
    status: str  # "done" or "skipped"
    result: dict[str, Any]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"--device must be auto, cpu or cuda[:N], got {name!r}")
    return torch.device(name)


def strategy_label(strategy: str, tag: str | None) -> str:
    if tag and not all(c.isalnum() or c in "-_." for c in tag):
        raise ConfigError(f"--tag may hold letters, digits, '-', '_' and '.' only, got {tag!r}")
    return f"{strategy}+{tag}" if tag else strategy


def resolve_config(request: RunRequest, scenario: Scenario, order: dict[str, Any],
                   device: torch.device = torch.device("cpu")) -> tuple[dict[str, Any], TrainConfig]:
    """The complete configuration of a run (all but the seed), as saved in its result file; ``scenario`` is
    in the run's task order, which ``order`` (``orders.record``) describes.

    The precision is part of it when it is not fp32 (it changes the numbers), and so is on-device
    augmentation when it is on (other crops, drawn alike); an fp32 run's configuration without it, and so its
    hash, is the one it had before runs had either. Loader workers not set are chosen for the device (none
    on CPU)."""
    settings = {"num_workers": default_workers(device), **scenario.train_defaults, **request.train}
    train = TrainConfig.from_dict(settings)
    chosen = precision.resolve(request.precision, device)
    config = {
        "scenario": {"name": scenario.name, "version": scenario.version, "source": scenario.source,
                     "tasks": scenario.task_names, "params": scenario.params, **order},
        "strategy": {"name": request.strategy, "label": strategy_label(request.strategy, request.tag),
                     "params": strategies.REGISTRY.params(request.strategy, request.strategy_params)},
        "detector": {"name": request.detector,
                     "params": detectors.REGISTRY.params(request.detector, request.detector_params)},
        "train": asdict(train),
        "evaluation": {"probe": bool(request.probe)},  # probed and unprobed seeds are not one run
        **({"precision": chosen.name} if chosen.mixed else {}),
        **({"augment_on_device": True} if _loader_settings(request, device).augment_on_device else {}),
    }
    return results.jsonable(config), train


def _loader_settings(request: RunRequest, device: torch.device) -> LoaderSettings:
    return LoaderSettings.for_device(device, pin_memory=request.pin_memory, persistent_workers=request.persistent_workers,
                                     augment_on_device=request.augment_on_device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _check_existing(path: Path, digest: str, force: bool) -> dict[str, Any] | None:
    """The finished result to reuse, None to (re)run, or an error when a different run would be replaced."""
    if force:
        return None
    for other in sorted(path.parent.glob("seed*.json")):
        try:
            found = results.load(other)
        except ResultError as error:
            if other == path:
                raise ResultError(f"{error}\nRerun with --force to replace it.") from None
            continue
        if found["provenance"]["config_hash"] != digest:
            raise ResultError(f"{other} was produced with another configuration "
                              f"({found['provenance']['config_hash']} vs {digest} now). Rerun with --force to "
                              f"replace these seeds, or with --tag NAME to keep both runs.")
        if other == path:
            return found
    return None


def _save_scores(path: Path, progress: SeedProgress) -> None:
    arrays = {f"labels_t{j}": label for j, label in enumerate(progress.labels)}
    arrays.update({f"scores_init_t{j}": s for j, s in enumerate(progress.initial_scores)})
    arrays.update({f"scores_after{i}_t{j}": s for i, row in enumerate(progress.score_rows) for j, s in enumerate(row)})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    results.write_atomic(results.scores_path(path), buffer.getvalue())


def run_seed(request: RunRequest, scenario: Scenario, config: dict[str, Any], train: TrainConfig, seed: int,
             device: torch.device) -> tuple[dict[str, Any], SeedProgress]:
    """Train and score one seed, checkpointing after every task and resuming from the newest intact
    checkpoint of the same configuration; returns the result and what it measured (with raw scores)."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    memory = provenance.MemoryMeter(device)
    seed_everything(seed)
    run_name = f"{config['strategy']['label']}--{request.detector}"
    label = f"{run_name} seed {seed}"
    model = detectors.create(request.detector, **config["detector"]["params"]).to(device)
    chosen = precision.resolve(config.get("precision", "fp32"), device)
    loader = _loader_settings(request, device)
    setup = TrainSetup(config=train, device=device, label=label, seed=seed, precision=chosen, loader=loader)
    strategy = strategies.create(request.strategy, model, setup, **config["strategy"]["params"])
    stream = list(training_stream(scenario))
    tests = [task.test for task in scenario.tasks]
    probing = request.probe and probe.supported(strategy.model)
    if request.probe and not probing:
        log.info("%s: no probes, the %s model has no features()", label, request.strategy)

    # Scoring and probing run in fp32 whatever the training precision: bf16 logits (8-bit mantissa) would
    # tie confident scores and move AUC, AP and EER; a forward pass without gradients is cheap beside training.
    def evaluate(desc: str):
        return evaluate_row(strategy.model, tests, device, train.eval_batch_size, train.num_workers,
                            desc=f"{label} {desc}", features=probing)

    def probe_row(test_features):
        if not probing:
            return None
        return probe.probe_row(strategy.model, scenario.tasks, device, batch_size=train.eval_batch_size,
                               seed=seed, num_workers=train.num_workers, test_features=test_features)

    path = results.result_path(request.results_dir, scenario.name, config["strategy"]["label"], request.detector, seed,
                               request.order_seed)
    folder = checkpoints.directory(path)
    identity = {"config_hash": config_hash(config), "data_fingerprint": scenario.fingerprint, "seed": seed}
    saved = checkpoints.latest(folder, identity)
    if saved is not None:
        checkpoints.restore(strategy, saved["strategy"], checkpoints.RestoreContext(stream, device, seed))
        progress = SeedProgress.from_state(saved["progress"])
        progress.resumed_from.append(progress.completed)
        progress.checkpoint_seconds.append(None)  # that checkpoint's own write was timed after it was saved
        rng.restore(saved["rng"])
        log.info("resuming %s seed %d from task %d/%d", run_name, seed, progress.completed + 1, len(stream))
    else:
        progress = SeedProgress(scenario.task_names)
        row, scores, labels, test_features = evaluate("initial")
        progress.set_initial(row, scores, labels, probe=probe_row(test_features))
    for index in range(progress.completed, len(stream)):
        memory.start_task()
        tick = time.perf_counter()
        strategy.train(stream[index], num_workers=train.num_workers, reset_optimizer_state=train.reset_optimizer)
        train_seconds = time.perf_counter() - tick
        tick = time.perf_counter()
        row, scores, _, test_features = evaluate(f"after task {index + 1}")
        progress.add_row(row, scores, train_seconds=train_seconds, eval_seconds=time.perf_counter() - tick,
                         epoch_losses=setup.loss_monitor.epochs, probe=probe_row(test_features),
                         peak_memory_mb=memory.task_peak_mb())
        tick = time.perf_counter()
        checkpoints.save(folder, index + 1, {
            **identity, "strategy": checkpoints.capture(strategy, optimizer=not train.reset_optimizer),
            "rng": rng.state(), "progress": {**progress.state(), "elapsed": progress.elapsed + time.perf_counter() - start}})
        progress.checkpoint_seconds.append(time.perf_counter() - tick)
        seen = " ".join(f"{v:.3f}" for v in row["auc"][:index + 1])
        log.info("%s | task %d/%d %s | train %.1f s | AUC on tasks so far: %s", label, index + 1,
                 len(stream), scenario.tasks[index].name, train_seconds, seen)
    result = {
        "schema_version": results.SCHEMA_VERSION,
        "scenario": {"name": scenario.name, "version": scenario.version, "tasks": scenario.task_names,
                     "fingerprint": scenario.fingerprint, "notes": scenario.notes,
                     **{key: config["scenario"][key] for key in ("order",) if key in config["scenario"]}},
        "strategy": {"name": request.strategy, "label": config["strategy"]["label"],
                     "params": config["strategy"]["params"]},
        "detector": {"name": request.detector, "label": detectors.describe(request.detector, config["detector"]["params"]),
                     "params": config["detector"]["params"]},
        "seed": seed,
        **progress.result_fields(),
        "test_sizes": [len(t) for t in tests],
        "config": config,
        "provenance": {**provenance.collect(device, config), **identity, "started_at": started_at,
                       "wall_seconds": progress.elapsed + time.perf_counter() - start,
                       "resumed_from_task": progress.resumed_from,
                       "peak_memory_mb": memory.run_peak_mb(progress.peak_memory_mb),
                       "precision": precision.describe(chosen, strategy.model),
                       "loader": loader.describe(train.num_workers)},
    }
    return result, progress


def cached_inputs(scenario: Scenario, detector: str, config: dict[str, Any], train: TrainConfig,
                  device: torch.device) -> Scenario:
    """The scenario as the detector's frozen input encoder sees it, encoded once for every seed and epoch
    (``Detector.input_encoder``); unchanged for a detector without one."""
    encoder = detectors.create(detector, **config["detector"]["params"]).input_encoder()
    if encoder is None:
        return scenario
    with precision.resolve(config.get("precision", "fp32"), device).autocast():
        return feature_cache.encoded_scenario(scenario, encoder.to(device), device, train.eval_batch_size,
                                              train.num_workers)


def file_cue_flags(scenario: Scenario) -> list[dict[str, Any]]:
    """The shortcut audit's cheap part (file format, size, compression, metadata), before any training: what it
    flags is said now and recorded in every result, and the leaderboard marks those rows (``audit``)."""
    if scenario.source != "folder":
        return []
    flags = audit.file_level_flags(scenario)
    for flag in flags:
        log.warning("shortcut audit: %s/%s %s separates real from fake with AUC %.2f (%s); fix to try: %s",
                    flag["task"], flag["split"], flag["cue"], flag["auc"],
                    "beyond chance" if flag["beyond_chance"] else "may be chance", flag["fix"])
    return flags


def run(request: RunRequest, scenario: Scenario | None = None) -> list[RunOutcome]:
    """Every seed of a request; finished seeds stay on disk whatever happens to later ones, and a seed that
    another process is running is left to it."""
    if request.threads is not None:
        if request.threads < 1:
            raise ConfigError(f"--threads must be ≥ 1, got {request.threads}")
        torch.set_num_threads(request.threads)
    device = resolve_device(request.device)
    precision.configure_backends(device)
    request.results_dir = results.checked_dir(request.results_dir, "--results-dir")
    scenario = scenario or scenarios.load(request.scenario, params=request.scenario_params,
                                          data_root=request.data_root)
    order = orders.record(request.order_seed, scenario.task_names)
    scenario = orders.apply(scenario, request.order_seed)
    config, train = resolve_config(request, scenario, order, device)
    digest = config_hash(config)
    flags = file_cue_flags(scenario)
    outcomes, inputs = [], None
    for seed in request.seeds:
        path = results.result_path(request.results_dir, scenario.name, config["strategy"]["label"],
                                   request.detector, seed, request.order_seed)
        with locks.seed_lock(path) as held:
            if not held:
                log.warning("%s: seed %d is being run by another process (lock %s): skipped here", path.parent.name,
                            seed, locks.lock_path(path).name)
                outcomes.append(RunOutcome(path, "running", None))
                continue
            existing = _check_existing(path, digest, request.force)
            if existing is not None:
                log.info("%s exists with the same configuration: skipped (--force reruns it)", path)
                outcomes.append(RunOutcome(path, "skipped", existing))
                continue
            if request.force:
                checkpoints.remove(checkpoints.directory(path))
            inputs = inputs or cached_inputs(scenario, request.detector, config, train, device)
            result, progress = run_seed(request, inputs, config, train, seed, device)
            result["provenance"]["audit_flags"] = flags
            # a result being replaced (--force) goes before the new scores land: a crash between the two
            # writes then leaves no result to rerun, never the old result beside the new scores
            path.unlink(missing_ok=True)
            if request.save_scores:
                _save_scores(path, progress)
            else:  # never leave another run's raw scores beside this result
                results.scores_path(path).unlink(missing_ok=True)
            results.write(path, result)
            if not request.keep_checkpoints:
                checkpoints.remove(checkpoints.directory(path))
        log.info("wrote %s (average AUC %.3f, forgetting %s, %.0f s)", path, result["summary"]["auc"]["average"],
                 _fmt(result["summary"]["auc"]["forgetting"]), result["provenance"]["wall_seconds"])
        outcomes.append(RunOutcome(path, "done", result))
    return outcomes


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
