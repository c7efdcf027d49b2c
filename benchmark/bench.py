"""``dfcl bench``: what the suite costs against a bare PyTorch loop, and how fast its data loader is.

In one process, repeats interleaved (bare first on even repeats, suite first on odd ones), so a machine
shared with other work slows both alike; images/s are the best repeat of each, ratios the median over
repeats of each side-by-side pair's ratio: training images/s of ``naive`` built as
every strategy is (Avalanche's template, the shared plugins, the seeded loader) against the loop below,
which trains the same model from the same initial weights on the same batches (the run's own shuffling
stream, a plain ``DataLoader`` over the task's dataset) with the same optimiser, per-task cosine schedule,
precision and device; then scoring images/s of ``evaluation.predict`` against a plain inference loop. On
CPU in fp32 the two trainings do the same arithmetic on the same batches, so their final weights agree
(``max_weight_difference``; nonzero means they did not train alike and the ratio is void).

The data loader alone: the suite's training loader over the same tasks, no worker processes and one torch
thread (images/s per core); for a folder scenario also with the decoded-image cache cold (a fresh cache
built in parallel processes, then one pass) and with every image decoded by PIL on access, as before
the cache. This is the only place the bare loop exists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

import scenarios
import strategies
from scenarios import Scenario, Task
from scenarios.folder import ImageFolderDataset, decode
from scenarios.scenario import ArrayDataset

from . import data_cache, detectors, evaluation, precision as precisions, rng
from .errors import ConfigError
from .loader import LoaderSettings, default_workers, training_loader
from .runner import resolve_device
from .stream import training_stream
from .training import TrainConfig, TrainSetup, make_optimizer

SEED = 0


@dataclass(frozen=True)
class BenchSize:
    tasks: int
    epochs: int
    train_images: int | None  # per task, in-memory datasets only (None: all)
    test_images: int | None
    repeats: int


DEFAULT = BenchSize(tasks=2, epochs=1, train_images=1024, test_images=512, repeats=3)  # < 1 min on 2 CPU cores
FULL = BenchSize(tasks=3, epochs=3, train_images=None, test_images=None, repeats=2)  # the measurement


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _evenly(dataset, count: int | None):
    """``count`` evenly spaced samples of an in-memory dataset (both classes kept); others whole."""
    if count is None or len(dataset) <= count or not isinstance(dataset, ArrayDataset):
        return dataset
    keep = torch.from_numpy(np.linspace(0, len(dataset) - 1, count).round().astype(np.int64))
    return ArrayDataset(dataset.images[keep], dataset.labels[keep])


def bench_scenario(scenario: Scenario, size: BenchSize) -> Scenario:
    if size.tasks < 1 or size.tasks > len(scenario.tasks):
        raise ConfigError(f"--tasks must lie in [1, {len(scenario.tasks)}] for {scenario.name}, got {size.tasks}")
    tasks = [Task(t.name, _evenly(t.train, size.train_images), t.val, _evenly(t.test, size.test_images))
             for t in scenario.tasks[:size.tasks]]
    return dataclasses.replace(scenario, tasks=tasks)


class GpuBusy:
    """The GPU's utilisation (NVML, through torch) sampled every 100 ms inside each ``measuring`` block;
    None without NVML (``benchmarks/gpu.sh`` samples nvidia-smi instead)."""

    def __init__(self, device: torch.device):
        self.device, self.samples = device, []

    def _sample(self, stop: threading.Event) -> None:
        while not stop.wait(0.1):
            self.samples.append(torch.cuda.utilization(self.device))

    @contextmanager
    def measuring(self) -> Iterator[None]:
        stop, thread = threading.Event(), None
        if self.device.type == "cuda":
            try:
                torch.cuda.utilization(self.device)
                thread = threading.Thread(target=self._sample, args=(stop,), daemon=True)
                thread.start()
            except Exception:  # no NVML (pynvml / nvidia-ml-py) here
                thread = None
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join()

    @property
    def percent(self) -> float | None:
        return float(np.mean(self.samples)) if self.samples else None


# --- the two trainings --------------------------------------------------------------------------------

class SuiteTraining:
    """``naive`` as ``dfcl run`` builds it, one task at a time. Each training keeps its own global random
    state (per-image views draw from it), so interleaving the two never changes what either draws."""

    def __init__(self, model: nn.Module, scenario: Scenario, train: TrainConfig, device: torch.device,
                 precision: precisions.Precision, settings: LoaderSettings):
        setup = TrainSetup(config=train, device=device, label="bench suite", seed=SEED, precision=precision,
                           loader=settings)
        self.model, self.train, self.device = model, train, device
        self.strategy = strategies.create("naive", model, setup)
        self.stream = list(training_stream(scenario))
        self.random_state = torch.get_rng_state()

    def task(self, index: int) -> tuple[float, float]:
        """Wall and process CPU seconds to train task ``index``."""
        torch.set_rng_state(self.random_state)
        _sync(self.device)
        start, cpu = time.perf_counter(), time.process_time()
        self.run(index)
        _sync(self.device)
        seconds = time.perf_counter() - start, time.process_time() - cpu
        self.random_state = torch.get_rng_state()
        return seconds

    def run(self, index: int) -> None:
        self.strategy.train(self.stream[index], num_workers=self.train.num_workers,
                            reset_optimizer_state=self.train.reset_optimizer)


class BareTraining(SuiteTraining):
    """A plain PyTorch loop training each task as ``naive`` does."""

    def __init__(self, model: nn.Module, scenario: Scenario, train: TrainConfig, device: torch.device,
                 precision: precisions.Precision):
        self.model, self.scenario, self.train, self.device, self.precision = model, scenario, train, device, precision
        self.criterion = model.criterion() if hasattr(model, "criterion") else nn.CrossEntropyLoss()
        self.scaler, self.optimizer = precision.grad_scaler(), None
        self.random_state = torch.get_rng_state()

    def run(self, index: int) -> None:
        model, train, device, scaler, workers = self.model, self.train, self.device, self.scaler, self.train.num_workers
        if self.optimizer is None or train.reset_optimizer:
            self.optimizer = make_optimizer(model.parameters(), train)
        optimizer = self.optimizer
        loader = DataLoader(self.scenario.tasks[index].train, batch_size=train.batch_size, shuffle=True,
                            num_workers=workers, generator=rng.generator(SEED, "train", index),
                            pin_memory=device.type == "cuda", persistent_workers=workers > 0)
        step, total = 0, max(1, train.epochs * len(loader))
        model.train()
        for _ in range(train.epochs):
            for images, labels in loader:
                if train.lr_schedule == "cosine":
                    for group in optimizer.param_groups:
                        group["lr"] = train.lr * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
                step += 1
                images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                optimizer.zero_grad()
                with self.precision.autocast():
                    loss = self.criterion(model(images), labels)
                if scaler is None:
                    loss.backward()
                    optimizer.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()


def score_suite(model: nn.Module, tests: list, train: TrainConfig, device: torch.device,
                precision: precisions.Precision) -> float:
    start = time.perf_counter()
    with precision.autocast():
        for dataset in tests:
            evaluation.predict(model, dataset, device, train.eval_batch_size, train.num_workers)
    return time.perf_counter() - start


@torch.inference_mode()
def score_bare(model: nn.Module, tests: list, train: TrainConfig, device: torch.device,
               precision: precisions.Precision) -> float:
    model.eval()
    start = time.perf_counter()
    with precision.autocast():
        for dataset in tests:
            scores = [torch.softmax(model(images.to(device)).float(), 1)[:, 1].cpu()
                      for images, _ in DataLoader(dataset, batch_size=train.eval_batch_size,
                                                  num_workers=train.num_workers)]
            torch.cat(scores)
    model.train()
    return time.perf_counter() - start


# --- the loader alone ---------------------------------------------------------------------------------

@contextmanager
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def loader_pass(scenario: Scenario, train: TrainConfig, device: torch.device, settings: LoaderSettings) -> float:
    """Seconds for the suite's training loader (no workers) to serve every task's training images once."""
    stream = list(training_stream(scenario))
    start = time.perf_counter()
    for index, experience in enumerate(stream):
        for _ in training_loader(experience.dataset.train(), train.batch_size, rng.generator(SEED, "train", index),
                                 0, settings, device, rng.generator(SEED, "train-crops", index)):
            pass
    _sync(device)
    return time.perf_counter() - start


def best_rate(images: int, run, minimum_seconds: float = 1.0, at_least: int = 3) -> float:
    """Images/s of the fastest of repeated passes (at least ``at_least``, and ``minimum_seconds`` in all)."""
    times, spent = [], 0.0
    while len(times) < at_least or spent < minimum_seconds:
        times.append(run())
        spent += times[-1]
    return images / min(times)


def with_training_sets(scenario: Scenario, make) -> Scenario:
    return dataclasses.replace(scenario, tasks=[dataclasses.replace(t, train=make(t)) for t in scenario.tasks])


@contextmanager
def fresh_cache() -> Iterator[None]:
    """An empty cache root for the block (the user's own cache is left as it is)."""
    before = os.environ.get("DFCL_CACHE")
    with tempfile.TemporaryDirectory(prefix="dfcl-bench-cold-") as folder:
        os.environ["DFCL_CACHE"] = folder
        try:
            yield
        finally:
            if before is None:
                os.environ.pop("DFCL_CACHE")
            else:
                os.environ["DFCL_CACHE"] = before


def measure_loader(scenario: Scenario, train: TrainConfig, device: torch.device, settings: LoaderSettings
                   ) -> dict[str, Any]:
    images = sum(len(t.train) for t in scenario.tasks)
    folders = all(isinstance(t.train, ImageFolderDataset) for t in scenario.tasks)
    cached = folders and all(t.train.images is not None for t in scenario.tasks)
    with one_thread():
        warm = best_rate(images, lambda: loader_pass(scenario, train, device, settings))
        if not cached:
            source = "files decoded on access (DFCL_DECODE_CACHE=0)" if folders else "in-memory arrays"
            return {"images": images, "source": source, "warm": warm, "cold": None, "pil": None,
                    "cache_build_images_per_s": None, "build_workers": None}
        pil = best_rate(images, lambda: loader_pass(with_training_sets(scenario, lambda t: t.train.reading(None)),
                                                    train, device, settings), minimum_seconds=0.5, at_least=1)
        workers = data_cache.available_cores()
        with fresh_cache():
            start = time.perf_counter()
            entries = [data_cache.decoded_images(t.train.images.paths, t.train.resize, decode, desc=t.name,
                                                 workers=workers) for t in scenario.tasks]
            built = time.perf_counter() - start
            cold_scenario = dataclasses.replace(scenario, tasks=[
                dataclasses.replace(t, train=t.train.reading(e)) for t, e in zip(scenario.tasks, entries)])
            first_pass = loader_pass(cold_scenario, train, device, settings)
    decoded = sum(len(e.paths) for e in entries)
    return {"images": images, "source": "decoded-image cache", "warm": warm, "pil": pil,
            "cold": images / (built + first_pass), "cache_build_images_per_s": decoded / built,
            "build_workers": workers}


# --- the benchmark ------------------------------------------------------------------------------------

def paired_ratio(suite: list[float], bare: list[float]) -> float:
    """The median over repeats of suite / bare images/s, each pair measured side by side (so under the same
    load of the machine)."""
    return float(np.median([s / b for s, b in zip(suite, bare)]))


def bench(*, scenario_name: str = "synthetic", detector: str = "smallcnn", device_name: str = "auto",
          precision_name: str = "auto", size: BenchSize = DEFAULT, scenario_params: dict | None = None,
          detector_params: dict | None = None, data_root: str | None = None, batch_size: int | None = None,
          workers: int | None = None, threads: int | None = None, log=print) -> dict[str, Any]:
    """Every measurement of ``dfcl bench``, as the JSON it prints. ``threads``: torch's CPU threads (default 1
    on CPU, torch's choice on CUDA)."""
    started = time.perf_counter()
    device = resolve_device(device_name)
    threads = threads if threads is not None else (1 if device.type == "cpu" else None)
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads must be ≥ 1, got {threads}")
        torch.set_num_threads(threads)
    precision = precisions.resolve(precision_name, device)
    precisions.configure_backends(device)
    full = scenarios.load(scenario_name, params=scenario_params or {}, data_root=data_root)
    scenario = bench_scenario(full, size)
    overrides = {"epochs": size.epochs, "num_workers": default_workers(device) if workers is None else workers}
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    train = TrainConfig.from_dict({**full.train_defaults, **overrides})
    settings = LoaderSettings.for_device(device)
    params = detectors.REGISTRY.params(detector, detector_params or {})
    train_images = size.epochs * sum(len(t.train) for t in scenario.tasks)
    tests = [t.test for t in scenario.tasks]
    test_images = sum(len(t) for t in tests)
    log(f"bench: {detector} on {scenario.name} ({len(scenario.tasks)} tasks × {size.epochs} epochs, "
        f"{train_images} training and {test_images} test images), {device}, {precision.name}, "
        f"batch {train.batch_size}, {size.repeats} interleaved repeats")
    rates: dict[str, list[float]] = {"suite": [], "bare": [], "suite_eval": [], "bare_eval": []}
    peaks: dict[str, float | None] = {"suite": None, "bare": None}
    busy, difference = GpuBusy(device), []
    scorers = {"suite": score_suite, "bare": score_bare}
    cpu_rates: dict[str, list[float]] = {"suite": [], "bare": []}
    for repeat in range(size.repeats):
        runs = {}
        for kind in ("suite", "bare"):
            torch.manual_seed(SEED)
            model = detectors.create(detector, **params).to(device)
            runs[kind] = (SuiteTraining(model, scenario, train, device, precision, settings) if kind == "suite"
                          else BareTraining(model, scenario, train, device, precision))
        seconds, cpu = {"suite": 0.0, "bare": 0.0}, {"suite": 0.0, "bare": 0.0}
        for index in range(len(scenario.tasks)):  # interleaved task by task, the first alternating
            for kind in (("bare", "suite") if (repeat + index) % 2 == 0 else ("suite", "bare")):
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                with busy.measuring() if kind == "suite" and repeat == 0 else contextlib.nullcontext():
                    wall, used = runs[kind].task(index)
                seconds[kind], cpu[kind] = seconds[kind] + wall, cpu[kind] + used
                if device.type == "cuda":
                    peaks[kind] = max(peaks[kind] or 0.0, torch.cuda.max_memory_allocated(device) / 2**20)
        for kind in (("bare", "suite") if repeat % 2 == 0 else ("suite", "bare")):
            model = runs[kind].model
            rates[kind].append(train_images / seconds[kind])
            cpu_rates[kind].append(train_images / cpu[kind])
            rates[f"{kind}_eval"].append(best_rate(
                test_images, lambda: scorers[kind](model, tests, train, device, precision), minimum_seconds=0.5,
                at_least=2))
        log(f"  repeat {repeat + 1}: train suite {rates['suite'][-1]:9.1f}  bare {rates['bare'][-1]:9.1f} images/s"
            f"   eval suite {rates['suite_eval'][-1]:9.1f}  bare {rates['bare_eval'][-1]:9.1f} images/s")
        difference.append(max(float((a.detach().float() - b.detach().float()).abs().max()) for a, b in
                              zip(runs["suite"].model.state_dict().values(), runs["bare"].model.state_dict().values())
                              if a.is_floating_point()))
    models = {kind: run.model for kind, run in runs.items()}
    loader = measure_loader(scenario, train, device, settings)
    result = {
        "train_ratio": paired_ratio(rates["suite"], rates["bare"]),
        "eval_ratio": paired_ratio(rates["suite_eval"], rates["bare_eval"]),
        # the same ratio in images per second of this process's CPU time: on a CPU shared with other work,
        # what the two loops cost, whatever else ran (not meaningful on CUDA, where the CPU waits)
        "train_ratio_cpu_time": paired_ratio(cpu_rates["suite"], cpu_rates["bare"]),
        "loader_images_per_s": loader["warm"],
        "train_images_per_s": {"suite": max(rates["suite"]), "bare": max(rates["bare"]),
                               "suite_all": rates["suite"], "bare_all": rates["bare"]},
        "eval_images_per_s": {"suite": max(rates["suite_eval"]), "bare": max(rates["bare_eval"]),
                              "suite_all": rates["suite_eval"], "bare_all": rates["bare_eval"]},
        "loader": loader,
        "peak_memory_mb": peaks if device.type == "cuda" else None,
        "gpu_busy_percent": busy.percent,
        "max_weight_difference": max(difference),
        "setup": {"scenario": scenario.name, "detector": detector, "detector_params": params,
                  "device": str(device), "precision": precision.name, "tasks": len(scenario.tasks),
                  "epochs": size.epochs, "batch_size": train.batch_size, "train_images": train_images,
                  "test_images": test_images, "repeats": size.repeats, "workers": train.num_workers,
                  "loader": settings.describe(train.num_workers),
                  "memory_format": precisions.memory_format(models["suite"])},
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average": list(os.getloadavg()), "torch": torch.__version__,
                    "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None},
    }
    result["seconds"] = time.perf_counter() - started
    return result


def render(result: dict[str, Any]) -> str:
    """The human-readable summary."""
    fmt = lambda value, unit="": "n/a" if value is None else f"{value:,.1f}{unit}"  # noqa: E731
    train, scored, loader = result["train_images_per_s"], result["eval_images_per_s"], result["loader"]
    setup = result["setup"]
    lines = [f"{setup['detector']} on {setup['scenario']}, {setup['device']}, {setup['precision']}, "
             f"{setup['repeats']} repeats",
             f"  training   suite {fmt(train['suite'])} images/s   bare loop {fmt(train['bare'])} images/s (best)   "
             f"ratio {result['train_ratio']:.3f} (median of paired repeats; in CPU time "
             f"{result['train_ratio_cpu_time']:.3f})",
             f"  scoring    suite {fmt(scored['suite'])} images/s   bare loop {fmt(scored['bare'])} images/s (best)   "
             f"ratio {result['eval_ratio']:.3f}",
             f"  loader ({loader['source']}, per core): warm {fmt(loader['warm'])}   cold {fmt(loader['cold'])}   "
             f"PIL {fmt(loader['pil'])} images/s"]
    if loader["cache_build_images_per_s"] is not None:
        lines.append(f"  cache build: {fmt(loader['cache_build_images_per_s'])} images/s in "
                     f"{loader['build_workers']} processes")
    peaks = result["peak_memory_mb"]
    lines.append("  peak memory: " + (f"suite {peaks['suite']:.0f} MB, bare {peaks['bare']:.0f} MB (CUDA)"
                                       if peaks else "n/a (CPU)") +
                 f"   GPU busy: {fmt(result['gpu_busy_percent'], ' %')}")
    void = result["max_weight_difference"] > 0 and setup["device"] == "cpu" and setup["precision"] == "fp32"
    lines.append(f"  same training: max |suite − bare| weight difference {result['max_weight_difference']:.3g}"
                 + (" (nonzero in CPU fp32: they did not train alike, so the ratio is void)" if void else "")
                 + f"   machine load {', '.join(f'{v:.1f}' for v in result['machine']['load_average'])} on "
                 f"{result['machine']['cpus']} CPUs, {result['seconds']:.0f} s")
    return "\n".join(lines)
