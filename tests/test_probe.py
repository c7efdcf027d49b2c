"""Linear probes on frozen features: they find a separation the head ignores, choose their regularisation on
the validation split only, never read the test images when the scoring pass gave the features, are
repeatable and leave the global RNG alone; the runner and ``dfcl run --probe/--no-probe`` write the block."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from benchmark import probe, readout, results
from benchmark.cli import main
from benchmark.detectors import create
from benchmark.detectors.base import Detector
from benchmark.evaluation import evaluate_row
from benchmark.runner import RunRequest, run
from scenarios import Task
from scenarios.scenario import ArrayDataset

CPU = torch.device("cpu")


class ChannelMeans(Detector):
    """Features = the mean of each colour channel; the head is zeroed (every image scores 0.5) or reads
    the planted cue backwards."""

    def __init__(self, head: str):
        super().__init__()
        self.classifier = nn.Linear(3, 2)
        with torch.no_grad():
            self.classifier.weight.zero_()
            self.classifier.bias.zero_()
            if head == "flipped":
                self.classifier.weight[1, 0] = -20.0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def planted(n_per_class: int, seed: int) -> ArrayDataset:
    """Fakes have a brighter red channel; green and blue are noise."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 200, (2 * n_per_class, 3, 4, 4), generator=generator, dtype=torch.uint8)
    labels = torch.cat([torch.zeros(n_per_class), torch.ones(n_per_class)]).long()
    images[labels == 1, 0] += 40
    return ArrayDataset(images, labels)


def planted_task(name: str, seed: int) -> Task:
    return Task(name, planted(200, seed), planted(50, seed + 1), planted(100, seed + 2))


@pytest.mark.parametrize("head, detector_auc", [("zeroed", lambda auc: auc == 0.5), ("flipped", lambda auc: auc < 0.1)])
def test_probe_recovers_a_separation_that_the_head_ignores(head, detector_auc):
    model, tasks = ChannelMeans(head), [planted_task("a", 0), planted_task("b", 10)]
    row, _, _, features = evaluate_row(model, [t.test for t in tasks], CPU, batch_size=64, features=True)
    assert all(detector_auc(auc) for auc in row["auc"])
    probed = probe.probe_row(model, tasks, CPU, batch_size=64, seed=0, test_features=features)
    assert min(probed["auc"]) > 0.95 and min(probed["acc"]) > 0.85
    assert probe.probe_row(model, tasks, CPU, batch_size=64, seed=0)["auc"] == probed["auc"]  # same test features


class Untouchable(ArrayDataset):
    """A test split whose labels may be read but whose images must not be: the features come from scoring."""

    def __getitem__(self, index):
        raise AssertionError("the probe read a test image although the scoring pass gave its features")


def test_test_images_are_never_read_and_test_labels_never_choose_the_regularisation():
    model, task = ChannelMeans("zeroed"), planted_task("a", 0)
    _, _, _, features = evaluate_row(model, [task.test], CPU, batch_size=64, features=True)
    hidden = Task("a", task.train, task.val, Untouchable(task.test.images, task.test.labels))
    first = probe.probe_row(model, [hidden], CPU, batch_size=64, seed=0, test_features=features)
    shuffled = Untouchable(task.test.images, task.test.labels[torch.randperm(len(task.test.labels),
                                                                             generator=torch.Generator().manual_seed(0))])
    second = probe.probe_row(model, [Task("a", task.train, task.val, shuffled)], CPU, batch_size=64, seed=0,
                             test_features=features)
    assert second["C"] == first["C"] and second["auc"] != first["auc"]


