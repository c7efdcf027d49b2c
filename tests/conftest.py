"""Shared fixtures: an isolated data cache, a tiny two-task scenario, and hand-written result files."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmark import metrics, results

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TINY_PARAMS = {"n_train": 24, "n_val": 4, "n_test": 24, "data_seed": 0}


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need CUDA: skipped, with the reason shown, on machines without it (CI)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tests train tiny models on batches that gain nothing from a second thread; on a busy 2-core machine
    OpenMP threads waiting for each other multiplied the pair test's time by eight."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Synthetic data built by tests goes to a temporary cache, not the user's."""
    patcher = pytest.MonkeyPatch()
    patcher.setenv("DFCL_CACHE", str(tmp_path_factory.mktemp("dfcl-cache")))
    yield
    patcher.undo()


@pytest.fixture(scope="session")
def two_task_yaml(tmp_path_factory) -> Path:
    """A two-task synthetic scenario small enough to train in about a second."""
    path = tmp_path_factory.mktemp("scenario") / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "name": "tiny", "version": "1", "source": "synthetic", "tasks": ["gan_tconv", "faceswap"],
        "params": TINY_PARAMS, "train": {"epochs": 1, "batch_size": 16, "lr": 0.002}}))
    return path


@pytest.fixture(scope="session")
def two_task_scenario(two_task_yaml):
    import scenarios
    return scenarios.load(two_task_yaml)


@pytest.fixture(scope="session")
def three_task_scenario(tmp_path_factory):
    """Three tiny tasks: enough for a resume in the middle of a run and for memories of several tasks."""
    import scenarios

    return scenarios.load(three_task_yaml(tmp_path_factory.mktemp("scenario"), n_train=24, n_val=4, n_test=8,
                                          epochs=2, batch_size=16))


def three_task_yaml(folder: Path, *, n_train: int, n_test: int, epochs: int, batch_size: int, n_val: int = 8) -> Path:
    """A three-task synthetic scenario file (gan_tconv → faceswap → vae) of the given size."""
    path = folder / "three.yaml"
    path.write_text(yaml.safe_dump({
        "name": "three", "version": "1", "source": "synthetic", "tasks": ["gan_tconv", "faceswap", "vae"],
        "params": {"n_train": n_train, "n_val": n_val, "n_test": n_test, "data_seed": 0},
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": 0.002}}))
    return path


def write_images(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> list[Path]:
    """PNG files of random pixels, one per (height, width), in ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index, (height, width) in enumerate(sizes):
        path = folder / f"{index:03d}.png"
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def two_family_folder(root: Path, *, per_class: int, size: int, params: dict | None = None,
                      train: dict | None = None) -> Path:
    """A folder scenario 'disk' of two families (famA, famB) with ``per_class`` random images per class under
    ``root``/data (pass ``root`` as the data root); returns its YAML."""
    for family in ("famA", "famB"):
        for label, cls in enumerate(("0_real", "1_fake")):
            write_images(root / "data" / family / cls, [(size, size)] * per_class, seed=label + 2 * len(family))
    path = root / "disk.yaml"
    path.write_text(yaml.safe_dump({"name": "disk", "version": "1", "source": "folder", "tasks": ["famA", "famB"],
                                    "params": {"dataset": "data", **(params or {})}, "train": train or {}}))
    return path


def make_result(auc: list[list[float]], *, scenario="demo", strategy="naive", detector="smallcnn", seed=0,
                tasks=None, initial_auc=None, config_hash="sha256:demo", fingerprint="sha256:data",
                wall_seconds=10.0, device="cpu:x86_64", matrices=None, initial=None) -> dict:
    """A schema-valid result whose summaries follow from the given AUC matrix (acc = AUC, for brevity, unless
    ``matrices`` / ``initial`` give every metric) and whose config hash follows from its config (which
    ``config_hash`` only labels, so that two labels give two configurations)."""
    t = len(auc)
    tasks = tasks or [f"task{j}" for j in range(t)]
    initial_auc = initial_auc or [0.5] * t
    matrices = matrices or {name: [list(map(float, row)) for row in auc] for name in metrics.SCORE_METRICS}
    initial = initial or {name: list(map(float, initial_auc)) for name in metrics.SCORE_METRICS}
    summary = {name: metrics.summarise(np.array(matrices[name]), np.array(initial[name]))
               for name in metrics.SUMMARISED_METRICS}
    parts = {"scenario": {"name": scenario, "version": "1", "tasks": tasks, "fingerprint": fingerprint},
             "strategy": {"name": strategy.split("+")[0], "label": strategy, "params": {}},
             "detector": {"name": detector, "params": {}}}
    config = {"scenario": {**parts["scenario"], "params": {}}, "strategy": dict(parts["strategy"]),
              "detector": dict(parts["detector"]), "train": {"label": config_hash}}
    return {
        "schema_version": results.SCHEMA_VERSION, **parts,
        "seed": seed, "matrices": matrices, "initial": initial, "summary": summary, "config": config,
        "training": {"loss": [0.5] * t, "loss_per_epoch": [[0.5]] * t}, "warnings": [],
        "provenance": {"dfcl_version": "0", "git_commit": None, "config_hash": results.config_hash(config),
                       "data_fingerprint": fingerprint, "torch": "0", "device": device,
                       "wall_seconds": wall_seconds, "peak_memory_mb": 1.0,
                       "started_at": "2026-01-01T00:00:00+00:00",
                       "packages": {"strategy": {"package": "dfcl-bench", "version": "0"},
                                    "detector": {"package": "dfcl-bench", "version": "0"}, "plugins": {}},
                       "resources": {"memory": None, "pretraining": None, "extra_data": None}},
    }


def write_result(results_dir: Path, result: dict) -> Path:
    path = results.result_path(results_dir, result["scenario"]["name"], result["strategy"]["label"],
                               result["detector"]["name"], result["seed"])
    results.write(path, result)
    return path


def import_unregistered(folder: Path, module: str):
    """A plugin's module imported from ``folder`` without installing it: its ``@register`` goes to a throw-away
    registry (the real one, which the registry-wide tests walk, never holds it), and it leaves sys.modules."""
    import strategies
    from benchmark.registry import Registry

    patch = pytest.MonkeyPatch()
    patch.setattr(strategies, "register", Registry("strategy", facts=("memory", "extra_data")).register)
    patch.syspath_prepend(str(folder))
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    finally:
        patch.undo()
        for name in [m for m in sys.modules if m.split(".")[0] == top]:
            del sys.modules[name]


@pytest.fixture
def contract_registries(monkeypatch):
    """``install({name: factory}, detectors)``: registries of the test's own in place of the real ones, with the
    built-in ``naive``, the given strategies, ``smallcnn`` and the given built-in detectors, so that
    ``validate`` checks a strategy against a few partners only, and the real registries never see it."""
    import strategies
    from benchmark import detectors
    from benchmark.registry import Registry

    real_strategies, real_detectors = strategies.REGISTRY, detectors.REGISTRY

    def install(factories: dict, partners: list[str] = ()):
        fresh = Registry("strategy", facts=("memory", "extra_data"))
        fresh.register("naive")(real_strategies.get("naive"))
        for name, factory in factories.items():
            fresh.register(name)(factory)
        found = Registry("detector", facts=("pretraining", "extra_data"))
        for detector in ["smallcnn", *partners]:
            found.register(detector, small=real_detectors.small_params(detector))(real_detectors.get(detector))
        monkeypatch.setattr(strategies, "REGISTRY", fresh)
        monkeypatch.setattr(detectors, "REGISTRY", found)
    return install
