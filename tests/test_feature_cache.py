"""Cached encodings: equal to fresh ones, computed once per image for a whole multi-seed run, and training
over them is the training over images."""

import pytest
import torch
from torch.utils.data import Dataset

import strategies
from benchmark import detectors, feature_cache
from benchmark.detectors.image_encoders import FrozenImageEncoder
from benchmark.evaluation import predict
from benchmark.runner import RunRequest, run
from benchmark.stream import training_stream
from benchmark.training import TrainConfig, TrainSetup
from scenarios import Scenario, Task
from scenarios.scenario import SPLITS

CPU = torch.device("cpu")


def tiny_clip():
    return detectors.create("clip-mlp", **detectors.REGISTRY.small_params("clip-mlp"))


def test_cached_encodings_equal_freshly_computed_ones(two_task_scenario):
    encoder = tiny_clip().input_encoder()
    dataset = two_task_scenario.tasks[0].test
    cached = feature_cache.encode(encoder, dataset, CPU, batch_size=7)
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    assert torch.allclose(cached.encodings, encoder(images), atol=1e-5)
    assert cached.targets == dataset.targets
    assert torch.equal(cached[3][0], cached.encodings[3]) and cached[3][1] == dataset.targets[3]


def test_each_image_is_encoded_once_for_all_seeds_and_never_while_training(two_task_scenario, tmp_path,
                                                                           monkeypatch):
    encoded = []
    original = FrozenImageEncoder.forward
    monkeypatch.setattr(FrozenImageEncoder, "forward", lambda self, x: encoded.append(len(x)) or original(self, x))
    outcomes = run(RunRequest(scenario="tiny", strategy="naive", detector="clip-mlp", seeds=[0, 1],
                              detector_params=detectors.REGISTRY.small_params("clip-mlp"), results_dir=tmp_path),
                   scenario=two_task_scenario)
    images = sum(len(getattr(task, split)) for task in two_task_scenario.tasks for split in SPLITS)
    assert sum(encoded) == images
    assert [o.status for o in outcomes] == ["done", "done"]
    assert "encoded once" in outcomes[0].result["scenario"]["notes"][-1]
    assert outcomes[0].result["detector"]["params"]["encoder"] == "tiny-random"


def test_training_over_cached_encodings_is_training_over_images(two_task_scenario):
    """The same seed gives the same model whether the detector encodes each batch or reads the cache."""
    cached = feature_cache.encoded_scenario(two_task_scenario, tiny_clip().input_encoder(), CPU, 64)
    test_set = cached.tasks[1].test
    scores = []
    for scenario in (two_task_scenario, cached):
        torch.manual_seed(0)
        model = tiny_clip()
        strategy = strategies.create("naive", model, TrainSetup(TrainConfig(epochs=1, batch_size=16), CPU))
        for experience in training_stream(scenario):
            strategy.train(experience)
        scores.append(predict(model, test_set, CPU, batch_size=64)[0])
    assert scores[0] == pytest.approx(scores[1], abs=1e-4)
    assert scores[0].std() > 0


class RandomView(Dataset):
    """Random train-time augmentation: a new image every time an index is read."""

    targets = [0, 1, 0, 1]

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return torch.rand(3, 32, 32), self.targets[index]


def test_random_augmentation_becomes_one_fixed_view_per_image_the_same_in_every_run():
    scenario = Scenario("aug", "1", "test", [Task("t", RandomView(), RandomView(), RandomView())], "sha256:x")
    encoder = tiny_clip().input_encoder()
    first, second = (feature_cache.encoded_scenario(scenario, encoder, CPU, 2) for _ in range(2))
    assert torch.equal(first.tasks[0].train.encodings, second.tasks[0].train.encodings)
    assert not torch.equal(first.tasks[0].train.encodings[0], first.tasks[0].train.encodings[1])
    assert "one fixed view per image" in first.notes[-1]