def correlated(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two correlated features whose class means differ in the first only: the mean-difference direction
    (1, 0), which strong regularisation follows, and the discriminant Σ⁻¹Δμ ∝ (1, −0.9), which weak
    regularisation approaches, separate different labellings best."""
    y = np.repeat([0, 1], n // 2)
    x = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=n) + np.c_[y, np.zeros(n)]
    return x, y


def test_the_regularisation_is_chosen_on_the_validation_split():
    rng = np.random.default_rng(0)
    train_x, train_y = correlated(400, rng)
    val_x = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=400)
    by_mean_difference = (val_x @ [1.0, 0.0] > 0).astype(int)
    by_discriminant = (val_x @ [1.0, -0.9] > 0).astype(int)
    *_, c_mean = probe.fit(train_x, train_y, val_x, by_mean_difference)
    *_, c_discriminant = probe.fit(train_x, train_y, val_x, by_discriminant)
    assert c_mean == probe.C_GRID[0] and c_discriminant > c_mean


def test_subsample_is_class_balanced_seeded_and_capped():
    labels = np.r_[np.zeros(300, int), np.ones(120, int)]
    picked = probe.balanced_subsample(labels, 100, seed=0, task=1)
    assert np.bincount(labels[picked]).tolist() == [100, 100] and np.all(np.diff(picked) > 0)
    assert np.array_equal(picked, probe.balanced_subsample(labels, 100, seed=0, task=1))
    assert not np.array_equal(picked, probe.balanced_subsample(labels, 100, seed=1, task=1))
    assert np.bincount(labels[probe.balanced_subsample(labels, 200, seed=0, task=1)]).tolist() == [200, 120]


def test_probing_is_repeatable_restores_train_mode_and_leaves_the_global_rng_alone(two_task_scenario):
    """Like scoring, probing between tasks must not shift the next task's training batches."""
    torch.manual_seed(0)
    model = create("smallcnn").train()
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    first = probe.probe_row(model, two_task_scenario.tasks, CPU, batch_size=16, seed=3)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state))
    assert model.training
    second = probe.probe_row(model, two_task_scenario.tasks, CPU, batch_size=16, seed=3)
    assert first["auc"] == second["auc"] and first["acc"] == second["acc"] and first["C"] == second["C"]
    assert first["settings"]["train_sizes"] == [min(24, probe.TRAIN_PER_CLASS) * 2] * 2


def test_runner_writes_a_checked_probe_block_and_no_probe_leaves_it_out(two_task_scenario, tmp_path):
    outcome, = run(RunRequest(scenario="tiny", strategy="naive", results_dir=tmp_path / "on"), scenario=two_task_scenario)
    block = results.load(outcome.path)["probe"]
    assert np.array(block["matrices"]["auc"]).shape == (2, 2) and len(block["initial"]["acc"]) == 2
    assert block["summary"]["auc"] == readout.summarise(block["matrices"]["auc"], block["initial"]["auc"],
                                                        outcome.result["matrices"]["auc"])
    assert block["settings"]["seed"] == 0 and set(block["settings"]["C_grid"]) >= set(np.ravel(block["chosen_C"]["matrix"]))
    off, = run(RunRequest(scenario="tiny", strategy="naive", results_dir=tmp_path / "off", probe=False),
               scenario=two_task_scenario)
    assert "probe" not in json.loads(off.path.read_text())
    assert off.result["matrices"] == outcome.result["matrices"]  # probing changed nothing the detector learnt


def test_cli_probes_by_default_and_not_with_no_probe(two_task_yaml, tmp_path):
    command = ["-q", "run", "--scenario", str(two_task_yaml), "--strategy", "naive", "--no-scores"]
    assert main([*command, "--results-dir", str(tmp_path / "on")]) == 0
    assert main([*command, "--results-dir", str(tmp_path / "off"), "--no-probe"]) == 0
    on, off = (json.loads(next((tmp_path / arm).rglob("seed0.json")).read_text()) for arm in ("on", "off"))
    assert "probe" in on and "probe" not in off


def test_x_transfers_pair_is_probed_on_both_networks_features(two_task_scenario, tmp_path):
    """A model without features() cannot be probed; X-Transfer's two networks expose theirs side by side."""
    assert not probe.supported(nn.Linear(2, 2)) and probe.supported(create("smallcnn"))
    outcome, = run(RunRequest(scenario="tiny", strategy="xtransfer", results_dir=tmp_path), scenario=two_task_scenario)
    assert len(outcome.result["probe"]["matrices"]["auc"]) == 2
